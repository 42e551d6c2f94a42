"""Runs of tools/train.py and tools/test.py whose lists hold videos that fail
(tests/video_faults.py): with on_bad_video='skip' the main toy config trains
through both projections, names the videos in its log and, killed and
resumed, ends bit-identical to the uninterrupted run; too many bad videos
stop a run with their list; a decoder crash in a DataLoader worker stops it
with the video's name; testing leaves stand-ins out of the metrics."""
import glob
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from test_resume_projection import CONFIG, last_checkpoint
from test_resume_projection import options as resume_options  # noqa: F401
from video_faults import cut_after_header, damage_middle

from conftest import (REPO_ROOT, retarget_toy_config, stoppable_config,
                      train_until)
from hprotopnet_mm.models.heads import PrototypeSources

I3D_CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'i3d_r3d18_toy.py')


@pytest.fixture(scope='module')
def bad_list(toy_data, tmp_path_factory):
    """One clip per class, then a damaged-middle video (class 3) and a
    video cut short after its header (class 4), made from the classes'
    second clips."""
    folder = tmp_path_factory.mktemp('bad_list')
    lines = open(toy_data.train_list).read().splitlines()
    second = {
        int(line.split()[1]): line.split()[0]
        for line in lines if '_1.mp4' in line
    }
    damaged, cut = str(folder / 'damaged.mp4'), str(folder / 'cut.mp4')
    damage_middle(osp.join(toy_data.video_root, second[3]), damaged)
    cut_after_header(osp.join(toy_data.video_root, second[4]), cut)
    ann_file = folder / 'train_list.txt'
    ann_file.write_text('\n'.join([line
                                   for line in lines if '_0.mp4' in line] +
                                  [f'{damaged} 3', f'{cut} 4']) + '\n')
    return str(ann_file), damaged, cut


@pytest.fixture(scope='module')
def options(resume_options, bad_list):  # noqa: F811
    """The options of the resume test, on the list with two bad videos
    (2 of 14: max_bad_ratio=0.2 lets the run go on)."""
    ann_file = bad_list[0]
    return resume_options + [
        f'train_dataloader.dataset.ann_file={ann_file}',
        'train_dataloader.dataset.on_bad_video=skip',
        'train_dataloader.dataset.max_bad_ratio=0.2',
        f'projection_dataloader.dataset.ann_file={ann_file}',
        'projection_dataloader.dataset.on_bad_video=skip',
    ]


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    return stoppable_config(CONFIG, tmp_path_factory.mktemp('config'))


@pytest.fixture(scope='module')
def uninterrupted(config, options, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    return work_dir, train_until(config, work_dir, options)


def test_training_with_bad_videos_finishes_and_names_them(
        uninterrupted, bad_list):
    work_dir, log = uninterrupted
    ann_file, damaged, cut = bad_list
    assert f'{ann_file}:14: {cut}: decord cannot open it' in log
    assert f'{ann_file}:13: {damaged}: decoding failed (DecordDecode: ' in log
    assert 'bad_samples: 1' in log
    assert 'Epoch(train) [2]: 1 sample(s) whose video failed to decode ' \
        'were replaced by stand-ins' in log
    for epoch in (1, 2):
        assert f'Prototype projection after epoch {epoch}: searching 13 ' \
            'clips' in log
        # the last-layer phase (3 iterations: all 13 clips) replaces the
        # damaged video too and counts it in the message hub
        assert f'Last-layer phase after epoch {epoch}: 1 sample(s) whose ' \
            'video failed to decode were replaced by stand-ins' in log
        assert re.search(
            f'Last-layer phase after epoch {epoch} \\[3/3\\] '
            'loss: .*bad_samples: 1.0000', log)
    scalars = [
        json.loads(line) for path in glob.glob(
            osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
        for line in open(path)
    ]
    assert [
        s['last_layer/bad_samples'] for s in scalars if 'last_layer/loss' in s
    ] == [1, 1]
    assert last_checkpoint(work_dir) == 'epoch_2.pth'
    final = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=True)
    sources = PrototypeSources.from_plain(
        final['state_dict']['cls_head._extra_state']['prototype_sources'],
        'epoch_2.pth')
    assert all(
        r is not None and r.filename not in (damaged, cut)
        for r in sources.prototypes)


def test_resume_with_bad_videos_gives_uninterrupted_result(
        uninterrupted, config, options, tmp_path):
    reference_dir, _ = uninterrupted
    work_dir = str(tmp_path / 'work')
    train_until(
        config,
        work_dir,
        options,
        kill_at='Prototype projection after epoch 1')
    # 13 usable clips, batch 6: 3 iterations an epoch
    train_until(
        config, work_dir, options, '--resume', kill_at='Epoch(train) [2][1/3]')
    assert last_checkpoint(work_dir) == 'epoch_1.pth'
    log = train_until(config, work_dir, options, '--resume')
    assert 'resumed epoch: 1, iter: 3' in log
    reference = torch.load(
        osp.join(reference_dir, 'epoch_2.pth'), weights_only=True)
    resumed = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=True)
    assert resumed['state_dict']['cls_head._extra_state'] == \
        reference['state_dict']['cls_head._extra_state']
    for name, value in reference['state_dict'].items():
        if torch.is_tensor(value):
            assert torch.equal(resumed['state_dict'][name], value), name


def test_testing_leaves_stand_ins_out_of_the_metrics(uninterrupted, options,
                                                     toy_data, bad_list,
                                                     tmp_path):
    work_dir, _ = uninterrupted
    _, damaged, _ = bad_list
    test_list = tmp_path / 'test_list.txt'
    test_list.write_text(open(toy_data.val_list).read() + f'{damaged} 3\n')
    config = retarget_toy_config(CONFIG, toy_data, tmp_path)  # no workers
    model = [o for o in options if o.startswith('model.')]
    out = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'test.py'), config,
        osp.join(work_dir, 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *model,
        f'test_dataloader.dataset.ann_file={test_list}',
        'test_dataloader.dataset.on_bad_video=skip'
    ],
                         capture_output=True,
                         text=True,
                         cwd=REPO_ROOT)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert 'Epoch(test): 1 sample(s) whose video failed to decode were ' \
        'replaced by stand-ins, left out of the metrics:' in log
    assert f'{test_list}:13: {damaged}: DecordDecode: ' in log
    # the count reaches the message hub: the test epoch's log line
    assert re.search(r'Epoch\(test\) \[\d+/\d+\] .*bad_samples: 1\s', log)
    assert osp.isfile(tmp_path / 'test' / 'metrics.json')


@pytest.fixture(scope='module')
def i3d_config(toy_data, tmp_path_factory):
    """The 3D-ResNet toy config, tiny, two DataLoader workers."""
    folder = tmp_path_factory.mktemp('i3d')
    path = retarget_toy_config(I3D_CONFIG, toy_data, folder, workers=2)
    cfg = Config.fromfile(path)
    cfg.model.backbone.base_channels = 8
    cfg.model.cls_head.in_channels = 32
    cfg.train_dataloader.batch_size = 4
    cfg.dump(path)
    return path


def test_too_many_bad_videos_stop_the_run_with_their_list(
        i3d_config, bad_list, tmp_path):
    """2 of 14 listed videos are bad, above the default max_bad_ratio=0.1:
    the run stops when the second one fails, in a DataLoader worker."""
    ann_file, damaged, cut = bad_list
    log = train_until(
        i3d_config,
        str(tmp_path / 'work'), [
            f'train_dataloader.dataset.ann_file={ann_file}',
            'train_dataloader.dataset.on_bad_video=skip'
        ],
        code=1)
    assert f'train.py: error: {ann_file}: 2 of 14 listed videos are bad (1 ' \
        'left out by the check, 1 failed while decoding), more than ' \
        'max_bad_ratio=0.1 allows' in log
    assert f'  {ann_file}:14: {cut}: decord cannot open it' in log
    assert f'  {ann_file}:13: {damaged}: DecordDecode: ' in log
    assert 'Traceback' not in log


def test_decoder_crash_in_a_worker_stops_the_run_naming_the_video(
        i3d_config, toy_data, tmp_path):
    lines = open(toy_data.train_list).read().splitlines()
    crashing = lines[7].split()[0]
    cfg = Config.fromfile(i3d_config)
    cfg.custom_imports.imports = list(
        cfg.custom_imports.imports) + ['video_faults']
    cfg.train_dataloader.dataset.pipeline.insert(
        0, dict(type='AbortOnVideo', name=crashing))
    config = str(tmp_path / 'abort.py')
    cfg.dump(config)
    log = train_until(config, str(tmp_path / 'work'), [], code=1)
    assert 'train.py: error: DataLoader worker (pid' in log
    assert 'The worker was decoding:\n  worker ' in log
    video = osp.join(toy_data.video_root, crashing)
    assert f': {toy_data.train_list}:8: {video}\n' in log
    assert 'Traceback' not in log
