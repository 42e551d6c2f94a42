"""CheckedVideoDataset: bad videos and labels are reported with the
annotation file, line and video before training starts, or skipped on
request."""
import logging
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import pytest

from conftest import REPO_ROOT
from hprotopnet_mm.datasets import (AnnotationError, CheckedVideoDataset,
                                    checked_video_dataset, video_probe)
from hprotopnet_mm.hierarchy import HierarchyError

# the toy clip names: <split>/<leaf>_<k>.mp4
TOY_PATTERN = r'(?P<class>[^/]+)_\d+\.mp4$'


@pytest.fixture
def bad_videos(toy_data, tmp_path):
    """A truncated mp4 and a video without frames next to the toy clips,
    and a writer of annotation lists."""
    folder = tmp_path / 'videos'
    folder.mkdir()
    source = osp.join(toy_data.video_root, first_video(toy_data))
    with open(source, 'rb') as f:
        data = f.read()
    with open(folder / 'truncated.mp4', 'wb') as f:
        f.write(data[:len(data) // 2])
    writer = cv2.VideoWriter(
        str(folder / 'no_frames.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 8,
        (64, 64))
    writer.release()
    assert osp.getsize(folder / 'no_frames.mp4') > 0
    return folder


def first_video(toy):
    with open(toy.train_list) as f:
        return f.readline().split()[0]


def train_lines(toy):
    with open(toy.train_list) as f:
        return f.read().splitlines()


def write_list(path, lines):
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return str(path)


def dataset(toy, ann_file, **kwargs):
    kwargs.setdefault('data_prefix', dict(video=toy.video_root))
    return CheckedVideoDataset(ann_file, pipeline=[], **kwargs)


def test_good_list_loads_like_video_dataset(toy_data, capsys):
    from mmaction.datasets import VideoDataset
    checked = dataset(
        toy_data,
        toy_data.train_list,
        label_map_file=toy_data.label_map,
        hierarchy_file=toy_data.hierarchy,
        path_class_pattern=TOY_PATTERN)
    plain = VideoDataset(
        toy_data.train_list, [], data_prefix=dict(video=toy_data.video_root))
    assert len(checked) == len(plain) == 24
    for i in range(len(plain)):
        assert checked[i]['filename'] == plain[i]['filename']
        assert checked[i]['label'] == plain[i]['label']
        assert checked[i]['ann_line'] == i + 1
    assert checked.num_classes == 12 and checked.skipped == []
    assert '24/24' in capsys.readouterr().out  # the progress bar


def test_missing_truncated_and_empty_videos_are_named(toy_data, bad_videos,
                                                      tmp_path):
    lines = train_lines(toy_data)
    lines[2] = 'train/not_there_0.mp4 1'
    lines[6] = f'{bad_videos}/truncated.mp4 3'  # absolute: prefix ignored
    lines.append(f'{bad_videos}/no_frames.mp4 11')
    ann_file = write_list(tmp_path / 'train.txt', lines)
    with pytest.raises(AnnotationError) as err:
        dataset(toy_data, ann_file)
    message = str(err.value)
    assert f'{ann_file}: 3 of 25 listed videos are unusable' in message
    missing = osp.join(toy_data.video_root, 'train', 'not_there_0.mp4')
    assert f'{ann_file}:3: {missing}: file not found' in message
    assert f'{ann_file}:7: {bad_videos}/truncated.mp4: decord cannot ' \
        'open it' in message
    assert f'{ann_file}:25: {bad_videos}/no_frames.mp4: decord cannot ' \
        'open it: cannot find video stream' in message
    assert "on_bad_video='skip'" in message


def test_too_few_frames(toy_data, tmp_path):
    ann_file = write_list(tmp_path / 'train.txt', train_lines(toy_data)[:2])
    with pytest.raises(
            AnnotationError,
            match=r'train.txt:1: .*_0.mp4: has 32 frame\(s\), '
            'fewer than min_frames=33'):
        dataset(toy_data, ann_file, min_frames=33)
    assert len(dataset(toy_data, ann_file, min_frames=32)) == 2


def test_skip_mode_leaves_bad_videos_out_and_lists_them(
        toy_data, bad_videos, tmp_path):
    from mmengine.logging import MMLogger
    lines = train_lines(toy_data)
    lines.insert(4, f'{bad_videos}/truncated.mp4 2')
    lines.append('train/not_there_0.mp4 5')
    ann_file = write_list(tmp_path / 'train.txt', lines)
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    try:
        checked = dataset(toy_data, ann_file, on_bad_video='skip')
    finally:
        logger.removeHandler(handler)
    assert len(checked) == 24
    assert [info['filename'] for info in checked.skipped] == [
        f'{bad_videos}/truncated.mp4',
        osp.join(toy_data.video_root, 'train', 'not_there_0.mp4')
    ]
    assert all('not_there' not in checked[i]['filename']
               and 'truncated' not in checked[i]['filename']
               for i in range(len(checked)))
    warnings = [
        r.getMessage() for r in handler.records if r.levelname == 'WARNING'
    ]
    assert len(warnings) == 1
    assert f'{ann_file}: skipping 2 of 26 videos' in warnings[0]
    assert f'{ann_file}:5: {bad_videos}/truncated.mp4' in warnings[0]
    assert f'{ann_file}:26: ' in warnings[0]


def test_skip_mode_with_no_usable_video_is_an_error(toy_data, bad_videos,
                                                    tmp_path):
    ann_file = write_list(tmp_path / 'train.txt',
                          [f'{bad_videos}/truncated.mp4 0'])
    with pytest.raises(
            AnnotationError, match='every listed video is unusable'):
        dataset(toy_data, ann_file, on_bad_video='skip')


def test_label_out_of_range(toy_data, tmp_path):
    lines = train_lines(toy_data)
    lines[4] = lines[4].split()[0] + ' 12'
    lines[9] = lines[9].split()[0] + ' -1'
    ann_file = write_list(tmp_path / 'train.txt', lines)
    for source in (dict(num_classes=12),
                   dict(label_map_file=toy_data.label_map),
                   dict(
                       label_map_file=toy_data.label_map,
                       hierarchy_file=toy_data.hierarchy)):
        with pytest.raises(AnnotationError) as err:
            dataset(toy_data, ann_file, **source)
        message = str(err.value)
        assert f'{ann_file}: 2 line(s) with labels that are not classes' \
            in message
        video = lines[4].split()[0]
        assert f'{ann_file}:5: {video}: label(s) [12] outside [0, 11], ' \
            'the 12 classes' in message
        assert f'{ann_file}:10: ' in message and '[-1]' in message
    # without a number of classes only negative labels are wrong
    with pytest.raises(AnnotationError) as err:
        dataset(toy_data, ann_file)
    assert f'{ann_file}: 1 line(s)' in str(err.value)
    assert f'{ann_file}:10: ' in str(err.value)
    assert 'negative label(s) [-1]' in str(err.value)


def test_label_beyond_a_smaller_hierarchy(toy_data, tmp_path):
    """The list has 12 classes, the hierarchy only the first 6 leaves."""
    names = open(toy_data.label_map).read().split()
    label_map = write_list(tmp_path / 'labels.txt', names[:6])
    rows = open(toy_data.hierarchy).read().splitlines()
    hierarchy = write_list(tmp_path / 'hierarchy.csv', rows[:7])
    with pytest.raises(
            AnnotationError,
            match=r'train_list.txt:13: .* label\(s\) \[6\] '
            r'outside \[0, 5\], the 6 classes'):
        dataset(
            toy_data,
            toy_data.train_list,
            label_map_file=label_map,
            hierarchy_file=hierarchy)


def test_label_map_the_hierarchy_lacks(toy_data, tmp_path):
    names = open(toy_data.label_map).read().split()
    label_map = write_list(tmp_path / 'labels.txt',
                           names[:7] + ['Juggling'] + names[8:])
    with pytest.raises(
            HierarchyError,
            match=r"labels.txt, line 8: class 'Juggling' of the "
            'label map is not a leaf of the hierarchy'):
        dataset(
            toy_data,
            toy_data.train_list,
            label_map_file=label_map,
            hierarchy_file=toy_data.hierarchy)


def test_class_name_in_the_path_must_be_the_labels(toy_data, tmp_path):
    """A list whose label indices follow another label map: the names in
    the paths give it away."""
    names = open(toy_data.label_map).read().split()
    swapped = [names[1], names[0]] + names[2:]
    label_map = write_list(tmp_path / 'labels.txt', swapped)
    with pytest.raises(AnnotationError) as err:
        dataset(
            toy_data,
            toy_data.train_list,
            label_map_file=label_map,
            path_class_pattern=TOY_PATTERN)
    message = str(err.value)
    assert '4 line(s) with labels' in message
    assert (f'train_list.txt:1: train/{names[0]}_0.mp4: class {names[0]!r} '
            f'in the path, but label 0 is {names[1]!r} in the label map'
            in message)
    lines = train_lines(toy_data)
    lines[0] = 'train/clip_without_class.avi 0'
    ann_file = write_list(tmp_path / 'train.txt', lines)
    with pytest.raises(
            AnnotationError,
            match=r'train.txt:1: train/clip_without_class.avi: '
            'path does not match path_class_pattern'):
        dataset(
            toy_data,
            ann_file,
            label_map_file=toy_data.label_map,
            path_class_pattern=TOY_PATTERN,
            check_videos=False)


def test_malformed_lines(toy_data, tmp_path):
    lines = train_lines(toy_data)
    lines[1] = ''
    lines[3] = lines[3] + ' 4'
    lines[5] = lines[5].split()[0] + ' walking'
    lines[7] = lines[7].split()[0]  # no label: only for test lists
    ann_file = write_list(tmp_path / 'train.txt', lines)
    with pytest.raises(AnnotationError) as err:
        dataset(toy_data, ann_file)
    message = str(err.value)
    assert f'{ann_file}: 3 malformed line(s)' in message
    assert f'{ann_file}:2: empty line' in message
    assert f'{ann_file}:4: ' in message and '3 fields' in message
    assert f'{ann_file}:6: ' in message and "['walking'] are not " \
        'integers' in message
    del lines[1], lines[2], lines[3]  # the malformed ones; no label stays
    ann_file = write_list(tmp_path / 'train.txt', lines)
    with pytest.raises(
            AnnotationError,
            match=r'train.txt:5: .*: no label \(only test lists'):
        dataset(toy_data, ann_file)
    assert len(dataset(toy_data, ann_file, test_mode=True)) == 21


def test_check_videos_false_opens_nothing(toy_data, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(checked_video_dataset, 'probe_videos',
                        lambda paths, *args: opened.extend(paths))
    lines = train_lines(toy_data) + ['train/not_there_0.mp4 0']
    ann_file = write_list(tmp_path / 'train.txt', lines)
    assert len(dataset(toy_data, ann_file, check_videos=False)) == 25
    assert opened == []
    lines[-1] = 'train/not_there_0.mp4 12'  # labels are still checked
    ann_file = write_list(tmp_path / 'train.txt', lines)
    with pytest.raises(AnnotationError, match=r'train.txt:25: '):
        dataset(toy_data, ann_file, check_videos=False, num_classes=12)


def test_checked_videos_are_not_opened_again_until_they_change(
        toy_data, tmp_path, monkeypatch):
    """Datasets rebuilt during training (projection, last-layer phase)
    cost no decoding; a replaced file is checked again."""
    folder = tmp_path / 'videos'
    shutil.copytree(toy_data.video_root, folder)
    lines = train_lines(toy_data)[:5]
    ann_file = write_list(tmp_path / 'train.txt', lines)
    log = tmp_path / 'opened.txt'  # written by the checking processes
    real = video_probe.video_meta

    def count(path):
        with open(log, 'a') as f:
            f.write(path + '\n')
        return real(path)

    def opened():
        return log.read_text().split() if log.exists() else []

    monkeypatch.setattr(video_probe, 'video_meta', count)
    dataset(toy_data, ann_file, data_prefix=dict(video=str(folder)))
    assert len(opened()) == 5
    dataset(toy_data, ann_file, data_prefix=dict(video=str(folder)))
    assert len(opened()) == 5
    changed = folder / lines[0].split()[0]
    with open(changed, 'rb') as f:
        data = f.read()
    with open(changed, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(AnnotationError, match=r'train.txt:1: .*decord'):
        dataset(toy_data, ann_file, data_prefix=dict(video=str(folder)))
    assert opened()[5:] == [str(changed)]


def test_options_are_validated(toy_data):
    with pytest.raises(
            ValueError,
            match="on_bad_video must be 'error' or "
            "'skip', got 'ignore'"):
        dataset(toy_data, toy_data.train_list, on_bad_video='ignore')
    for ratio in (-0.1, 1.5, '0.1', True):
        with pytest.raises(
                ValueError,
                match='max_bad_ratio must be a number '
                r'in \[0, 1\], got'):
            dataset(toy_data, toy_data.train_list, max_bad_ratio=ratio)
    with pytest.raises(ValueError, match='needs the label_map_file'):
        dataset(
            toy_data, toy_data.train_list, hierarchy_file=toy_data.hierarchy)
    with pytest.raises(ValueError, match='has no group named "class"'):
        dataset(
            toy_data,
            toy_data.train_list,
            label_map_file=toy_data.label_map,
            path_class_pattern='x')
    with pytest.raises(ValueError, match='num_classes=10 but'):
        dataset(
            toy_data,
            toy_data.train_list,
            num_classes=10,
            label_map_file=toy_data.label_map)


def test_project_dataset_configs_use_the_checked_dataset():
    from mmengine.config import Config

    from mmaction.registry import DATASETS

    # ActivityNet's configs skip the many videos gone from YouTube, listed
    for name, on_bad_video in (('toy', 'error'), ('ucf101', 'error'),
                               ('activitynet', 'skip')):
        cfg = Config.fromfile(
            osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', f'{name}.py'))
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                       'projection_dataloader'):
            assert issubclass(
                DATASETS.get(cfg[loader].dataset.type), CheckedVideoDataset)
            assert cfg[loader].dataset.check_videos is True
            assert cfg[loader].dataset.on_bad_video == on_bad_video


def test_ucf101_class_folders_match_the_shipped_label_map(tmp_path):
    """MMAction2's UCF-101 lists name videos <Class>/v_<Class>_gXX_cXX.avi
    with labels in classInd.txt order."""
    from mmengine.config import Config

    from mmaction.registry import DATASETS
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'ucf101.py'))
    names = open(osp.join(REPO_ROOT, cfg.label_map_file)).read().split()
    lines = [
        f'{name}/v_{name}_g01_c01.avi {label}'
        for label, name in enumerate(names)
    ]
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(
        ann_file=write_list(tmp_path / 'list.txt', lines),
        data_prefix=dict(video=str(tmp_path)),
        check_videos=False)
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)  # the config's hierarchy paths are relative
    try:
        assert len(DATASETS.build(dataset_cfg)) == 101
        lines[0] = lines[0].replace(' 0', ' 1')
        dataset_cfg.ann_file = write_list(tmp_path / 'list.txt', lines)
        with pytest.raises(
                AnnotationError,
                match="class 'ApplyEyeMakeup' in the path, but "
                "label 1 is 'ApplyLipstick'"):
            DATASETS.build(dataset_cfg)
    finally:
        os.chdir(cwd)


def test_train_stops_before_the_first_iteration(toy_data, tmp_path):
    lines = train_lines(toy_data)
    lines[10] = 'train/not_there_0.mp4 5'
    ann_file = write_list(tmp_path / 'train.txt', lines)
    config = osp.join(REPO_ROOT, 'configs', 'toy', 'i3d_r3d18_toy.py')
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
        str(tmp_path / 'work'), '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.ann_file={ann_file}',
        f'train_dataloader.dataset.data_prefix.video={toy_data.video_root}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'model.backbone.base_channels=8', 'model.cls_head.in_channels=32'
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    missing = osp.join(toy_data.video_root, 'train', 'not_there_0.mp4')
    assert f'train.py: error: {ann_file}: 1 of 24 listed videos are ' \
        'unusable' in log, log[-3000:]
    assert 'Traceback' not in log
    assert f'{ann_file}:11: {missing}: file not found' in log
    assert 'Epoch(train)' not in log


class _Records(logging.Handler):
    """A logging handler that keeps the records."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)
