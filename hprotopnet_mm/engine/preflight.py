"""Check, before anything is built, that the files a config names exist.

A missing annotation list, video folder, hierarchy, label map, embedding
file or ``load_from`` checkpoint otherwise surfaces as a stack trace from
deep inside a dataset, head or checkpoint loader. :func:`check_config_paths`
names the config, the key and the missing path instead.
"""
import os.path as osp

_SPLITS = {
    'train': ('train_dataloader', 'val_dataloader'),
    'test': ('test_dataloader', ),
}
_FILE_KEYS = ('hierarchy_file', 'label_map_file', 'embedding_file')


def _dataset_paths(dataset, key):
    """Yield (config key, path, is_dir) for one dataset config."""
    if dataset is None:
        return
    if 'dataset' in dataset and 'ann_file' not in dataset:  # wrappers
        yield from _dataset_paths(dataset['dataset'], key + '.dataset')
        return
    if dataset.get('ann_file'):
        yield f'{key}.ann_file', dataset['ann_file'], False
    prefix = dataset.get('data_prefix') or {}
    for name, path in (prefix.items() if isinstance(prefix, dict) else []):
        if path:
            yield f'{key}.data_prefix.{name}', path, True


def _model_paths(node, key):
    """Yield (config key, path, False) for hierarchy files in the model."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name in _FILE_KEYS and isinstance(value, str):
                yield f'{key}.{name}', value, False
            else:
                yield from _model_paths(value, f'{key}.{name}')


def missing_config_paths(cfg, mode='train'):
    """List ``(config key, path)`` of every named file or folder missing."""
    if mode not in _SPLITS:
        raise ValueError(f'mode must be one of {list(_SPLITS)}, got {mode}')
    entries = list(_model_paths(cfg.get('model', {}), 'model'))
    load_from = cfg.get('load_from')
    if mode == 'train' and isinstance(load_from, str) and \
            '://' not in load_from:
        entries.append(('load_from', load_from, False))
    for loader in _SPLITS[mode]:
        loader_cfg = cfg.get(loader) or {}
        entries += _dataset_paths(
            loader_cfg.get('dataset'), loader + '.dataset')
    missing = []
    for key, path, is_dir in entries:
        exists = osp.isdir(path) if is_dir else osp.isfile(path)
        if not exists:
            missing.append((key, path))
    return missing


class MissingPathError(FileNotFoundError):
    """A file or folder named in a config does not exist."""


def check_config_paths(cfg, config_file, mode='train'):
    """Raise :class:`MissingPathError` naming every missing path."""
    missing = missing_config_paths(cfg, mode)
    if missing:
        lines = '\n'.join(f'  {key} = {path}' for key, path in missing)
        raise MissingPathError(
            f'{config_file}: {len(missing)} path(s) named in the config do '
            f'not exist:\n{lines}\nPrepare the dataset (see README.md) or '
            'override the paths with --cfg-options.')
