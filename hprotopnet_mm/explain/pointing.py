"""Pointing test of explanations on clips whose object position is known.

For every prototype reported for a node of a clip's true class path, its
*peak cell* is the feature-map cell of its smallest distance (the first in
(t, h, w) order, as for prototype projection). The prototype
*points at the object* when the object's centre, averaged over the frames
of that cell, lies inside the cell's footprint in the clip (see
:func:`.cell_footprint`). With the toy dataset the object is what tells the
parents apart and its motion what tells the leaves apart, so prototypes that
explain the decision should point at it; a prototype on a uniformly random
cell would do so ``1 / (H' * W')`` of the time.
"""
from typing import Dict, List, Sequence

import numpy as np
from torch import Tensor

from hprotopnet_mm.engine.projection import nearest_cells
from .activation_maps import cell_footprint

CROP_TYPES = ('CenterCrop', 'RandomCrop', 'RandomResizedCrop',
              'MultiScaleCrop')


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


def pointing_rows(distance_maps: Tensor, prototypes: Sequence[int],
                  centres: np.ndarray, clip_size: Sequence[int],
                  prototype_shape: Sequence[int]) -> List[Dict]:
    """Does each prototype's peak cell hold the object?

    Args:
        distance_maps (Tensor): One clip's distance maps (P, T', H', W').
        prototypes (Sequence[int]): The prototypes to test.
        centres (np.ndarray): (T, 2) object centre (x, y) in clip pixels,
            one per frame of the clip.
        clip_size (Sequence[int]): (T, H, W) of the clip.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w).

    Returns:
        list[dict]: Per prototype its ``prototype``, ``cell`` (t, h, w),
        ``hit`` (the object's mean centre over the cell's frames lies in the
        cell's pixels) and ``border`` (the cell touches the map's border).
    """
    grid = tuple(distance_maps.shape[1:])
    _, cells = nearest_cells(distance_maps)
    rows = []
    for p in prototypes:
        cell = tuple(
            int(c) for c in np.unravel_index(int(cells[p]), grid))
        (t0, t1), (y0, y1), (x0, x1) = cell_footprint(
            cell, prototype_shape,
            tuple(g + s - 1 for g, s in zip(grid, prototype_shape)),
            clip_size)
        x, y = centres[t0:t1].mean(axis=0)
        rows.append(
            dict(
                prototype=int(p),
                cell=list(cell),
                hit=bool(x0 <= x < x1 and y0 <= y < y1),
                border=bool(cell[1] in (0, grid[1] - 1)
                            or cell[2] in (0, grid[2] - 1))))
    return rows
