import csv
import filecmp
import itertools
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from hprotopnet_mm.datasets import (build_toy_hierarchy, make_toy_dataset,
                                    object_track, read_video, render_clip,
                                    render_clip_from_params,
                                    sample_clip_params, write_video)

SMALL = dict(
    train_per_class=2,
    val_per_class=1,
    test_per_class=1,
    ambiguous_per_pair=1,
    size=32,
    num_frames=16,
    fps=8)


@pytest.fixture(scope='module')
def toy_runs(tmp_path_factory):
    """Two runs with seed 0 and one with seed 1, small clips."""
    root = tmp_path_factory.mktemp('toy')
    return (make_toy_dataset(str(root / 'a'), seed=0, **SMALL),
            make_toy_dataset(str(root / 'b'), seed=0, **SMALL),
            make_toy_dataset(str(root / 'c'), seed=1, **SMALL))


def _list_videos(files):
    paths = []
    for list_file in (files.train_list, files.val_list, files.test_list,
                      files.ambiguous_list):
        with open(list_file) as f:
            paths += [line.split()[0] for line in f]
    return paths


def test_same_seed_gives_identical_files_other_seed_other_frames(toy_runs):
    a, b, c = toy_runs
    for file_a, file_b in zip(a.files, b.files):
        assert filecmp.cmp(file_a, file_b, shallow=False), file_a
    videos = _list_videos(a)
    assert len(videos) == a.num_videos == 12 * 2 + 12 * 1 + 12 * 1 + 6 * 1
    for name in videos:
        path_a = osp.join(a.video_root, name)
        path_b = osp.join(b.video_root, name)
        assert filecmp.cmp(path_a, path_b, shallow=False), name
        frames_a, frames_b = read_video(path_a), read_video(path_b)
        np.testing.assert_array_equal(frames_a, frames_b)
        # Same names and labels with another seed, but other clips.
        frames_c = read_video(osp.join(c.video_root, name))
        assert frames_c.shape == frames_a.shape
        assert not np.array_equal(frames_a, frames_c), name
    assert filecmp.cmp(a.train_list, c.train_list, shallow=False)


def test_videos_decode_with_all_frames_close_to_render(toy_runs, tmp_path):
    a = toy_runs[0]
    frames = read_video(osp.join(a.video_root, _list_videos(a)[0]))
    assert frames.shape == (16, 32, 32, 3) and frames.dtype == np.uint8

    clip = render_clip(build_toy_hierarchy(), 3, np.random.default_rng(5))
    path = str(tmp_path / 'clip.mp4')
    write_video(path, clip, fps=8)
    decoded = read_video(path)
    assert decoded.shape == clip.shape == (32, 64, 64, 3)
    # Lossy codec, but the same picture.
    error = np.abs(decoded.astype(np.int16) - clip).mean()
    assert error < 10, error


def test_hierarchy_files_are_consistent(toy_runs):
    a = toy_runs[0]
    with open(a.label_map) as f:
        label_map = f.read().splitlines()
    with open(a.hierarchy, newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['leaf', 'parent', 'grandparent']
    rows = rows[1:]
    assert [row[0] for row in rows] == label_map
    assert len(set(label_map)) == len(label_map) == 12
    assert all(len(row) == 3 for row in rows)
    parents = {row[1]: row[2] for row in rows}  # one grandparent per parent
    for leaf, parent, grandparent in rows:
        assert parents[parent] == grandparent
        assert leaf.startswith(parent + '_'), leaf
    assert len(parents) == 6 and len(set(parents.values())) == 3
    # Every list line names an existing video and labels of the label map.
    for list_file in (a.train_list, a.val_list, a.test_list, a.ambiguous_list):
        with open(list_file) as f:
            for line in f:
                name, *labels = line.split()
                assert osp.isfile(osp.join(a.video_root, name)), name
                assert all(0 <= int(label) < 12 for label in labels)
    with open(a.train_list) as f:
        for line in f:
            name, label = line.split()
            leaf, k = name[len('train/'):-len('.mp4')].rsplit('_', 1)
            assert leaf == label_map[int(label)] and k.isdigit(), line
    with open(a.ambiguous_list) as f:
        pairs = [tuple(map(int, line.split()[1:])) for line in f]
    assert len(pairs) == 6
    assert all(rows[i][1] == rows[j][1] and i != j for i, j in pairs)

    from hprotopnet_mm.hierarchy.class_hierarchy import ClassHierarchy
    hierarchy = ClassHierarchy.from_files(a.hierarchy, a.label_map)
    assert hierarchy.level_names == ('leaf', 'parent', 'grandparent')
    assert [len(hierarchy.level_node_ids(level)) for level in range(3)] == \
        [12, 6, 3]
    assert hierarchy.node_names[:12] == label_map


def test_mmaction_video_dataset_reads_the_lists(toy_runs):
    from mmaction.datasets import VideoDataset
    from mmaction.utils import register_all_modules
    register_all_modules()
    a = toy_runs[0]
    pipeline = [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, 64)),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    dataset = VideoDataset(
        a.train_list, pipeline, data_prefix=dict(video=a.video_root))
    assert len(dataset) == 24
    for index in (0, 23):
        sample = dataset[index]
        assert tuple(sample['inputs'].shape) == (1, 3, 16, 64, 64)
        assert int(sample['data_samples'].gt_label) == index // 2
    ambiguous = VideoDataset(
        a.ambiguous_list,
        pipeline,
        data_prefix=dict(video=a.video_root),
        multi_class=True,
        num_classes=12)
    sample = ambiguous[1]
    assert tuple(sample['inputs'].shape) == (1, 3, 16, 64, 64)
    assert sample['data_samples'].gt_label.nonzero().flatten().tolist() == \
        [2, 3]


def test_splits_are_independent_draws(toy_runs):
    """Train, val and test clips of one leaf and index come from different
    child seeds: no clip of one split reappears in another."""
    a = toy_runs[0]
    names = {}
    for split in ('train', 'val', 'test'):
        with open(getattr(a, f'{split}_list')) as f:
            names[split] = [line.split()[0] for line in f]
        assert all(name.startswith(split + '/') for name in names[split])
    # Same leaf, same index k = 0 in every split: three different clips.
    stem = names['test'][0][len('test/'):]
    frames = [
        read_video(osp.join(a.video_root, split, stem))
        for split in ('train', 'val', 'test')
    ]
    for x, y in itertools.combinations(frames, 2):
        assert not np.array_equal(x[0], y[0])
    # Their object tracks differ too (start, amplitude, period, phase).
    from hprotopnet_mm.datasets.toy_dataset import toy_object_track
    tracks = [
        toy_object_track(f'{split}/{stem}', size=32, num_frames=16)[1]
        for split in ('train', 'val', 'test')
    ]
    for x, y in itertools.combinations(tracks, 2):
        assert not np.allclose(x, y)
    with pytest.raises(ValueError, match='split one of train, val, test'):
        toy_object_track(f'ambiguous/{stem}')


def test_first_frame_does_not_depend_on_the_leaf():
    hierarchy = build_toy_hierarchy()
    for leaf in range(hierarchy.num_leaves):
        for sibling in hierarchy.siblings(leaf):
            clip = render_clip(
                hierarchy,
                leaf,
                np.random.default_rng(leaf),
                size=32,
                num_frames=12)
            other = render_clip(
                hierarchy,
                sibling,
                np.random.default_rng(leaf),
                size=32,
                num_frames=12)
            # Same random draw: same first frame, different motion later.
            np.testing.assert_array_equal(clip[0], other[0])
            assert not np.array_equal(clip[1:], other[1:])
    # The start position is drawn before, and without, the class.
    rng = np.random.default_rng(0)
    for _ in range(50):
        params = sample_clip_params(rng, size=32, num_frames=12)
        for leaf in range(hierarchy.num_leaves):
            track = object_track(hierarchy, leaf, params)
            assert tuple(track[0]) == params.start


def _signed_area(track):
    x, y = track[:, 0], track[:, 1]
    return 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)


def test_motion_tells_siblings_apart_and_stays_in_frame():
    hierarchy = build_toy_hierarchy()
    names = hierarchy.leaf_names
    rng = np.random.default_rng(1)
    for _ in range(30):
        params = sample_clip_params(rng, size=64, num_frames=32)
        tracks = {
            name: object_track(hierarchy, leaf, params)
            for leaf, name in enumerate(names)
        }
        for track in tracks.values():
            radius = params.object_radius * 1.15
            assert track.min() >= radius and track.max() <= 64 - radius
        spread = {
            name: np.ptp(track, axis=0)
            for name, track in tracks.items()
        }
        horizontal = spread['red_square_slide_horizontal']
        vertical = spread['red_square_slide_vertical']
        assert horizontal[1] == 0 and horizontal[0] > 0
        assert vertical[0] == 0 and vertical[1] > 0
        # Image y points down: clockwise on screen is a positive area.
        assert _signed_area(tracks['blue_disk_circle_clockwise']) > 0
        assert _signed_area(tracks['blue_disk_circle_counterclockwise']) < 0
        # The jerky sway spends more frames near its ends.
        ends = {}
        for name in ('green_triangle_sway_smooth',
                     'green_triangle_sway_jerky'):
            x = tracks[name][:, 0]
            centre = x - x.mean()
            ends[name] = np.mean(np.abs(centre) > 0.7 * params.amplitude)
        assert ends['green_triangle_sway_jerky'] > \
            ends['green_triangle_sway_smooth']
        # Half-and-half mixing lies between the two siblings.
        mixed = object_track(hierarchy, 0, params, sibling=1, weight=0.5)
        np.testing.assert_allclose(mixed,
                                   (tracks[names[0]] + tracks[names[1]]) / 2)


def test_siblings_look_more_alike_than_cousins():
    """Translation-invariant first-frame statistic over independent clips.

    The mean amplitude spectrum of the first frames of each leaf; siblings
    share scene and object (and the first-frame distribution), cousins only
    the scene, other leaves nothing.
    """
    hierarchy = build_toy_hierarchy()
    spectra = []
    for leaf in range(hierarchy.num_leaves):
        frames = np.stack([
            render_clip(
                hierarchy,
                leaf,
                np.random.default_rng([leaf, k]),
                size=32,
                num_frames=1)[0] for k in range(24)
        ]).astype(np.float32)
        spectra.append(np.abs(np.fft.fft2(frames, axes=(1, 2))).mean(0))
    distance = {'siblings': [], 'cousins': [], 'other scenes': []}
    for i, j in itertools.combinations(range(hierarchy.num_leaves), 2):
        a, b = hierarchy.leaves[i], hierarchy.leaves[j]
        key = ('siblings' if a.parent == b.parent else
               'cousins' if a.grandparent == b.grandparent else 'other scenes')
        distance[key].append(np.abs(spectra[i] - spectra[j]).mean())
    assert max(distance['siblings']) < min(distance['cousins'])
    assert max(distance['cousins']) < min(distance['other scenes'])
    # Same random draw, pixel space: siblings are equal at frame 0, cousins
    # differ by the object, other scenes by the whole background.
    params = sample_clip_params(np.random.default_rng(3), 32, 1)
    first = [
        render_clip_from_params(hierarchy, leaf, params)[0].astype(int)
        for leaf in (0, 1, 2, 4)
    ]
    mad = [np.abs(first[0] - other).mean() for other in first[1:]]
    assert mad[0] == 0 < mad[1] < mad[2]


def test_bad_input_is_rejected(tmp_path):
    hierarchy = build_toy_hierarchy()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='not a sibling'):
        render_clip(hierarchy, 0, rng, sibling=2, weight=0.5)
    with pytest.raises(ValueError, match='needs a sibling'):
        render_clip(hierarchy, 0, rng, weight=0.5)
    with pytest.raises(IndexError, match='outside the toy hierarchy'):
        render_clip(hierarchy, 12, rng)
    with pytest.raises(ValueError, match='even int'):
        render_clip(hierarchy, 0, rng, size=33)
    with pytest.raises(ValueError, match='exceeds the 8 distinct objects'):
        build_toy_hierarchy(num_grandparents=3, num_parents=3)
    with pytest.raises(ValueError, match='uint8'):
        write_video(str(tmp_path / 'x.mp4'), np.zeros((2, 8, 8, 3)))
    (tmp_path / 'train_list.txt').write_text('')
    with pytest.raises(FileExistsError, match='train_list.txt'):
        make_toy_dataset(str(tmp_path), **SMALL)


def test_cli_writes_the_dataset(tmp_path):
    out = tmp_path / 'toy'
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'make_toy_dataset.py'), '--out',
        str(out), '--train-per-class', '1', '--val-per-class', '1',
        '--test-per-class', '1', '--ambiguous-per-pair', '0', '--size', '16',
        '--frames', '4'
    ],
                            capture_output=True,
                            text=True,
                            check=True)
    assert 'wrote 36 videos' in result.stdout
    assert re.search(r'done in \d+\.\d s', result.stdout), result.stdout
    assert sorted(os.listdir(out)) == [
        'ambiguous_list.txt', 'hierarchy.csv', 'label_map.txt',
        'test_list.txt', 'train_list.txt', 'val_list.txt', 'videos'
    ]
    assert (out / 'ambiguous_list.txt').read_text() == ''
    again = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'make_toy_dataset.py'), '--out',
        str(out)
    ],
                           capture_output=True,
                           text=True)
    assert again.returncode != 0 and 'already exists' in again.stderr
    (out / 'videos' / 'train' / 'stale.mp4').write_bytes(b'')
    subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'make_toy_dataset.py'), '--out',
        str(out), '--train-per-class', '2', '--val-per-class', '1',
        '--ambiguous-per-pair', '0', '--size', '16', '--frames', '4',
        '--overwrite'
    ],
                   capture_output=True,
                   text=True,
                   check=True)
    assert len(os.listdir(out / 'videos' / 'train')) == 24
    assert len((out / 'train_list.txt').read_text().splitlines()) == 24
    # The tree's shape: 2 scenes x 2 objects x 3 motions.
    subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'make_toy_dataset.py'), '--out',
        str(out), '--train-per-class', '1', '--val-per-class', '1',
        '--test-per-class', '1', '--ambiguous-per-pair', '0', '--size', '16',
        '--frames', '4', '--grandparents', '2', '--parents', '2', '--leaves',
        '3', '--overwrite'
    ],
                   capture_output=True,
                   text=True,
                   check=True)
    assert len((out / 'label_map.txt').read_text().splitlines()) == 12
    assert (out / 'hierarchy.csv').read_text().count('slide_diagonal') == 2
    bad = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'make_toy_dataset.py'), '--out',
        str(tmp_path / 'bad'), '--leaves', '4'
    ],
                         capture_output=True,
                         text=True)
    assert bad.returncode != 0
    assert 'num_leaves must lie in [2, 3], got 4' in bad.stderr
