"""ActivityNetSegmentDataset on a small ActivityNet in the official schema:
one sample per segment, frames only from inside it (the same frames as
from the segment cut to a file of its own), missing videos listed once and
skipped, segments past the end clipped and counted, a video that fails at
decode time replaced or named, bad labels named, and tools/test.py
reporting per-segment video-level metrics."""
import json
import logging
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from hprotopnet_mm.datasets import (STAND_IN_KEY, ActivityNetSegmentDataset,
                                    AnnotationError, BadVideoError,
                                    CheckedVideoDataset, SyntheticVideo,
                                    cut_segment, read_frame_codes,
                                    segment_frame_range, video_probe,
                                    write_synthetic_activitynet)
from hprotopnet_mm.datasets.activitynet_dataset import with_segment_init
from hprotopnet_mm.engine.hooks import BadVideoHook

# Frame rates differ per video; every frame shows its index (frame code).
VIDEOS = (
    SyntheticVideo('kayak_A1', 120, 10.0,
                   ((0.0, 4.0, 'Kayaking'), (5.0, 9.5, 'Surfing'),
                    (10.0, 11.9, 'Kayaking'))),
    # ends after 6 s; the annotation says 8 s, as for a cut-off download
    SyntheticVideo(
        'lawn_B2', 90, 15.0, ((1.0, 7.5, 'Mowing the lawn'), ), duration=8.0),
    SyntheticVideo('court_C3', 100, 25.0,
                   ((0.0, 2.0, 'Tennis serve with ball bouncing'),
                    (2.2, 4.0, 'Playing squash'))),
    SyntheticVideo(
        'gone_D4',
        80,
        10.0, ((0.5, 3.0, 'Raking leaves'), (4.0, 6.0, 'Raking leaves')),
        present=False),
    SyntheticVideo(
        'fence_E5',
        64,
        8.0, ((2.0, 6.0, 'Painting fence'), ),
        subset='validation'),
    SyntheticVideo(
        'water_F6',
        48,
        12.0, ((0.0, 2.0, 'Surfing'), (2.5, 3.5, 'Kayaking')),
        subset='validation'),
)
CLIP_LEN = 8
TEST_PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=CLIP_LEN, num_clips=3, test_mode=True),
    dict(type='DecordDecode')
]
TRAIN_PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=CLIP_LEN, num_clips=1),
    dict(type='DecordDecode')
]


@pytest.fixture(scope='module')
def anet(tmp_path_factory):
    """The fake ActivityNet, with the hierarchy and label map that
    tools/activitynet_hierarchy.py derives from its taxonomy."""
    root = tmp_path_factory.mktemp('anet')
    files = write_synthetic_activitynet(str(root), VIDEOS)
    tree = root / 'tree'
    run = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'activitynet_hierarchy.py'),
        files.ann_file, '--out',
        str(tree), '--no-compare'
    ],
                         capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return files, str(tree / 'activitynet_hierarchy.csv'), str(
        tree / 'activitynet_label_map.txt')


def build(anet, pipeline=(), **kwargs):
    files, hierarchy, label_map = anet
    kwargs.setdefault('on_bad_video', 'skip')
    kwargs.setdefault('progress', False)
    kwargs.setdefault('data_prefix', dict(video=files.video_dir))
    return ActivityNetSegmentDataset(
        files.ann_file,
        list(pipeline),
        label_map_file=label_map,
        hierarchy_file=hierarchy,
        **kwargs)


def infos(dataset):
    """The data infos of a dataset (its data_list is serialized)."""
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def expected_frames(video, segment):
    """Frames [first, stop) of a segment, computed here from the video's
    known frame rate and length."""
    start, end = segment
    first = math.ceil(start * video.fps - 1e-6)
    return first, min(math.ceil(end * video.fps - 1e-6), video.num_frames)


class LogRecords(logging.Handler):
    """Keeps the records of MMEngine's current logger while installed."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        from mmengine.logging import MMLogger
        MMLogger.get_current_instance().addHandler(self)
        return self

    def __exit__(self, *exc):
        from mmengine.logging import MMLogger
        MMLogger.get_current_instance().removeHandler(self)

    def messages(self, level):
        return [r.getMessage() for r in self.records if r.levelname == level]


def test_one_sample_per_segment_and_frames_only_from_inside_it(anet):
    dataset = build(anet, TEST_PIPELINE)
    videos = {v.video_id: v for v in VIDEOS}
    expected = [(v.video_id, k) for v in VIDEOS
                if v.subset == 'training' and v.present
                for k in range(len(v.segments))]
    assert [(i['video_id'], int(i['segment_id'].split('#')[1]))
            for i in infos(dataset)] == expected
    assert len(dataset) == 6
    assert isinstance(dataset, CheckedVideoDataset)
    for index in range(len(dataset)):
        sample = dataset[index]
        video = videos[sample['video_id']]
        k = int(sample['segment_id'].split('#')[1])
        first, stop = expected_frames(video, video.segments[k][:2])
        assert sample['segment_frames'] == (first, stop)
        inds = sample['frame_inds']
        assert len(inds) == 3 * CLIP_LEN
        assert all(first <= i < stop
                   for i in inds), (sample['segment_id'], inds, first, stop)
        # the decoded pixels are those frames of the full video
        assert read_frame_codes(np.stack(sample['imgs'])) == list(inds)
        assert sample['label'] == dataset.class_names.index(
            video.segments[k][2])


def test_random_training_clips_stay_inside_their_segment(anet):
    dataset = build(anet, TRAIN_PIPELINE)
    videos = {v.video_id: v for v in VIDEOS}
    np.random.seed(0)
    for _ in range(5):
        for index in range(len(dataset)):
            sample = dataset[index]
            video = videos[sample['video_id']]
            k = int(sample['segment_id'].split('#')[1])
            first, stop = expected_frames(video, video.segments[k][:2])
            assert all(first <= i < stop for i in sample['frame_inds'])


@pytest.mark.parametrize('pipeline', [TRAIN_PIPELINE, TEST_PIPELINE])
def test_sampling_a_segment_equals_sampling_it_cut_to_its_own_file(
        anet, tmp_path, pipeline):
    """The same frames as MMAction2's VideoDataset-style loading of the
    segment cut (by frames) to a file of its own, with the same random
    state."""
    files = anet[0]
    dataset = build(anet, pipeline)
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        video = next(v for v in VIDEOS if v.video_id == info['video_id'])
        first, stop = expected_frames(video, info['segment'])
        cut = str(tmp_path / f'{info["segment_id"].replace("#", "_")}.mp4')
        cut_segment(files.path(video.video_id), first, stop, cut)
        with open(tmp_path / 'cut.txt', 'w') as f:
            f.write(f'{cut} 0\n')
        clips = CheckedVideoDataset(
            str(tmp_path / 'cut.txt'), list(pipeline), progress=False)
        for seed in range(3):
            np.random.seed(seed)
            segment = dataset[index]
            np.random.seed(seed)
            whole = clips[0]
            assert whole['total_frames'] == stop - first
            assert list(segment['frame_inds']) == [
                i + first for i in whole['frame_inds']
            ]
            codes = read_frame_codes(np.stack(segment['imgs']))
            assert codes == read_frame_codes(np.stack(whole['imgs']))
            assert codes == list(segment['frame_inds'])


def test_missing_video_is_listed_once_and_skipped(anet):
    files = anet[0]
    missing = files.path('gone_D4')
    with LogRecords() as log:
        dataset = build(anet)
    assert [v['video_id'] for v in dataset.skipped] == ['gone_D4']
    assert [s['segment_id']
            for s in dataset.skipped_segments] == ['gone_D4#0', 'gone_D4#1']
    assert all(i['video_id'] != 'gone_D4' for i in infos(dataset))
    warnings = '\n'.join(log.messages('WARNING'))
    assert f'{files.ann_file}: skipping 1 of 4 videos' in warnings
    assert warnings.count(missing) == 1  # one video, two segments
    assert f'{files.ann_file}:gone_D4: {missing}: file not found' in warnings
    summary = '\n'.join(log.messages('INFO'))
    assert '(training): 6 segments of 3 videos; 2 segment(s) left out ' \
        '(1 unusable video(s)' in summary

    with pytest.raises(AnnotationError) as error:
        build(anet, on_bad_video='error')
    message = str(error.value)
    assert '1 of 4 listed videos are unusable' in message
    assert message.count(missing) == 1
    assert f'{files.ann_file}:gone_D4: {missing}: file not found' in message


def test_segment_past_the_end_is_clipped_and_counted(anet):
    files = anet[0]
    with LogRecords() as log:
        dataset = build(anet, TEST_PIPELINE)
    assert dataset.clipped == [
        dict(video_id='lawn_B2', segment=(1.0, 7.5), video_seconds=6.0)
    ]
    warnings = '\n'.join(log.messages('WARNING'))
    assert '(training): 1 of 6 segments end after their video and are ' \
        'clipped to its last frame' in warnings
    assert f'{files.ann_file}:lawn_B2: segment [1, 7.5] s, the video ends ' \
        'at 6.00 s' in warnings
    index = next(i for i, info in enumerate(infos(dataset))
                 if info['video_id'] == 'lawn_B2')
    sample = dataset[index]
    assert sample['segment_frames'] == (15, 90)
    assert min(sample['frame_inds']) >= 15 and max(sample['frame_inds']) < 90


def test_segment_that_starts_after_the_video_is_a_bad_video(anet, tmp_path):
    files = anet[0]
    with open(files.ann_file) as f:
        content = json.load(f)
    content['database']['lawn_B2']['annotations'].append(
        dict(segment=[6.5, 7.9], label='Raking leaves'))
    del content['database']['gone_D4']
    ann_file = tmp_path / 'anet.json'
    ann_file.write_text(json.dumps(content))
    kwargs = dict(
        data_prefix=dict(video=files.video_dir),
        label_map_file=anet[2],
        progress=False)
    with pytest.raises(
            AnnotationError,
            match=r'1 of 7 segments lie outside their video(.|\n)*'
            r'anet.json:lawn_B2: .*v_lawn_B2.mp4: segment \[6.5, 7.9\] s '
            r'starts at or after the end of the video \(90 frames at 15 '
            r'fps = 6.00 s\)'):
        ActivityNetSegmentDataset(
            str(ann_file), [], on_bad_video='error', **kwargs)
    dataset = ActivityNetSegmentDataset(
        str(ann_file), [], on_bad_video='skip', **kwargs)
    assert len(dataset) == 6
    assert dataset.skipped_segments[-1]['segment_id'] == 'lawn_B2#1'


def test_one_opening_of_each_video_gives_its_frames_and_frame_rate(
        anet, tmp_path, monkeypatch):
    """The check opens every present video once, in its worker processes,
    and that opening gives the frame count and the frame rate from which
    the segments are placed and clipped."""
    files = anet[0]
    log = tmp_path / 'opened.txt'  # written by the checking processes
    real = video_probe.video_meta

    def meta(path):
        with open(log, 'a') as f:
            f.write(f'{os.getpid()} {path}\n')
        return real(path)

    monkeypatch.setattr(video_probe, 'video_meta', meta)
    monkeypatch.setattr(video_probe, '_CHECKED_VIDEOS', {})
    dataset = build(anet, check_workers=2)
    opened = [line.split() for line in log.read_text().splitlines()]
    assert sorted(path for _, path in opened) == sorted(
        files.path(v.video_id) for v in VIDEOS
        if v.subset == 'training' and v.present)
    assert str(os.getpid()) not in {pid for pid, _ in opened}
    assert len(dataset) == 6
    assert dataset.clipped == [
        dict(video_id='lawn_B2', segment=(1.0, 7.5), video_seconds=6.0)
    ]


def test_bad_video_share_counts_videos_not_segments(anet):
    """max_bad_ratio is a share of the listed videos: the missing one (two
    segments) of the four training videos is a quarter of them."""

    def start_training(dataset):
        loop = SimpleNamespace(dataloader=SimpleNamespace(dataset=dataset))
        BadVideoHook().before_train(SimpleNamespace(train_loop=loop))

    dataset = build(anet, max_bad_ratio=0.25)
    assert dataset.listed_videos() == 4
    start_training(dataset)
    with pytest.raises(
            BadVideoError,
            match=r'1 of 4 listed videos are bad \(1 left out by the check, '
            r'0 failed while decoding\), more than max_bad_ratio=0.2 '):
        start_training(build(anet, max_bad_ratio=0.2))


def test_a_video_that_fails_when_decoded_is_replaced_or_named(anet, tmp_path):
    """A video replaced after the check by a shorter one: a segment past
    its new end fails in DecordSegmentInit. With 'skip' the next segment of
    the same class stands in, the failure naming the segment; with 'error'
    a BadVideoError names it."""
    files = anet[0]
    folder = tmp_path / 'videos'
    shutil.copytree(files.video_dir, folder)
    with open(files.ann_file) as f:
        content = json.load(f)
    del content['database']['gone_D4']  # 'error' would stop on it
    ann_file = tmp_path / 'anet.json'
    ann_file.write_text(json.dumps(content))
    skipping, stopping = (
        ActivityNetSegmentDataset(
            str(ann_file),
            TEST_PIPELINE,
            data_prefix=dict(video=str(folder)),
            label_map_file=anet[2],
            on_bad_video=on_bad_video,
            progress=False) for on_bad_video in ('skip', 'error'))
    kayak = str(folder / 'v_kayak_A1.mp4')
    shutil.copyfile(folder / 'v_court_C3.mp4', kayak)  # 4 s instead of 12 s
    index = [info['segment_id'] for info in infos(skipping)
             ].index('kayak_A1#2')  # [10, 11.9] s, Kayaking
    sample = skipping[index]
    assert sample['segment_id'] == 'kayak_A1#0'  # Kayaking, [0, 4] s
    assert read_frame_codes(np.stack(sample['imgs'])) == list(
        sample['frame_inds'])
    failure, = sample[STAND_IN_KEY]
    assert (failure['ann_line'], failure['filename']) == ('kayak_A1#2', kayak)
    assert failure['error'].startswith('DecordSegmentInit: ValueError: ')
    assert 'starts at or after the end of the video' in failure['error']
    with pytest.raises(BadVideoError) as error:
        stopping[index]
    assert str(error.value).startswith(
        f'{ann_file}:kayak_A1#2: {kayak}: DecordSegmentInit: ')


def test_labels_outside_the_label_map_are_errors_naming_the_video(
        anet, tmp_path):
    files, _, label_map = anet
    with open(files.ann_file) as f:
        content = json.load(f)
    database = content['database']
    database['court_C3']['annotations'][1]['label'] = 'Playing cricket'
    database['kayak_A1']['annotations'][0]['segment'] = [4.0, 3.0]
    ann_file = tmp_path / 'anet.json'
    ann_file.write_text(json.dumps(content))
    with pytest.raises(AnnotationError) as error:
        ActivityNetSegmentDataset(
            str(ann_file), [],
            data_prefix=dict(video=files.video_dir),
            label_map_file=label_map)
    message = str(error.value)
    assert f"{ann_file}:court_C3: annotation 1: label 'Playing cricket' is " \
        f'not a class of the label map {label_map}' in message
    assert f'{ann_file}:kayak_A1: annotation 0: segment [4.0, 3.0] s is not ' \
        'an interval' in message
    with pytest.raises(
            AnnotationError,
            match="no annotated segments in "
            r"subset 'testing' \(the file has subsets "
            r"\['training', 'validation'\]\)"):
        build(anet, subset='testing')
    (tmp_path / 'other.json').write_text('{"videos": []}')
    with pytest.raises(AnnotationError, match='no "database"'):
        ActivityNetSegmentDataset(
            str(tmp_path / 'other.json'), [], label_map_file=label_map)


def test_video_file_names_follow_the_templates(anet, tmp_path):
    files = anet[0]
    folder = tmp_path / 'videos'
    folder.mkdir()
    # v_<id>.mp4 first, then <id>.mkv
    (folder / 'kayak_A1.mkv').symlink_to(files.path('kayak_A1'))
    (folder / 'v_court_C3.mp4').symlink_to(files.path('court_C3'))
    (folder / 'court_C3.mkv').symlink_to(files.path('lawn_B2'))
    dataset = build(anet, data_prefix=dict(video=str(folder)))
    paths = {i['video_id']: i['filename'] for i in infos(dataset)}
    assert paths == {
        'kayak_A1': str(folder / 'kayak_A1.mkv'),
        'court_C3': str(folder / 'v_court_C3.mp4')
    }
    dataset = build(
        anet,
        data_prefix=dict(video=str(folder)),
        filename_tmpls=('{}', ),
        extensions=('.mkv', ))
    assert {i['video_id'] for i in infos(dataset)} == {'kayak_A1', 'court_C3'}
    with pytest.raises(AnnotationError, match='cannot list the video folder'):
        build(anet, data_prefix=dict(video=str(tmp_path / 'nowhere')))


def test_decord_init_becomes_the_segment_init():
    pipeline = with_segment_init([dict(TEST_PIPELINE[0], num_threads=2)] +
                                 TEST_PIPELINE[1:])
    assert [t['type'] for t in pipeline
            ] == ['DecordSegmentInit', 'SampleFrames', 'DecordDecode']
    assert pipeline[0]['num_threads'] == 2
    assert with_segment_init(pipeline) == pipeline
    assert with_segment_init([]) == []
    with pytest.raises(ValueError, match='has no DecordInit'):
        with_segment_init([dict(type='PyAVInit')])


def test_segment_frame_range():
    # frames shown in [start, end): frame i at i / fps seconds
    assert segment_frame_range(2.0, 4.0, 30.0, 300) == (60, 120, False)
    assert segment_frame_range(2.01, 4.01, 30.0, 300) == (61, 121, False)
    assert segment_frame_range(0.0, 10.0, 30.0, 300) == (0, 300, False)
    assert segment_frame_range(9.0, 10.02, 30.0, 300) == (270, 300, True)
    # ActivityNet has segments of length 0: one frame
    assert segment_frame_range(0.0, 0.0, 29.97, 300) == (0, 1, False)
    with pytest.raises(ValueError, match='starts at or after the end'):
        segment_frame_range(10.0, 12.0, 30.0, 300)
    with pytest.raises(ValueError, match='not an interval'):
        segment_frame_range(3.0, 2.0, 30.0, 300)


def test_tools_test_reports_per_segment_video_level_metrics(anet, tmp_path):
    """tools/test.py with the ActivityNet config: one video-level prediction
    per validation segment (two of them from one video, with different
    labels), from 10 clips each."""
    from mmengine.config import Config

    from hprotopnet_mm.hierarchy import (ClassHierarchy, embed_hierarchy,
                                         save_embedding)
    from mmaction.registry import MODELS
    files, hierarchy_file, label_map = anet
    hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map)
    embedding = str(tmp_path / 'embedding.pth')
    save_embedding(embedding, embed_hierarchy(hierarchy, dim=16, epochs=50))
    config = osp.join(REPO_ROOT, 'configs', 'activitynet',
                      'hproto_cpg10_r3d18_activitynet.py')
    options = {
        'model.backbone.base_channels': 8,
        'model.cls_head.in_channels': 64,
        'model.cls_head.proto_channels': 16,
        'model.cls_head.num_prototypes_per_class': 2,
        'model.cls_head.num_prototypes_per_ancestor': 2,
        'model.cls_head.num_classes': hierarchy.num_leaves,
        'model.cls_head.hierarchy_file': hierarchy_file,
        'model.cls_head.label_map_file': label_map,
        'model.cls_head.embedding_file': embedding,
        'test_dataloader.dataset.ann_file': files.ann_file,
        'test_dataloader.dataset.data_prefix.video': files.video_dir,
        'test_dataloader.dataset.label_map_file': label_map,
        'test_dataloader.dataset.hierarchy_file': hierarchy_file,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'test_evaluator.hierarchy_file': hierarchy_file,
        'test_evaluator.label_map_file': label_map,
    }
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    checkpoint = str(tmp_path / 'untrained.pth')
    torch.manual_seed(0)
    torch.save(
        dict(state_dict=MODELS.build(cfg.model).state_dict()), checkpoint)
    work_dir = tmp_path / 'work'
    run = subprocess.run(
        [
            sys.executable,
            osp.join(REPO_ROOT, 'tools', 'test.py'), config, checkpoint,
            '--work-dir',
            str(work_dir), '--cfg-options'
        ] + [f'{k}={v}' for k, v in options.items()] +
        ['test_evaluator.hop_map_k=[1,5]'],  # 7 classes
        capture_output=True,
        text=True,
        cwd=REPO_ROOT)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    metrics = json.loads((work_dir / 'metrics.json').read_text())
    # 3 validation segments (2 in water_F6), 10 clips each
    assert metrics['hier/video_vote/num_samples'] == 3
    assert metrics['hier/video_avg/num_samples'] == 3
    assert metrics['hier/clip/num_samples'] == 30
    for mode in ('video_vote', 'video_avg'):
        for name in ('class_acc', 'sibling_acc', 'cousin_acc',
                     'parent_level_acc', 'grandparent_level_acc'):
            value = metrics[f'hier/{mode}/{name}']
            assert value in (0, 1 / 3, 2 / 3, 1), (mode, name, value)
    assert 'hier/video_vote/class_acc' in run.stdout
    assert '(validation): 3 segments of 2 videos' in out
