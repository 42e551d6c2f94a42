"""Videos that fail while a run decodes them (tests/video_faults.py makes
them from the toy clips): with on_bad_video='error' a named error, with
'skip' a deterministic stand-in recorded in its metainfo; a decoder crash in
a DataLoader worker or during the pre-flight check is named with its video;
metrics leave stand-ins out."""
import faulthandler
import logging
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import decord
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader
from video_faults import cut_after_header, damage_middle, not_a_video

from hprotopnet_mm.datasets import (STAND_IN_KEY, AnnotationError,
                                    BadVideoError, CheckedVideoDataset,
                                    decoding_records, name_crashed_workers,
                                    probe_videos, video_probe)

CLIP_LEN = 16


def pipeline(test_mode=False, first=()):
    return [
        *first,
        dict(type='DecordInit'),
        dict(
            type='SampleFrames',
            clip_len=CLIP_LEN,
            frame_interval=1,
            num_clips=1,
            test_mode=test_mode),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, 32)),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs', meta_keys=('filename', 'frame_inds'))
    ]


@pytest.fixture(scope='module')
def faults(toy_data, tmp_path_factory):
    """Damaged copies of the first training clip of class 3, and the
    annotation lines of the toy training list."""
    folder = tmp_path_factory.mktemp('faults')
    lines = open(toy_data.train_list).read().splitlines()
    line = next(line for line in lines if line.endswith(' 3'))
    source = osp.join(toy_data.video_root, line.split()[0])
    files = SimpleNamespace(
        damaged=str(folder / 'damaged_middle.mp4'),
        cut=str(folder / 'cut_after_header.mp4'),
        text=str(folder / 'not_a_video.mp4'),
        source=source,
        label=3,
        lines=lines,
        folder=folder)
    damage_middle(source, files.damaged)
    cut_after_header(source, files.cut)
    not_a_video(files.text)
    return files


def write_list(folder, lines, name='list.txt'):
    path = osp.join(str(folder), name)
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return path


def dataset(toy, ann_file, **kwargs):
    kwargs.setdefault('pipeline', pipeline())
    return CheckedVideoDataset(
        ann_file,
        data_prefix=dict(video=toy.video_root),
        progress=False,
        **kwargs)


def frames(path, indices):
    reader = decord.VideoReader(path, num_threads=1)
    return reader.get_batch(list(indices)).asnumpy()


def test_damaged_video_opens_but_no_clip_of_it_decodes(faults):
    reader = decord.VideoReader(faults.damaged, num_threads=1)
    assert len(reader) == 32
    assert probe_videos([faults.damaged]) == [None]  # passes the check
    for start in range(32 - CLIP_LEN + 1):
        # decord's message varies with the timing of its decoding thread
        # ('Error sending packet', at times 'Check failed: run_.load()');
        # the failure does not
        with pytest.raises(decord.DECORDError):
            frames(faults.damaged, range(start, start + CLIP_LEN))
    # the last group of frames (from the third key frame) is intact
    assert np.array_equal(
        frames(faults.damaged, range(24, 32)),
        frames(faults.source, range(24, 32)))


def test_cut_short_and_text_files_do_not_open(faults):
    cut, text = probe_videos([faults.cut, faults.text])
    assert cut.startswith('decord cannot open it: ')
    assert 'av_read_frame failed' in cut
    assert text == ('decord cannot open it: no readable video container '
                    '(truncated, corrupt or not a video)')
    assert os.path.getsize(faults.cut) > 0.4 * os.path.getsize(faults.source)


def test_error_mode_names_list_line_video_and_decoder_error(
        toy_data, faults, tmp_path):
    ann_file = write_list(
        tmp_path, faults.lines[:4] + [f'{faults.damaged} {faults.label}'])
    data = dataset(toy_data, ann_file)
    assert len(data) == 5
    data[0]
    with pytest.raises(BadVideoError) as err:
        data[4]
    assert str(err.value).startswith(
        f'{ann_file}:5: {faults.damaged}: DecordDecode: ')
    assert "on_bad_video='skip'" in str(err.value)
    assert isinstance(err.value.__cause__, decord.DECORDError)


def test_skip_mode_stands_in_the_next_clip_of_the_same_class(
        toy_data, faults, tmp_path):
    lines = faults.lines + [f'{faults.damaged} {faults.label}']
    ann_file = write_list(tmp_path, lines)
    data = dataset(
        toy_data,
        ann_file,
        on_bad_video='skip',
        pipeline=pipeline(test_mode=True))
    # the last line: its next clip of the same class wraps around
    first = next(i for i, line in enumerate(lines)
                 if line.endswith(f' {faults.label}'))
    logger = MMLogger.get_current_instance()
    records = _Records()
    logger.addHandler(records)
    try:
        sample = data[24]
    finally:
        logger.removeHandler(records)
    stand_in = data[first]
    assert sample['data_samples'].filename == stand_in['data_samples'].filename
    assert torch.equal(sample['inputs'], stand_in['inputs'])
    failures = sample['data_samples'].metainfo[STAND_IN_KEY]
    assert [(f['filename'], f['ann_file'], f['ann_line']) for f in failures] \
        == [(faults.damaged, ann_file, 25)]
    assert failures[0]['error'].startswith('DecordDecode: ')
    assert STAND_IN_KEY not in stand_in['data_samples'].metainfo
    warning, = [
        r.getMessage() for r in records.records
        if faults.damaged in r.getMessage()
    ]
    assert warning.startswith(f'{ann_file}:25: {faults.damaged}: decoding '
                              'failed (DecordDecode: ')
    assert f'sample 24 replaced by {stand_in["data_samples"].filename}' \
        in warning


def test_stand_in_is_deterministic_with_random_sampling(
        toy_data, faults, tmp_path):
    """Training clips draw random frames: the same generator state gives
    the same stand-in clip, however often the video failed before (no
    state but the generators decides)."""
    ann_file = write_list(tmp_path,
                          faults.lines + [f'{faults.damaged} {faults.label}'])
    data = dataset(toy_data, ann_file, on_bad_video='skip')
    damaged = len(data) - 1
    clips = []
    for warm_up in (0, 3):
        for _ in range(warm_up):
            data[damaged]
        np.random.seed(7)
        clips.append(data[damaged])
    assert torch.equal(clips[0]['inputs'], clips[1]['inputs'])
    assert clips[0]['data_samples'].metainfo[STAND_IN_KEY][0]['filename'] \
        == faults.damaged


def test_videos_that_fail_to_open_at_decode_time_are_replaced(
        toy_data, faults, tmp_path):
    """Without the check (or for files damaged after it) a file that does
    not open is replaced like one that does not decode."""
    missing = str(tmp_path / 'missing.mp4')
    bad = [faults.cut, faults.text, missing]
    ann_file = write_list(
        tmp_path, faults.lines + [f'{path} {k}' for k, path in enumerate(bad)])
    data = dataset(toy_data, ann_file, on_bad_video='skip', check_videos=False)
    for k, path in enumerate(bad):
        failure, = data[24 + k]['data_samples'].metainfo[STAND_IN_KEY]
        assert failure['filename'] == path
        assert failure['error'].startswith('DecordInit: ')
    assert 'FileNotFoundError' in failure['error']


def test_a_sample_whose_stand_ins_all_fail_stops_with_a_list(
        toy_data, faults, tmp_path):
    lines = [f'{faults.damaged} 0', f'{faults.text} 0', faults.lines[2]]
    ann_file = write_list(tmp_path, lines)
    data = dataset(toy_data, ann_file, on_bad_video='skip', check_videos=False)
    with pytest.raises(BadVideoError) as err:
        data[0]
    message = str(err.value)
    assert message.startswith(f'{ann_file}: sample 0 and its stand-ins all '
                              'failed to decode:')
    assert f'{ann_file}:1: {faults.damaged}: DecordDecode: ' in message
    assert f'{ann_file}:2: {faults.text}: DecordInit: ' in message


def test_pipeline_errors_are_not_taken_for_bad_videos(toy_data, tmp_path):
    """A misconfigured pipeline raises its own error, bad video or not."""
    ann_file = write_list(tmp_path,
                          open(toy_data.train_list).read().splitlines()[:3])
    broken = [
        dict(type='DecordInit'),
        dict(type='FormatShape', input_format='NCTHW')
    ]  # no frames
    data = dataset(toy_data, ann_file, on_bad_video='skip', pipeline=broken)
    with pytest.raises(KeyError, match='imgs'):
        data[0]


def test_decoder_crash_in_a_dataloader_worker_names_the_video(
        toy_data, tmp_path):
    lines = open(toy_data.train_list).read().splitlines()[:8]
    crashing = lines[5].split()[0]
    ann_file = write_list(tmp_path, lines)
    data = dataset(
        toy_data,
        ann_file,
        on_bad_video='skip',
        pipeline=pipeline(first=[dict(type='AbortOnVideo', name=crashing)]))
    loader = DataLoader(
        data, batch_size=2, num_workers=2, collate_fn=pseudo_collate)
    with pytest.raises(BadVideoError) as err:
        with name_crashed_workers():
            for _ in loader:
                pass
    message = str(err.value)
    assert message.startswith(
        ('DataLoader worker (pid', 'A DataLoader worker died ('))
    video = osp.join(toy_data.video_root, crashing)
    assert 'The worker was decoding:\n  worker ' in message
    assert f': {ann_file}:6: {video}\n' in message
    # PyTorch's error, or the failed fetch of a batch the worker had sent
    assert isinstance(err.value.__cause__,
                      (RuntimeError, ConnectionError, EOFError))


def test_worker_dead_before_its_batch_was_fetched_is_named():
    """A worker that dies right after sending a batch makes fetching the
    batch's tensors fail with a ConnectionError that names no worker; the
    ended worker's record still names its video."""
    ended = subprocess.run(
        [sys.executable, '-c', 'import os; print(os.getpid())'],
        capture_output=True,
        text=True,
        check=True)
    pid = int(ended.stdout)
    record = osp.join(decoding_records.records_folder(), str(pid))
    with open(record, 'w') as f:
        f.write('list.txt:3: video.mp4')
    with pytest.raises(BadVideoError) as err:
        with name_crashed_workers():
            raise ConnectionResetError(104, 'Connection reset by peer')
    assert str(err.value).startswith(
        'A DataLoader worker died (ConnectionResetError: [Errno 104] '
        'Connection reset by peer)\nThe worker was decoding:\n  worker '
        f'{pid}: list.txt:3: video.mp4\n')
    assert not osp.exists(record)  # read once


def test_other_dataloader_errors_pass_unchanged():
    with pytest.raises(
            RuntimeError,
            match='^DataLoader worker \\(pid 1\\) '
            'is killed by signal: Aborted.$'):
        with name_crashed_workers():
            raise RuntimeError('DataLoader worker (pid 1) is killed by '
                               'signal: Aborted.')
    with pytest.raises(ConnectionResetError):
        with name_crashed_workers():
            raise ConnectionResetError(104, 'Connection reset by peer')


def test_check_opens_videos_in_other_processes_and_names_a_crash(
        toy_data, tmp_path, monkeypatch):
    """The pre-flight check never opens videos in the training process (nor
    in its threads): a decoder crash ends only a worker process, and the
    video is reported with the signal."""
    lines = open(toy_data.train_list).read().splitlines()[:6]
    crashing = osp.join(toy_data.video_root, lines[3].split()[0])
    ann_file = write_list(tmp_path, lines)
    opened_by = tmp_path / 'pids.txt'
    real = video_probe.video_meta

    def count(path):
        with open(opened_by, 'a') as f:
            f.write(f'{os.getpid()}\n')
        if path == crashing:
            faulthandler.disable()  # no Python traceback on the test's stderr
            os.abort()
        return real(path)

    monkeypatch.setattr(video_probe, 'video_meta', count)
    monkeypatch.setattr(video_probe, '_CHECKED_VIDEOS', {})
    with pytest.raises(AnnotationError) as err:
        dataset(toy_data, ann_file, check_workers=2)
    # the crashed worker was replaced: every other video was checked
    assert f'{ann_file}: 1 of 6 listed videos are unusable' in str(err.value)
    assert f'{ann_file}:4: {crashing}: the video decoder crashed while ' \
        'opening it (killed by SIGABRT)' in str(err.value)
    pids = {int(p) for p in opened_by.read_text().split()}
    assert os.getpid() not in pids and len(pids) >= 2
    kept = dataset(toy_data, ann_file, check_workers=2, on_bad_video='skip')
    assert len(kept) == 5 and kept.skipped[0]['filename'] == crashing


def test_metric_leaves_stand_ins_out(toy_data):
    from hprotopnet_mm.evaluation import HierarchicalAccuracy
    metric = HierarchicalAccuracy(toy_data.hierarchy, toy_data.label_map)
    sample = dict(
        pred_score=torch.zeros(12),
        gt_label=torch.tensor([1]),
        filename='a.mp4')
    stand_in = dict(
        sample,
        filename='b.mp4',
        **{STAND_IN_KEY: [dict(filename='broken.mp4')]})
    metric.process({}, [sample, stand_in])
    assert [r['video_id'] for r in metric.results] == ['a.mp4']


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)
