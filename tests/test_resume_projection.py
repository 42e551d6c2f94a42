"""The toy CPG config end to end with tools/train.py (two projections), and
runs killed (SIGKILL) inside the projection pass or inside the last-layer
phase, resumed with --resume, that end exactly like the uninterrupted run.
Each kill happens right where the run logs a given line (it stops itself
there, see conftest.train_until), not after a race with the test."""
import os.path as osp

import pytest
import torch

from conftest import (REPO_ROOT, stoppable_config, tiny_model_options,
                      train_until)

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')


@pytest.fixture(scope='module')
def options(toy_data, toy_embedding_d4, tmp_path_factory):
    """--cfg-options: the test data, a tiny network, 2 epochs (warm-up,
    joint) with a projection after each."""
    folder = tmp_path_factory.mktemp('resume_data')
    # one clip per class: 12 clips
    train_list = folder / 'train_list.txt'
    lines = open(toy_data.train_list).read().splitlines()
    train_list.write_text('\n'.join(line
                                    for line in lines if '_0.mp4' in line) +
                          '\n')
    values = {
        'train_dataloader.dataset.ann_file': str(train_list),
        'train_dataloader.dataset.data_prefix.video': toy_data.video_root,
        'train_dataloader.batch_size': 6,
        'train_dataloader.num_workers': 0,
        'projection_dataloader.dataset.ann_file': str(train_list),
        'projection_dataloader.dataset.data_prefix.video': toy_data.video_root,
        'projection_dataloader.num_workers': 0,
        **tiny_model_options(toy_data, toy_embedding_d4),
        'train_cfg.max_epochs': 2,
        'custom_hooks.1.warmup_epochs': 1,
        'custom_hooks.2.begin': 1,
        'custom_hooks.2.interval': 1,
        'custom_hooks.2.last_layer.iters': 3,
        'default_hooks.logger.interval': 1,
    }
    return [f'{k}={v}' for k, v in values.items()]


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    return stoppable_config(CONFIG, tmp_path_factory.mktemp('config'))


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read().strip())


@pytest.fixture(scope='module')
def uninterrupted(config, options, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    log = train_until(config, work_dir, options)
    return work_dir, log


def test_toy_config_trains_through_two_projections(uninterrupted):
    work_dir, log = uninterrupted
    for epoch in (1, 2):
        assert f'Prototype projection after epoch {epoch}: searching 12 ' \
            'clips' in log
        assert f'Last-layer phase after epoch {epoch} [3/3]' in log
        assert osp.isfile(osp.join(work_dir, f'epoch_{epoch}_projected.pth'))
    assert 'Training phase "warm-up" (epochs 1-1)' in log
    assert 'Training phase "joint" (epochs 2-2)' in log
    assert last_checkpoint(work_dir) == 'epoch_2.pth'
    final = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=True)
    sources = final['state_dict']['cls_head._extra_state']['prototype_sources']
    assert sources['epoch'] == 2
    assert all(r is not None for r in sources['prototypes'])
    assert 'projection_step' not in final['meta']


def test_resume_after_kills_gives_uninterrupted_result(uninterrupted, config,
                                                       options, tmp_path):
    """One run killed three times: inside the projection after epoch 1,
    in the middle of epoch 2 (joint phase) and inside the last-layer phase
    after epoch 2 (the last step of training); each time resumed with
    --resume. It ends bit-identical to the uninterrupted run."""
    reference_dir, _ = uninterrupted
    work_dir = str(tmp_path / 'work')

    train_until(
        config,
        work_dir,
        options,
        kill_at='Prototype projection after epoch 1')
    # killed inside the projection: no projected checkpoint yet
    assert last_checkpoint(work_dir) == 'epoch_1_before_projection.pth'
    assert not osp.exists(osp.join(work_dir, 'epoch_1_projected.pth'))

    log = train_until(
        config, work_dir, options, '--resume', kill_at='Epoch(train) [2][1/2]')
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'Resuming the interrupted projection step after epoch 1' in log
    assert 'Last-layer phase after epoch 1 [3/3]' in log
    assert 'Epoch(train) [1]' not in log
    # the resumed step is followed by the epoch's regular checkpoint
    assert last_checkpoint(work_dir) == 'epoch_1.pth'

    log = train_until(
        config,
        work_dir,
        options,
        '--resume',
        kill_at='Last-layer phase after epoch 2: 3 iterations')
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'Resuming the interrupted' not in log
    assert 'Training phase "joint" (epochs 2-2)' in log
    assert last_checkpoint(work_dir) == 'epoch_2_projected.pth'
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))

    log = train_until(config, work_dir, options, '--resume')
    assert 'resumed epoch: 2, iter: 4' in log
    assert 'Resuming the interrupted last-layer step after epoch 2' in log
    assert 'Epoch(train)' not in log

    reference = torch.load(
        osp.join(reference_dir, 'epoch_2.pth'), weights_only=True)
    resumed = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=True)
    key = 'cls_head.prototype_layer.prototype_vectors'
    assert torch.equal(resumed['state_dict'][key],
                       reference['state_dict'][key])
    assert resumed['state_dict']['cls_head._extra_state'] == \
        reference['state_dict']['cls_head._extra_state']
    # the whole run continued bit for bit (EpochSeedHook)
    for name, value in reference['state_dict'].items():
        if torch.is_tensor(value):
            assert torch.equal(resumed['state_dict'][name], value), name
