"""Prototype activation maps in the frames and pixels of a clip (Sec. 4.6).

A prototype's activation on a clip is its log similarity (Eq. 5) to every
patch of the clip's feature map ``z``. The map of patch positions
(T', H', W') is first spread onto the cells of ``z`` (T, H, W): a cell takes
the largest activation of the patches that cover it, so a prototype of extent
(t, h, w) > 1 lights up every cell of its best patch. The map on ``z`` is then
upsampled trilinearly over time, height and width to the clip's frames and
pixels (``F.interpolate``; every frame gets its own interpolated map, nothing
is replicated over time). The high-activation region is the set of voxels at
or above a percentile (95 by default) of the upsampled map, over the whole
clip.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from hprotopnet_mm.models.layers import log_similarity


def similarity_maps(distance_maps: Tensor, epsilon: float) -> Tensor:
    """Log similarity (Eq. 5) of every prototype to every patch.

    Args:
        distance_maps (Tensor): Squared distances, shape (..., T', H', W').
        epsilon (float): The head's epsilon.

    Returns:
        Tensor: Similarities, same shape.
    """
    return log_similarity(distance_maps, epsilon)


def spread_to_feature_grid(maps: Tensor,
                           prototype_shape: Sequence[int]) -> Tensor:
    """Per cell of ``z``, the largest activation of the patches covering it.

    Args:
        maps (Tensor): Activations of patch positions, shape
            (N, T', H', W') (N maps, e.g. one per prototype).
        prototype_shape (Sequence[int]): Patch extent (t, h, w).

    Returns:
        Tensor: Shape (N, T' + t - 1, H' + h - 1, W' + w - 1), the size of
        ``z``. Identical to ``maps`` for (1, 1, 1) prototypes.
    """
    t, h, w = prototype_shape
    if (t, h, w) == (1, 1, 1):
        return maps
    # A patch starting at c covers cells c .. c + k - 1, so cell c is
    # covered by the patches starting at c - k + 1 .. c.
    padded = F.pad(
        maps[:, None], (w - 1, w - 1, h - 1, h - 1, t - 1, t - 1),
        value=float('-inf'))
    return F.max_pool3d(padded, (t, h, w), stride=1)[:, 0]


def upsample_activation(maps: Tensor, size: Sequence[int]) -> Tensor:
    """Trilinear upsampling of maps on ``z`` to the clip's (T, H, W).

    Args:
        maps (Tensor): Shape (N, T_z, H_z, W_z).
        size (Sequence[int]): Frames, height and width of the clip.

    Returns:
        Tensor: float32, shape (N, T, H, W).
    """
    return F.interpolate(
        maps[:, None].float(),
        size=tuple(int(s) for s in size),
        mode='trilinear',
        align_corners=False)[:, 0]


def clip_activation_maps(distance_maps: Tensor, epsilon: float,
                         prototype_shape: Sequence[int],
                         clip_size: Sequence[int]) -> Tensor:
    """Activation maps of prototypes in the frames and pixels of a clip.

    Args:
        distance_maps (Tensor): One clip's distances, (P, T', H', W').
        epsilon (float): The head's epsilon.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w).
        clip_size (Sequence[int]): (T, H, W) of the clip the model saw.

    Returns:
        Tensor: Shape (P, T, H, W), log similarities interpolated per voxel.
    """
    maps = similarity_maps(distance_maps.float(), epsilon)
    return upsample_activation(
        spread_to_feature_grid(maps, prototype_shape), clip_size)


def high_activation_mask(activation: Tensor, percentile: float = 95) -> Tensor:
    """Voxels at or above a percentile of an activation map.

    Args:
        activation (Tensor): Shape (T, H, W).
        percentile (float): In [0, 100].

    Returns:
        Tensor: Bool, shape (T, H, W).
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f'percentile must lie in [0, 100], got {percentile}')
    threshold = torch.quantile(activation.flatten().float(), percentile / 100)
    return activation >= threshold


def frame_boxes(mask: Tensor) -> List[Optional[Tuple[int, int, int, int]]]:
    """Bounding box of the masked pixels of every frame.

    Args:
        mask (Tensor): Bool, shape (T, H, W).

    Returns:
        list: Per frame ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive), or
        None where the frame has no masked pixel.
    """
    boxes = []
    for frame in mask:
        rows = torch.nonzero(frame.any(dim=1)).flatten()
        cols = torch.nonzero(frame.any(dim=0)).flatten()
        if rows.numel() == 0:
            boxes.append(None)
            continue
        boxes.append(
            (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    return boxes


def cell_footprint(cell: Sequence[int], prototype_shape: Sequence[int],
                   feature_size: Sequence[int],
                   clip_size: Sequence[int]) -> Tuple[Tuple[int, int], ...]:
    """Frames and pixels a patch of ``z`` stands for.

    The nominal footprint of cells ``cell .. cell + shape - 1`` when the clip
    is divided evenly among the cells of ``z`` (the receptive field of a deep
    cell is larger).

    Args:
        cell (Sequence[int]): Start (t, h, w) of the patch in ``z``.
        prototype_shape (Sequence[int]): Patch extent (t, h, w).
        feature_size (Sequence[int]): (T, H, W) of ``z``.
        clip_size (Sequence[int]): (T, H, W) of the clip.

    Returns:
        tuple: ``((t0, t1), (y0, y1), (x0, x1))``, ends exclusive.
    """
    spans = []
    for start, extent, cells, length in zip(cell, prototype_shape,
                                            feature_size, clip_size):
        low = (start * length) // cells
        high = -((-(start + extent) * length) // cells)  # ceil
        spans.append((int(low), int(min(high, length))))
    return tuple(spans)
