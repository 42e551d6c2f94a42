"""Weights from elsewhere through a real Runner built from the main toy
config: a file whose unpickling would run code is refused (and the code does
not run); the project's own checkpoints load weights-only."""
import os
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT, retarget_toy_config
from hprotopnet_mm.engine.checkpoint_trust import UntrustedCheckpointError

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')


class _RunsCode:
    """Unpickling this object creates a directory: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.makedirs, (self.path, )


@pytest.fixture
def evil(tmp_path):
    """A checkpoint with plain weights and an object that runs code when
    unpickled; returns its path and the directory the code would make."""
    marker = str(tmp_path / 'code_ran')
    path = str(tmp_path / 'evil.pth')
    torch.save(
        {
            'state_dict': {
                'conv1.conv.weight': torch.ones(1)
            },
            'payload': _RunsCode(marker)
        }, path)
    return path, marker


@pytest.fixture(scope='module')
def config(toy_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp('untrusted')
    path = retarget_toy_config(CONFIG, toy_data, folder, max_epochs=1)
    cfg = Config.fromfile(path)
    cfg.model.backbone.base_channels = 8
    cfg.model.cls_head.update(in_channels=32, proto_channels=16)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.dump(path)
    return path


def build_runner(config, work_dir, **changes):
    """The config's Runner (HProtoRunner) with ``changes`` applied, e.g.
    ``{'load_from': ..., 'model.backbone.pretrained': ...}``."""
    from mmengine.registry import RUNNERS
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(changes)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = '_'.join(str(work_dir).split(os.sep)[-2:])
    return RUNNERS.build(cfg)


def test_load_from_refuses_pickled_code_and_names_the_file(
        config, evil, tmp_path):
    path, marker = evil
    runner = build_runner(config, tmp_path / 'work', load_from=path)
    assert type(runner).__name__ == 'HProtoRunner'
    with pytest.raises(
            UntrustedCheckpointError,
            match=rf'refused to load {path}: it contains '
            'pickled Python objects'):
        runner.train()
    assert not osp.exists(marker)
    assert not osp.exists(str(tmp_path / 'work' / 'epoch_1.pth'))


PRETRAINED = {
    # ResNet3d loads pretrained weights through its own argument
    'backbone': {
        'model.backbone.pretrained': None
    },
    # the prototype head honours OpenMMLab's init_cfg
    'head': {
        'model.cls_head.init_cfg': dict(type='Pretrained', checkpoint=None)
    },
}


def pretrained_changes(where, path):
    key, value = next(iter(PRETRAINED[where].items()))
    return {key: path if value is None else dict(value, checkpoint=path)}


@pytest.mark.parametrize('where', sorted(PRETRAINED))
def test_pretrained_weights_with_pickled_code_are_refused(
        config, evil, tmp_path, where):
    path, marker = evil
    runner = build_runner(config, tmp_path / 'work',
                          **pretrained_changes(where, path))
    with pytest.raises((UntrustedCheckpointError, pickle.UnpicklingError)):
        runner.train()
    assert not osp.exists(marker)


@pytest.mark.parametrize('where', sorted(PRETRAINED))
def test_pretrained_refusal_names_the_file(config, evil, tmp_path, where):
    path, marker = evil
    runner = build_runner(config, tmp_path / 'work',
                          **pretrained_changes(where, path))
    with pytest.raises(
            UntrustedCheckpointError, match=f'refused to load '
            f'{path}'):
        runner.train()


@pytest.fixture(scope='module')
def own_checkpoint(config, tmp_path_factory):
    """A checkpoint written by the project's Runner, with a recognisable
    backbone and head."""
    work_dir = tmp_path_factory.mktemp('own')
    runner = build_runner(config, work_dir)
    model = runner.model
    with torch.no_grad():
        model.backbone.conv1.conv.weight.fill_(0.25)
        model.cls_head.prototype_layer.prototype_vectors.fill_(0.5)
    runner.save_checkpoint(
        str(work_dir),
        'own.pth',
        save_optimizer=False,
        save_param_scheduler=False)
    path = str(work_dir / 'own.pth')
    checkpoint = torch.load(path, weights_only=True)
    assert 'message_hub' in checkpoint
    return path


def test_own_checkpoint_loads_as_load_from(config, own_checkpoint, tmp_path):
    runner = build_runner(config, tmp_path / 'work', load_from=own_checkpoint)
    runner.load_or_resume()
    assert (runner.model.backbone.conv1.conv.weight == 0.25).all()
    assert (runner.model.cls_head.prototype_vectors == 0.5).all()


def test_own_checkpoint_loads_as_pretrained_head(config, own_checkpoint,
                                                 tmp_path):
    runner = build_runner(
        config, tmp_path / 'work', **{
            'model.cls_head.init_cfg':
            dict(
                type='Pretrained',
                checkpoint=own_checkpoint,
                prefix='cls_head.')
        })
    runner.model.init_weights()
    assert (runner.model.cls_head.prototype_vectors == 0.5).all()
    assert not (runner.model.backbone.conv1.conv.weight == 0.25).all()


def test_own_checkpoint_loads_as_pretrained_backbone(config, own_checkpoint,
                                                     tmp_path):
    runner = build_runner(
        config, tmp_path / 'work', **{
            'model.backbone.init_cfg':
            dict(
                type='Pretrained',
                checkpoint=own_checkpoint,
                prefix='backbone.')
        })
    runner.model.init_weights()
    assert (runner.model.backbone.conv1.conv.weight == 0.25).all()
    assert not (runner.model.cls_head.prototype_vectors == 0.5).all()
