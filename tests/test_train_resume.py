"""A real MMEngine Runner on toy mp4 clips: train, checkpoint, resume."""
import glob
import os.path as osp
import subprocess
import sys

import torch

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'i3d_r3d18_toy.py')


def _overrides(toy, max_epochs):
    return [
        f'train_dataloader.dataset.ann_file={toy.train_list}',
        f'train_dataloader.dataset.data_prefix.video={toy.video_root}',
        'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'model.backbone.base_channels=8',
        'model.cls_head.in_channels=32',
        f'train_cfg.max_epochs={max_epochs}',
        'default_hooks.logger.interval=1',
    ]


def _train(toy, work_dir, max_epochs, *extra):
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools',
                 'train.py'), CONFIG, '--work-dir', work_dir, '--no-validate',
        '--seed', '0', *extra, '--cfg-options', *_overrides(toy, max_epochs)
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def test_train_writes_weights_only_checkpoint_and_resumes(toy_data, tmp_path):
    work_dir = str(tmp_path / 'work')
    log = _train(toy_data, work_dir, 1)
    # 24 training clips, batch 8: three iterations of decoded toy videos
    assert 'Epoch(train) [1][3/3]' in log
    first = osp.join(work_dir, 'epoch_1.pth')
    # own files: weights-only
    checkpoint = torch.load(first, weights_only=True)
    assert checkpoint['meta']['epoch'] == 1 and checkpoint['meta']['iter'] == 3
    assert not glob.glob(osp.join(work_dir, '*.partial'))
    before = checkpoint['state_dict']['cls_head.fc_cls.weight']

    log = _train(toy_data, work_dir, 2, '--resume')
    assert 'resumed epoch: 1, iter: 3' in log
    assert 'Epoch(train) [2][3/3]' in log and 'Epoch(train) [1]' not in log
    second = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=True)
    assert second['meta']['iter'] == 6
    assert not torch.equal(before,
                           second['state_dict']['cls_head.fc_cls.weight'])
