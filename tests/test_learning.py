"""A fast learning check: the toy 3D-ResNet recipe learns the motion that
tells two sibling leaves apart (chance 0.5) on a tiny toy set, through
tools/train.py and tools/test.py. Its head pools by the maximum
(MaxPoolI3DHead); the README's toy section says why averaging fails."""
import json
import os.path as osp
import subprocess
import sys

import torch
from torch import nn

from conftest import REPO_ROOT, retarget_toy_config
from hprotopnet_mm.models.heads import MaxPoolI3DHead
from mmaction.registry import MODELS


def test_max_pool_head_pools_the_maximum():
    head = MODELS.build(
        dict(
            type='MaxPoolI3DHead',
            num_classes=3,
            in_channels=4,
            dropout_ratio=0.0))
    assert isinstance(head, MaxPoolI3DHead)
    x = torch.randn(2, 4, 3, 5, 5)
    pooled = x.flatten(2).amax(dim=2)
    torch.testing.assert_close(head(x), head.fc_cls(pooled))
    # one strong cell decides, however many weak cells surround it
    x = torch.zeros(1, 4, 8, 4, 4)
    x[0, 1, 3, 2, 2] = 5.0
    torch.testing.assert_close(
        head(x), head.fc_cls(torch.tensor([[0.0, 5.0, 0.0, 0.0]])))
    assert isinstance(head.avg_pool, nn.AdaptiveMaxPool3d)
    try:
        MaxPoolI3DHead(num_classes=3, in_channels=4, spatial_type='avg')
    except ValueError as error:
        assert 'spatial_type must be "max"' in str(error)
    else:
        raise AssertionError('spatial_type="avg" was accepted')


def test_tiny_baseline_learns_the_motion_of_two_siblings(tmp_path):
    from hprotopnet_mm.datasets import make_toy_dataset

    # one scene, one object (the red square), two motions: the leaf is
    # only in the motion (slides left-right vs up-down)
    toy = make_toy_dataset(
        str(tmp_path / 'toy'),
        seed=0,
        train_per_class=24,
        val_per_class=1,
        test_per_class=8,
        num_grandparents=1,
        num_parents=1,
        num_leaves=2,
        ambiguous_per_pair=0)
    config = retarget_toy_config(
        osp.join(REPO_ROOT, 'configs', 'toy', 'i3d_r3d18_toy.py'),
        toy,
        tmp_path,
        max_epochs=20)
    options = [
        'model.backbone.base_channels=8', 'model.cls_head.in_channels=32',
        'model.cls_head.num_classes=2',
        'train_dataloader.dataset.num_classes=2',
        'test_dataloader.dataset.num_classes=2',
        'val_dataloader.dataset.num_classes=2', 'train_cfg.val_interval=100',
        'param_scheduler.0.T_max=20', 'default_hooks.logger.interval=10',
        'model.cls_head.topk=(1,2)', 'val_evaluator.topk=(1,2)',
        'test_evaluator.topk=(1,2)', 'val_evaluator.hop_map_k=(1,2)',
        'test_evaluator.hop_map_k=(1,2)'
    ]
    env = dict(__import__('os').environ, OMP_NUM_THREADS='1')
    work = str(tmp_path / 'work')
    train = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir', work,
        '--cfg-options', *options
    ],
                           capture_output=True,
                           text=True,
                           cwd=REPO_ROOT,
                           env=env)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-3000:]
    test = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'test.py'), config,
        osp.join(work, 'epoch_20.pth'), '--work-dir', work, '--cfg-options',
        *options
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO_ROOT,
                          env=env)
    assert test.returncode == 0, test.stdout[-2000:] + test.stderr[-3000:]
    with open(osp.join(work, 'metrics.json')) as f:
        metrics = json.load(f)
    # 16 test videos, 3 clips each; chance is 0.5
    assert metrics['hier/video_vote/num_samples'] == 16
    assert metrics['hier/video_vote/class_acc'] >= 0.8, metrics
