import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import hprotopnet_mm  # noqa: E402,F401  (compat shim before mmaction.models)


@pytest.fixture(scope='session', autouse=True)
def _mmaction_scope():
    from mmaction.utils import register_all_modules
    register_all_modules(init_default_scope=True)


@pytest.fixture(scope='session')
def toy_data(tmp_path_factory):
    """A small toy dataset (12 leaves, 2 train + 1 val + 1 test clip each) on
    disk, with a 32-d embedding of its hierarchy at
    ``<root>/embedding_d32.pth`` (the toy configs' layout)."""
    from hprotopnet_mm.datasets import make_toy_dataset
    from hprotopnet_mm.hierarchy import (ClassHierarchy, embed_hierarchy,
                                         save_embedding)
    out = tmp_path_factory.mktemp('toy')
    files = make_toy_dataset(
        str(out),
        seed=0,
        train_per_class=2,
        val_per_class=1,
        test_per_class=1,
        ambiguous_per_pair=1)
    hierarchy = ClassHierarchy.from_files(files.hierarchy, files.label_map)
    save_embedding(
        osp.join(files.root, 'embedding_d32.pth'),
        embed_hierarchy(hierarchy, dim=32, epochs=100))
    return files


@pytest.fixture(scope='session')
def toy_embedding_d4(toy_data):
    """A 4-d embedding (curvature 1, 30 epochs) of the toy hierarchy, quick
    to train: the class embeddings of the tiny test networks."""
    from hprotopnet_mm.hierarchy import (ClassHierarchy, HyperbolicEmbedding,
                                         save_embedding,
                                         train_hyperbolic_embedding)
    hierarchy = ClassHierarchy.from_files(toy_data.hierarchy,
                                          toy_data.label_map)
    points = train_hyperbolic_embedding(
        hierarchy, dim=4, curvature=1.0, epochs=30)
    path = osp.join(toy_data.root, 'embedding_d4.pth')
    save_embedding(path,
                   HyperbolicEmbedding.from_hierarchy(hierarchy, points, 1.0))
    return path


def retarget_toy_config(config, toy, out_dir, max_epochs=1, workers=0):
    """Write a copy of a toy config that reads the dataset ``toy`` instead of
    ``data/toy`` and runs ``max_epochs`` epochs with ``workers`` loader
    workers; returns its path."""
    from mmengine.config import Config

    def retarget(node):
        if isinstance(node, str) and node.startswith('data/toy'):
            return toy.root + node[len('data/toy'):]
        if isinstance(node, dict):
            return {k: retarget(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(retarget(v) for v in node)
        return node

    cfg = Config.fromfile(config)
    cfg = Config(retarget(cfg.to_dict()))
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.logger.interval = 1
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'projection_dataloader'):
        if cfg.get(key) is not None:
            cfg[key].num_workers = workers
            cfg[key].persistent_workers = workers > 0
    out = osp.join(str(out_dir), osp.basename(config))
    cfg.dump(out)
    return out


def tiny_model_options(toy, embedding_file):
    """Config overrides: a tiny CPG network on the toy dataset ``toy``."""
    return {
        'model.backbone.base_channels': 8,
        'model.cls_head.in_channels': 32,
        'model.cls_head.proto_channels': 16,
        'model.cls_head.num_prototypes_per_class': 2,
        'model.cls_head.num_prototypes_per_ancestor': 2,
        'model.cls_head.hierarchy_file': toy.hierarchy,
        'model.cls_head.label_map_file': toy.label_map,
        'model.cls_head.embedding_file': embedding_file,
    }


def tiny_toy_config(toy, embedding_file, work_dir, **options):
    """The main toy config (CPG) on the test dataset ``toy`` with a tiny
    network, batches of 8 clips, no validation, logs every iteration, and
    ``options`` merged last."""
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py'))
    data = dict(
        ann_file=toy.train_list, data_prefix=dict(video=toy.video_root))
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'train_dataloader.dataset': data,
        'train_dataloader.batch_size': 8,
        'train_dataloader.num_workers': 0,
        'projection_dataloader.dataset': data,
        'projection_dataloader.num_workers': 0,
        **tiny_model_options(toy, embedding_file), 'val_cfg': None,
        'val_dataloader': None,
        'val_evaluator': None,
        'default_hooks.logger.interval': 1,
        **options
    })
    return cfg


def stoppable_config(config, out_dir):
    """Write a copy of ``config`` that loads ``tests/stop_at_log_line.py``
    (see :func:`train_until`); returns its path."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.custom_imports.imports = list(
        cfg.custom_imports.imports) + ['stop_at_log_line']
    cfg.custom_hooks = list(cfg.get('custom_hooks',
                                    [])) + [dict(type='StopAtLogLineHook')]
    out = osp.join(str(out_dir), 'stoppable_' + osp.basename(config))
    cfg.dump(out)
    return out


def start_train(*args, env=None):
    """Start ``tools/train.py ARGS`` in a subprocess, stdout and stderr on
    one unbuffered pipe, the test helpers importable. One thread: runs stay
    fast on a loaded machine; bit-identical results across processes rely
    on hprotopnet_mm/compat/torchscript_determinism.py."""
    import os
    import subprocess
    import sys
    return subprocess.Popen(
        [sys.executable,
         osp.join(REPO_ROOT, 'tools', 'train.py'), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
        env=dict(
            os.environ,
            PYTHONUNBUFFERED='1',
            OMP_NUM_THREADS='1',
            PYTHONPATH=os.pathsep.join([
                osp.join(REPO_ROOT, 'tests'),
                os.environ.get('PYTHONPATH', '')
            ]).rstrip(os.pathsep),
            **(env or {})))


def train_until(config, work_dir, options, *extra, kill_at=None, code=0):
    """Run ``tools/train.py CONFIG --work-dir WORK_DIR --no-validate EXTRA
    --cfg-options OPTIONS`` and return its log.

    With ``kill_at`` (``config`` made by :func:`stoppable_config`), the run
    stops itself when it logs a line containing that text and is killed
    there (SIGKILL): the kill point does not depend on timing. Otherwise
    the run must end with exit code ``code``.
    """
    from stop_at_log_line import STOP_AT
    options = ['--cfg-options', *options] if options else []
    proc = start_train(
        config,
        '--work-dir',
        work_dir,
        '--no-validate',
        *extra,
        *options,
        env={STOP_AT: kill_at} if kill_at else None)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if kill_at is not None and kill_at in line:
            proc.kill()
            break
    proc.stdout.close()
    returncode = proc.wait(timeout=600)
    log = ''.join(lines)
    if kill_at is None:
        assert returncode == code, log[-5000:]
    else:
        assert returncode == -9, f'not killed at "{kill_at}":\n' + log[-5000:]
    return log


def logged_key_mismatch(log):
    """Missing and unexpected names, and size mismatches, that MMEngine
    logged when loading a checkpoint into the model."""
    import re

    def names(pattern):
        found = re.search(pattern + r': (.*)', log)
        return found.group(1).strip().split(', ') if found else []

    return (names('missing keys in source state_dict'),
            names('unexpected key in source state_dict'),
            re.findall(r'size mismatch for (\S+)', log))


def decode_clip(data, path):
    """Write a report clip's bytes to ``path`` and decode every frame with
    decord: (T, H, W, 3) uint8."""
    from hprotopnet_mm.datasets import read_video
    with open(path, 'wb') as f:
        f.write(data)
    return read_video(str(path))
