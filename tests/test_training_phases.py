"""Training phases on real toy clips with MMEngine's Runner: warm-up
(backbone frozen), joint (all train, per-group learning rates), and the
last-layer phase after a projection (only the last layer changes)."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from torch import nn

import hprotopnet_mm  # noqa: F401
import hprotopnet_mm.engine.hooks  # noqa: F401
import hprotopnet_mm.evaluation  # noqa: F401
import hprotopnet_mm.models  # noqa: F401
from conftest import tiny_toy_config
from hprotopnet_mm.engine.hooks import (PrototypeProjectionHook,
                                        TrainingPhaseHook)
from hprotopnet_mm.engine.hooks.training_phase_hook import \
    check_freezing_allowed
from hprotopnet_mm.engine.resume_points import interrupted_step


def build_runner(toy, embedding_file, work_dir, **options):
    """A Runner of the tiny toy config."""
    return RUNNERS.build(
        tiny_toy_config(toy, embedding_file, work_dir, **options))


class EpochStates(Hook):
    """Keeps a copy of the model's state after every training epoch."""

    priority = 'LOWEST'

    def __init__(self):
        self.states = []
        self.optimizer_states = []

    def before_train(self, runner):
        self.states.append(clone_state(runner.model))

    def after_train_epoch(self, runner):
        self.states.append(clone_state(runner.model))
        self.optimizer_states.append(
            set(runner.optim_wrapper.optimizer.state.keys()))


def clone_state(model):
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items() if torch.is_tensor(v)
    }


def changed(before, after, prefix):
    """Names under ``prefix`` whose tensors differ (bitwise)."""
    return {
        k
        for k in before if k.startswith(prefix) and torch.is_tensor(before[k])
        and not torch.equal(before[k], after[k])
    }


def test_warmup_then_joint(toy_data, toy_embedding_d4, tmp_path):
    """Epoch 1 (warm-up) leaves every backbone parameter bit-identical and
    gives it no optimizer state; epoch 2 (joint) trains it. The phases are
    logged and every group has its configured learning rate."""
    runner = build_runner(
        toy_data, toy_embedding_d4, str(tmp_path), **{
            'train_cfg.max_epochs': 2,
            'custom_hooks.1.warmup_epochs': 1,
            'custom_hooks.2.begin': 10,
            'custom_hooks.2.at_end': False,
        })
    recorder = EpochStates()
    runner.register_hook(recorder)
    runner.train()
    start, warm, joint = recorder.states
    params = dict(runner.model.named_parameters())
    backbone = {k for k in params if k.startswith('backbone.')}

    assert changed(start, warm, 'backbone.') <= {
        k
        for k in start if 'running' in k or 'num_batches' in k
    }  # normalisation statistics still update (ProtoPNet), weights do not
    for prefix in ('cls_head.add_on_layers.', 'cls_head.prototype_layer.',
                   'cls_head.last_layer.'):
        assert changed(start, warm, prefix), prefix
    assert not {id(params[k])
                for k in backbone
                } & {id(p)
                     for p in recorder.optimizer_states[0]}
    assert changed(warm, joint, 'backbone.') >= backbone
    assert changed(warm, joint, 'cls_head.prototype_layer.')

    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert 'Training phase "warm-up" (epochs 1-1): backbone: frozen, ' \
        'cls_head.add_on_layers: trainable' in log
    assert 'Training phase "joint" (epochs 2-2): backbone: trainable' in log
    # every parameter trains again after training
    assert all(p.requires_grad for k, p in params.items()
               if not k.startswith('cls_head.hyperbolic'))

    lrs = {}
    for group in runner.optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            lrs[id(p)] = (group['lr'], group['weight_decay'])
    # ProtoPNet's rates for a pre-trained backbone (configs/_base_/schedules/
    # hproto_toy.py)
    assert lrs[id(params['backbone.conv1.conv.weight'])] == pytest.approx(
        (1e-4, 1e-4))
    assert lrs[id(params['cls_head.add_on_layers.0.weight'])] == \
        pytest.approx((3e-3, 1e-4))
    assert lrs[id(params['cls_head.prototype_layer.prototype_vectors'])] == \
        pytest.approx((3e-3, 0))
    assert lrs[id(params['cls_head.last_layer.weight'])] == pytest.approx(
        (1e-3, 0))


def test_last_layer_phase_changes_only_the_last_layer(toy_data,
                                                      toy_embedding_d4,
                                                      tmp_path):
    """Between the checkpoint written right after the projection and the
    end of the last-layer phase, only cls_head.last_layer.weight changes:
    every other parameter and buffer (normalisation statistics included)
    is bit-identical, and modes and requires_grad are restored. The phase's
    losses reach the message hub and scalars.json."""
    runner = build_runner(
        toy_data, toy_embedding_d4, str(tmp_path), **{
            'train_cfg.max_epochs': 1,
            'custom_hooks.1.warmup_epochs': 0,
            'custom_hooks.2.last_layer': dict(iters=4, log_interval=3),
        })
    runner.train()
    projected = torch.load(
        osp.join(runner.work_dir, 'epoch_1_projected.pth'), weights_only=True)
    assert projected['meta']['projection_step'] == 'last_layer'
    assert projected['meta']['epoch'] == 1
    before = projected['state_dict']
    after = runner.model.state_dict()
    assert set(before) == set(after)
    differ = {
        k
        for k in before
        if torch.is_tensor(before[k]) and not torch.equal(before[k], after[k])
    }
    assert differ == {'cls_head.last_layer.weight'}
    assert before['cls_head._extra_state'] == after['cls_head._extra_state']
    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert 'Last-layer phase after epoch 1: 4 iterations' in log
    assert 'Last-layer phase after epoch 1 [4/4] loss:' in log
    assert runner.model.training
    assert all(m.training for m in runner.model.modules())
    assert all(p.requires_grad for k, p in runner.model.named_parameters()
               if not k.startswith('cls_head.hyperbolic'))

    # logged through MMEngine: message hub and visualizer (scalars.json)
    losses = runner.message_hub.get_scalar('last_layer/loss').data[0]
    assert len(losses) == 4 and np.isfinite(losses).all()
    assert runner.message_hub.get_info('last_layer_iter') == 4
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        scalars = [json.loads(line) for line in f]
    logged = [s for s in scalars if 'last_layer/loss' in s]
    assert [(s['step'], s['last_layer/iter']) for s in logged] == \
        [(3, 3), (4, 4)]  # every 3 iterations and after the last
    assert logged[0]['last_layer/loss'] == pytest.approx(losses[:3].mean())
    assert logged[1]['last_layer/loss'] == pytest.approx(losses[3])
    assert {'last_layer/loss_cls', 'last_layer/lr'} <= set(logged[0])
    assert any('loss' in s and 'last_layer/loss' not in s for s in scalars)


def test_interrupted_step_of_new_and_earlier_checkpoints():
    """The step a resume point asks to repeat, from meta['projection_step']
    and from the 'prototype_projection' entry earlier versions wrote."""
    assert interrupted_step(
        dict(meta=dict(epoch=3, projection_step='last_layer'))) == (
            'last_layer', 3)
    earlier = dict(
        meta=dict(epoch=3),
        prototype_projection=dict(pending=dict(stage='projection', epoch=3)))
    assert interrupted_step(earlier) == ('projection', 3)
    assert interrupted_step(
        dict(meta=dict(epoch=3), prototype_projection=dict(pending=None))) \
        is None
    assert interrupted_step(dict(meta=dict(epoch=3))) is None


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match='exactly one of "iters" and'):
        PrototypeProjectionHook(interval=1, last_layer=dict(iters=2, epochs=1))
    with pytest.raises(ValueError, match='unknown last_layer keys'):
        PrototypeProjectionHook(interval=1, last_layer=dict(iters=2, lr=1))
    with pytest.raises(ValueError, match='prune must be'):
        PrototypeProjectionHook(interval=1, prune=dict(k=2, min_own=3))
    with pytest.raises(ValueError, match='interval must be an int >= 1'):
        PrototypeProjectionHook(interval=0)
    with pytest.raises(ValueError, match='warmup_epochs'):
        TrainingPhaseHook(warmup_epochs=-1)
    hook = PrototypeProjectionHook(interval=3, begin=4, at_end=True)
    assert [n for n in range(1, 13) if hook.is_projection_epoch(n, 12)] == \
        [4, 7, 10, 12]


def test_unknown_module_prefix_is_refused(toy_data, toy_embedding_d4,
                                          tmp_path):
    runner = build_runner(
        toy_data, toy_embedding_d4, str(tmp_path), **{
            'custom_hooks.1.warmup_trainable': ['cls_head.add_on'],
        })
    with pytest.raises(ValueError, match="names 'cls_head.add_on'"):
        runner.train()


def test_ddp_needs_find_unused_parameters(tmp_path):
    """Freezing parameters under DistributedDataParallel needs
    find_unused_parameters=True; the hooks say so before training."""

    class FakeRunner:
        pass

    torch_dist.init_process_group(
        'gloo',
        init_method=f'file://{tmp_path / "store"}',
        rank=0,
        world_size=1)
    try:
        runner = FakeRunner()
        runner.model = nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
        with pytest.raises(ValueError, match='find_unused_parameters=True'):
            check_freezing_allowed(runner, 'TrainingPhaseHook')
        runner.model = nn.parallel.DistributedDataParallel(
            nn.Linear(2, 2), find_unused_parameters=True)
        check_freezing_allowed(runner, 'TrainingPhaseHook')
    finally:
        torch_dist.destroy_process_group()
