"""Write the toy action dataset: mp4 clips, MMAction2 lists and the tree.

Layout under ``out_dir`` (every list path is relative to ``out_dir/videos``,
the ``data_prefix`` of :class:`mmaction.datasets.VideoDataset`)::

    videos/train/<leaf>_<k>.mp4   listed in train_list.txt as
                                  "train/<leaf>_<k>.mp4 <label>"
    videos/val/<leaf>_<k>.mp4     listed in val_list.txt as
                                  "val/<leaf>_<k>.mp4 <label>"
    videos/test/<leaf>_<k>.mp4    listed in test_list.txt as
                                  "test/<leaf>_<k>.mp4 <label>"
    videos/ambiguous/<name>.mp4   listed in ambiguous_list.txt as
                                  "ambiguous/<name>.mp4 <label_a> <label_b>"
    label_map.txt                 one leaf name per line, label == line index
    hierarchy.csv                 "leaf,parent,grandparent", one row per leaf

Each clip draws its randomness from its own child seed,
``SeedSequence(seed, spawn_key=(split, ...))``, so a clip does not change
when other clips are added and equal seeds give byte-identical files. The
three labelled splits draw from disjoint keys, so train, val (for choices
such as the schedule) and test (for the reported figures) are independent
draws of the same distribution.
Ambiguous clips mix the motions of two sibling leaves half and half.
"""
import csv
import os
import shutil
from dataclasses import dataclass, replace
from typing import Tuple

import numpy as np

from .toy_hierarchy import LEVEL_NAMES, build_toy_hierarchy
from .toy_videos import (check_clip_size, object_track, render_clip,
                         sample_clip_params, write_video)

_SPLIT_KEYS = {'train': 0, 'val': 1, 'ambiguous': 2, 'test': 3}
LABELLED_SPLITS = ('train', 'val', 'test')
AMBIGUOUS_WEIGHT = 0.5


@dataclass(frozen=True)
class ToyDatasetFiles:
    """Paths of a written toy dataset (all absolute)."""
    root: str
    video_root: str
    train_list: str
    val_list: str
    test_list: str
    ambiguous_list: str
    label_map: str
    hierarchy: str
    num_videos: int

    @property
    def files(self) -> Tuple[str, ...]:
        """The annotation, label-map and hierarchy files."""
        return (self.train_list, self.val_list, self.test_list,
                self.ambiguous_list, self.label_map, self.hierarchy)


def clip_rng(seed: int, split: str, *key: int) -> np.random.Generator:
    """The generator of one clip, a child of ``seed`` keyed by split/key."""
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(_SPLIT_KEYS[split], *key)))


def _write_lines(path: str, lines) -> None:
    with open(path, 'w', newline='\n') as f:
        f.writelines(line + '\n' for line in lines)


def _check_count(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f'{name} must be an int >= {low}, got {value!r}')


def make_toy_dataset(out_dir: str,
                     seed: int = 0,
                     train_per_class: int = 32,
                     val_per_class: int = 6,
                     test_per_class: int = 6,
                     size: int = 64,
                     num_frames: int = 32,
                     fps: float = 8,
                     num_grandparents: int = 3,
                     num_parents: int = 2,
                     num_leaves: int = 2,
                     ambiguous_per_pair: int = 2,
                     overwrite: bool = False) -> ToyDatasetFiles:
    """Generate the toy dataset under ``out_dir`` (layout: module doc).

    Args:
        out_dir (str): Output folder, created if missing.
        seed (int): Non-negative root seed.
        train_per_class (int): Training clips per leaf.
        val_per_class (int): Validation clips per leaf.
        test_per_class (int): Test clips per leaf.
        size (int): Frame side in pixels, even and >= 16.
        num_frames (int): Frames per clip.
        fps (float): Frame rate stored in the mp4 files.
        num_grandparents (int): Background scenes.
        num_parents (int): Objects per scene.
        num_leaves (int): Motions per object.
        ambiguous_per_pair (int): Ambiguous clips per pair of adjacent
            siblings (0 writes an empty list).
        overwrite (bool): Replace the outputs of an earlier run in
            ``out_dir``; without it existing outputs raise an error.

    Returns:
        ToyDatasetFiles: Paths of what was written.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    _check_count('train_per_class', train_per_class, 1)
    _check_count('val_per_class', val_per_class, 1)
    _check_count('test_per_class', test_per_class, 1)
    _check_count('ambiguous_per_pair', ambiguous_per_pair, 0)
    check_clip_size(size, num_frames)
    if not fps > 0:
        raise ValueError(f'fps must be positive, got {fps}')
    hierarchy = build_toy_hierarchy(num_grandparents, num_parents, num_leaves)
    root = os.path.abspath(out_dir)
    video_root = os.path.join(root, 'videos')
    files = ToyDatasetFiles(
        root=root,
        video_root=video_root,
        train_list=os.path.join(root, 'train_list.txt'),
        val_list=os.path.join(root, 'val_list.txt'),
        test_list=os.path.join(root, 'test_list.txt'),
        ambiguous_list=os.path.join(root, 'ambiguous_list.txt'),
        label_map=os.path.join(root, 'label_map.txt'),
        hierarchy=os.path.join(root, 'hierarchy.csv'),
        num_videos=0)
    existing = [p for p in (video_root, *files.files) if os.path.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(f'{existing[0]} already exists; pass '
                              'overwrite=True to replace the toy dataset')
    if os.path.isdir(video_root):
        shutil.rmtree(video_root)
    os.makedirs(root, exist_ok=True)

    num_videos = 0
    for split, per_class in zip(LABELLED_SPLITS,
                                (train_per_class, val_per_class,
                                 test_per_class)):
        os.makedirs(os.path.join(video_root, split))
        lines = []
        for label, leaf in enumerate(hierarchy.leaves):
            for k in range(per_class):
                name = f'{split}/{leaf.name}_{k}.mp4'
                clip = render_clip(
                    hierarchy,
                    label,
                    clip_rng(seed, split, label, k),
                    size=size,
                    num_frames=num_frames)
                write_video(os.path.join(video_root, name), clip, fps)
                lines.append(f'{name} {label}')
        _write_lines(getattr(files, f'{split}_list'), lines)
        num_videos += len(lines)

    os.makedirs(os.path.join(video_root, 'ambiguous'))
    lines = []
    for label_a, leaf_a in enumerate(hierarchy.leaves):
        # Pair each leaf with the next sibling, so every adjacent pair once.
        label_b = label_a + 1
        if label_b not in hierarchy.siblings(label_a):
            continue
        leaf_b = hierarchy.leaves[label_b]
        for k in range(ambiguous_per_pair):
            name = (f'ambiguous/{leaf_a.name}_vs_{leaf_b.motion.name}_{k}'
                    '.mp4')
            clip = render_clip(
                hierarchy,
                label_a,
                clip_rng(seed, 'ambiguous', label_a, k),
                sibling=label_b,
                weight=AMBIGUOUS_WEIGHT,
                size=size,
                num_frames=num_frames)
            write_video(os.path.join(video_root, name), clip, fps)
            lines.append(f'{name} {label_a} {label_b}')
    _write_lines(files.ambiguous_list, lines)
    num_videos += len(lines)

    _write_lines(files.label_map, hierarchy.leaf_names)
    with open(files.hierarchy, 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(LEVEL_NAMES)
        writer.writerows(hierarchy.rows())
    return replace(files, num_videos=num_videos)


def toy_object_track(video: str,
                     seed: int = 0,
                     size: int = 64,
                     num_frames: int = 32) -> Tuple[int, np.ndarray]:
    """Label and object centres of a labelled clip of the toy dataset.

    The clip is identified by its list path, ``<split>/<leaf>_<k>.mp4``
    (any folder before it is ignored), and redrawn from its child seed, so
    the centres are those :func:`make_toy_dataset` drew with the same
    ``seed``, ``size`` and ``num_frames``.

    Args:
        video (str): Path of the clip.
        seed (int): Root seed of the dataset. Defaults to 0.
        size (int): Frame side of the dataset. Defaults to 64.
        num_frames (int): Frames per clip of the dataset. Defaults to 32.

    Returns:
        tuple: The leaf label and the (num_frames, 2) (x, y) object centres
        in pixels of the video's frames.

    Raises:
        ValueError: If the path is not a train, val or test clip of the toy
            dataset.
    """
    parts = os.path.normpath(video).split(os.sep)
    split, stem = (parts[-2], os.path.splitext(parts[-1])[0]) \
        if len(parts) >= 2 else (None, '')
    leaf_name, _, k = stem.rpartition('_')
    hierarchy = build_toy_hierarchy()
    if split not in LABELLED_SPLITS or not k.isdigit() \
            or leaf_name not in hierarchy.leaf_names:
        raise ValueError(f'{video}: not a labelled clip of the toy dataset '
                         f'(<split>/<leaf>_<k>.mp4, split one of '
                         f'{", ".join(LABELLED_SPLITS)})')
    label = hierarchy.leaf_names.index(leaf_name)
    params = sample_clip_params(
        clip_rng(seed, split, label, int(k)), size=size, num_frames=num_frames)
    return label, object_track(hierarchy, label, params)
