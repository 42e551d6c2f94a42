"""Pointing test of explanations on clips whose object position is known.

For every prototype reported for a node of a clip's true class path, its
*peak cell* is the feature-map cell of its smallest distance (the first in
(t, h, w) order, as for prototype projection). The prototype
*points at the object* when the object's centre, averaged over the frames
of that cell, lies inside the cell's footprint in the clip (see
:func:`.cell_footprint`). With the toy dataset the object is what tells the
parents apart and its motion what tells the leaves apart, so prototypes of
those levels that explain the decision should point at it; a prototype on a
uniformly random cell would do so ``1 / (H' * W')`` of the time. The
background tells the grandparents apart, so their prototypes should point
*off* the object. Beyond the peak, the share of a prototype's activation
that lies on the object's cells is measured too.
"""
from typing import Dict, List, Sequence

import numpy as np
from torch import Tensor

from hprotopnet_mm.datasets import toy_object_track
from hprotopnet_mm.engine.projection import nearest_cells
from .activation_maps import cell_footprint, similarity_maps
from .loading import find_test_pipeline, frame_indices

CROP_TYPES = ('CenterCrop', 'RandomCrop', 'RandomResizedCrop',
              'MultiScaleCrop')
#: Metainfo that maps video pixels to clip pixels.
GEOMETRY_KEYS = ('scale_factor', 'crop_bbox')


def check_pointing_pipeline(pipeline: Sequence[dict]) -> None:
    """Raise ``ValueError`` unless the pipeline maps video pixels to clip
    pixels by resizing first and cropping once (what
    :func:`to_clip_pixels` inverts)."""
    types = [t['type'] for t in pipeline]
    crops = [i for i, t in enumerate(types) if t in CROP_TYPES]
    unsupported = [t for t in types if 'Crop' in t and t not in CROP_TYPES]
    if unsupported or len(crops) > 1 or any(
            t == 'Resize' and crops and i > crops[0]
            for i, t in enumerate(types)):
        raise ValueError(
            f'the pointing test needs a pipeline that resizes, then crops '
            f'once ({", ".join(CROP_TYPES)}); got {types}')


def pointing_pipeline(cfg) -> List[dict]:
    """The config's test pipeline, checked, with the resize and crop
    geometry kept in the packed sample's metainfo."""
    pipeline, _ = find_test_pipeline(cfg)
    check_pointing_pipeline(pipeline)
    pipeline = [dict(t) for t in pipeline]
    pack = pipeline[-1]
    pack['meta_keys'] = tuple(pack.get('meta_keys', ())) + GEOMETRY_KEYS
    return pipeline


def to_clip_pixels(points: np.ndarray, metainfo: Dict) -> np.ndarray:
    """Video pixel coordinates to pixel coordinates of the model's clip.

    Args:
        points (np.ndarray): (F, 2) (x, y) in the decoded video frames.
        metainfo (dict): The sample's ``scale_factor`` (w, h) and
            ``crop_bbox`` (x1, y1, x2, y2); each optional.

    Returns:
        np.ndarray: (F, 2) (x, y) in the clip.
    """
    scale = np.asarray(metainfo.get('scale_factor', (1.0, 1.0)), float)
    crop = np.asarray(metainfo.get('crop_bbox', (0, 0, 0, 0)), float)
    if scale.shape != (2, ) or crop.shape != (4, ):
        raise ValueError(f'expected one scale factor (w, h) and one crop box '
                         f'(x1, y1, x2, y2), got {scale.tolist()} and '
                         f'{crop.tolist()}')
    return points * scale - crop[:2]


def object_grid(centres: np.ndarray, grid: Sequence[int],
                clip_size: Sequence[int],
                prototype_shape: Sequence[int]) -> np.ndarray:
    """Which patch positions hold the object.

    Position (t, h, w) of the distance maps holds the object when the
    object's centre, averaged over the frames of the patch's footprint
    (:func:`.cell_footprint`), lies inside the footprint's pixels.

    Args:
        centres (np.ndarray): (T, 2) object centre (x, y) in clip pixels,
            one per frame of the clip.
        grid (Sequence[int]): (T', H', W') of the distance maps.
        clip_size (Sequence[int]): (T, H, W) of the clip.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w).

    Returns:
        np.ndarray: Boolean, shape (T', H', W').
    """
    feature_size = tuple(g + s - 1 for g, s in zip(grid, prototype_shape))
    holds = np.zeros(tuple(grid), dtype=bool)
    for cell in np.ndindex(*grid):
        (t0, t1), (y0, y1), (x0, x1) = cell_footprint(cell, prototype_shape,
                                                      feature_size, clip_size)
        x, y = centres[t0:t1].mean(axis=0)
        holds[cell] = x0 <= x < x1 and y0 <= y < y1
    return holds


def toy_object_grids(path: str,
                     label: int,
                     sample: Dict,
                     clip_size: Sequence[int],
                     grid: Sequence[int],
                     prototype_shape: Sequence[int],
                     seed: int = 0,
                     size: int = 64,
                     num_frames: int = 32) -> np.ndarray:
    """Which patch positions hold the object, for every clip of a decoded
    toy video.

    The object's track is redrawn from the dataset's seed
    (:func:`toy_object_track`) and mapped through the pipeline's resize and
    crop (:func:`to_clip_pixels`), then :func:`object_grid` per clip.

    Args:
        path (str): The video, a labelled clip of the toy dataset.
        label (int): Its listed label, checked against the file name.
        sample (dict): The video decoded by the test pipeline
            (``load_clips``), with ``scale_factor`` and ``crop_bbox`` in
            its metainfo.
        clip_size (Sequence[int]): (T, H, W) of a clip.
        grid (Sequence[int]): (T', H', W') of the distance maps.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w).
        seed, size, num_frames (int): Of the toy dataset.

    Returns:
        np.ndarray: Boolean, (clips, T', H', W').
    """
    track_label, track = toy_object_track(path, seed, size, num_frames)
    if track_label != label:
        raise ValueError(f'{path} is listed with label {label} but is a '
                         f'clip of class {track_label}')
    grids = []
    for clip in range(sample['inputs'].shape[0]):
        inds = np.asarray(frame_indices(sample, clip))
        if len(inds) != clip_size[0] or inds.max() >= len(track):
            raise ValueError(f'{path}: frame indices {inds.tolist()} do not '
                             f'fit {len(track)} frames (--frames) or the '
                             f'clip of {clip_size[0]} frames')
        centres = to_clip_pixels(track[inds], sample['data_samples'].metainfo)
        grids.append(object_grid(centres, grid, clip_size, prototype_shape))
    return np.stack(grids)


def pointing_rows(distance_maps: Tensor, prototypes: Sequence[int],
                  holds_object: np.ndarray, epsilon: float) -> List[Dict]:
    """Does each prototype's peak cell hold the object, and how much of its
    activation lies on it?

    Args:
        distance_maps (Tensor): One clip's distance maps (P, T', H', W').
        prototypes (Sequence[int]): The prototypes to test.
        holds_object (np.ndarray): (T', H', W') boolean, from
            :func:`object_grid`.
        epsilon (float): The head's epsilon (Eq. 5).

    Returns:
        list[dict]: Per prototype its ``prototype``, ``cell`` (t, h, w) of
        the peak, ``hit`` (the peak cell holds the object), ``border`` (the
        peak cell touches the map's border) and ``object_mass``: the share
        of the activation above its minimum, ``s - min(s)`` over the
        prototype's similarity map s (what the report's heat map shows),
        that lies on the cells holding the object (the share of those cells
        for a flat map).
    """
    grid = tuple(distance_maps.shape[1:])
    _, cells = nearest_cells(distance_maps)
    rows = []
    for p in prototypes:
        cell = tuple(int(c) for c in np.unravel_index(int(cells[p]), grid))
        activation = similarity_maps(distance_maps[p].double(),
                                     epsilon).numpy()
        activation = activation - activation.min()
        total = activation.sum()
        mass = activation[holds_object].sum() / total if total > 0 else \
            holds_object.mean()
        rows.append(
            dict(
                prototype=int(p),
                cell=list(cell),
                hit=bool(holds_object[cell]),
                border=bool(cell[1] in (0, grid[1] - 1)
                            or cell[2] in (0, grid[2] - 1)),
                object_mass=float(mass)))
    return rows
