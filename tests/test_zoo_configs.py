"""MMAction2's Kinetics-400 zoo models as backbones (configs/zoo/): each
config is its zoo model with the prototype head, loads a state dict in the
zoo recognizer's layout with only head tensors missing, and trains one step
and projects its prototypes on tiny toy clips."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.hub import get_config
from mmengine.registry import RUNNERS

from conftest import REPO_ROOT, logged_key_mismatch
from mmaction.registry import MODELS

CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'zoo', '*.py')))
FAMILIES = ('i3d', 'slowonly', 'x3d', 'r2plus1d', 'swin')


def test_five_families():
    names = [osp.basename(config) for config in CONFIGS]
    assert all(any(family in name for name in names) for family in FAMILIES)


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_zoo_config_is_the_zoo_model_with_the_prototype_head(config):
    """Backbone and data preprocessor are those of the zoo recognizer
    config (up to the ImageNet initialisation that load_from overwrites);
    load_from is that config's Kinetics-400 checkpoint."""
    cfg = Config.fromfile(config)
    # the zoo config, and its checkpoint from its folder's metafile.yml
    zoo = get_config(cfg.zoo_config, pretrained=True)
    assert 'kinetics400' in cfg.zoo_config
    assert cfg.load_from == zoo.model_path
    assert cfg.model.type == zoo.model.type == 'Recognizer3D'
    assert cfg.model.data_preprocessor == zoo.model.data_preprocessor
    ours = dict(cfg.model.backbone)
    theirs = dict(zoo.model.backbone)
    assert ours.pop('pretrained', None) is None
    assert not ours.pop('pretrained2d', False)
    theirs.pop('pretrained', None)
    theirs.pop('pretrained2d', None)
    assert ours == theirs
    assert cfg.model.cls_head.type == 'HierarchicalProtoHead'
    assert cfg.model.cls_head.num_prototypes_per_ancestor == 10


def tiny_config(config, toy, zoo_checkpoint, work_dir):
    """``config`` on two toy clips of 8x32x32 px and a small prototype
    head; one epoch of one step (the schedule's warm-up: the backbone is
    frozen), then a projection and one last-layer step; no validation, no
    checkpoint."""
    with open(toy.train_list) as f:
        lines = f.readlines()
    train_list = osp.join(work_dir, 'train_list.txt')
    with open(train_list, 'w') as f:
        f.writelines([lines[0], lines[-1]])
    cfg = Config.fromfile(config)
    pipeline = [
        dict(type='DecordInit'),
        dict(
            type='SampleFrames',
            clip_len=8,
            frame_interval=1,
            num_clips=1,
            test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, 32)),
        dict(type='CenterCrop', crop_size=32),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs', meta_keys=cfg.meta_keys)
    ]
    data = dict(
        _delete_=True,
        type='CheckedVideoDataset',
        num_classes=12,
        ann_file=train_list,
        pipeline=pipeline,
        data_prefix=dict(video=toy.video_root))
    cfg.merge_from_dict({
        'work_dir':
        work_dir,
        'load_from':
        zoo_checkpoint,
        'train_dataloader.dataset':
        data,
        'train_dataloader.batch_size':
        2,
        'train_dataloader.num_workers':
        0,
        'train_dataloader.persistent_workers':
        False,
        'projection_dataloader.dataset':
        data,
        'projection_dataloader.num_workers':
        0,
        'val_cfg':
        None,
        'val_dataloader':
        None,
        'val_evaluator':
        None,
        'model.cls_head.num_classes':
        12,
        'model.cls_head.hierarchy_file':
        toy.hierarchy,
        'model.cls_head.label_map_file':
        toy.label_map,
        'model.cls_head.embedding_file':
        osp.join(toy.root, 'embedding_d32.pth'),
        'model.cls_head.proto_channels':
        16,
        'model.cls_head.num_prototypes_per_class':
        2,
        'model.cls_head.num_prototypes_per_ancestor':
        2,
        'train_cfg.max_epochs':
        1,
        'default_hooks.checkpoint':
        dict(interval=100, save_last=False),
        'default_hooks.logger.interval':
        1,
        'custom_hooks.2.last_layer':
        dict(_delete_=True, iters=1),
        'custom_hooks.2.save_checkpoints':
        False,
        'custom_hooks.2.progress':
        False,
    })
    return cfg


class BackboneSnapshot(Hook):
    """The backbone's tensors after load_from, before the first step."""

    def before_train(self, runner):
        self.state = {
            k: v.clone()
            for k, v in runner.model.backbone.state_dict().items()
        }


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_zoo_config_loads_zoo_weights_trains_and_projects(
        config, toy_data, tmp_path):
    """A state dict in the zoo recognizer's layout (the zoo config's own
    model, random weights) is the Runner's load_from: only the head's
    tensors are missing or unexpected, every backbone tensor is loaded;
    then one training step on tiny clips and a prototype projection."""
    zoo = get_config(Config.fromfile(config).zoo_config)
    torch.manual_seed(0)
    zoo_model = MODELS.build(zoo.model)
    zoo_state = {k: v.clone() for k, v in zoo_model.state_dict().items()}
    zoo_checkpoint = str(tmp_path / 'zoo.pth')
    torch.save({'state_dict': zoo_state}, zoo_checkpoint)
    del zoo_model

    cfg = tiny_config(config, toy_data, zoo_checkpoint, str(tmp_path))
    runner = RUNNERS.build(cfg)
    snapshot = BackboneSnapshot()
    runner.register_hook(snapshot, priority='HIGHEST')
    runner.train()
    loaded = snapshot.state

    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    assert f'Load checkpoint from {zoo_checkpoint}' in log
    missing, unexpected, size_mismatch = logged_key_mismatch(log)
    assert missing and all(k.startswith('cls_head.') for k in missing)
    assert all(k.startswith('cls_head.') for k in unexpected)
    assert not size_mismatch
    assert set(loaded) == {
        k[len('backbone.'):]
        for k in zoo_state if k.startswith('backbone.')
    }
    for name, value in loaded.items():
        assert torch.equal(value, zoo_state[f'backbone.{name}']), name

    assert 'Epoch(train) [1][1/1]' in log
    head = runner.model.cls_head
    sources = head.prototype_sources
    assert sources is not None and sources.epoch == 1
    found = [r for r in sources.prototypes if r is not None]
    assert found and all(
        r.filename.startswith(toy_data.video_root) for r in found)
