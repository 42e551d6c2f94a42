"""Prototype layer: squared L2 distances between prototypes and feature
patches, and the log similarity of ProtoPNet (paper Eq. 5)."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def patch_squared_distances(z: Tensor, prototypes: Tensor) -> Tensor:
    """Squared L2 distance of every prototype to every patch of ``z``.

    A patch is a ``t x h x w`` window of ``z`` (stride 1, no padding). The
    distance is expanded as ``||z||^2 - 2 z.p + ||p||^2`` and evaluated with
    three 3D convolutions, then clamped at 0 against rounding.

    Args:
        z (Tensor): Features, shape (B, C, T, H, W).
        prototypes (Tensor): Prototypes, shape (P, C, t, h, w).

    Returns:
        Tensor: Distances, shape (B, P, T - t + 1, H - h + 1, W - w + 1).
    """
    ones = torch.ones(
        (1, ) + tuple(prototypes.shape[1:]), dtype=z.dtype, device=z.device)
    z2 = F.conv3d(z * z, ones)  # (B, 1, T', H', W')
    zp = F.conv3d(z, prototypes)  # (B, P, T', H', W')
    p2 = (prototypes * prototypes).flatten(1).sum(dim=1)  # (P, )
    return (z2 - 2 * zp + p2.view(1, -1, 1, 1, 1)).clamp_min(0)


def unit_cells(x: Tensor) -> Tensor:
    """Scale every cell's channel vector to unit L2 norm.

    Args:
        x (Tensor): Features (B, C, T, H, W) or prototypes (P, C, t, h, w).

    Returns:
        Tensor: Same shape; each ``x[i, :, t, h, w]`` has norm 1 (a zero
        vector stays zero).
    """
    return F.normalize(x, dim=1, eps=1e-12)


def log_similarity(distances: Tensor, epsilon: float) -> Tensor:
    """Similarity of a prototype to its closest patch (paper Eq. 5).

    ``log((d + 1) / (d + epsilon))``: large for small distances, close to 0
    for large ones.

    Args:
        distances (Tensor): Non-negative distances, any shape, e.g. (B, P).
        epsilon (float): Small positive constant bounding the similarity
            at ``log(1 / epsilon)``.

    Returns:
        Tensor: Similarities, same shape as ``distances``.
    """
    return torch.log((distances + 1) / (distances + epsilon))


def check_three_positive_ints(value: Sequence[int], owner: str, what: str,
                              axes: str) -> Tuple[int, int, int]:
    """Return ``value`` as a tuple of three positive ints.

    Args:
        value (Sequence[int]): The sizes to check.
        owner (str): Name of the caller, for the error message.
        what (str): What ``value`` is, for the error message.
        axes (str): Its axes, for the error message, e.g. ``'t, h, w'``.

    Raises:
        ValueError: If it is not a list or tuple of three positive ints.
    """
    values = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(values) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in values):
        raise ValueError(f'{owner}: {what} must be three positive ints '
                         f'({axes}), got {value!r}')
    return values


def check_prototype_shape(prototype_shape: Sequence[int],
                          owner: str) -> Tuple[int, int, int]:
    """Return ``prototype_shape``, the extent (t, h, w) of a prototype, as a
    tuple of three positive ints (:func:`check_three_positive_ints`)."""
    return check_three_positive_ints(prototype_shape, owner, 'prototype_shape',
                                     't, h, w')


class PrototypeLayer(nn.Module):
    """Prototypes of a video ProtoPNet and their distances to a feature map.

    Every prototype is a ``(C, t, h, w)`` tube; its distance to a clip is the
    smallest squared L2 distance to any ``t x h x w`` patch of the clip's
    feature map, over time and space.

    The distances are always computed in float32 (autocast is disabled
    inside the layer): the expansion ``||z||^2 - 2 z.p + ||p||^2`` cancels
    badly in half precision.

    Args:
        num_prototypes (int): Number of prototypes P.
        channels (int): Channels C of the feature map.
        prototype_shape (Sequence[int]): Extent (t, h, w) of a prototype.
            Defaults to (1, 1, 1).
        epsilon (float): Constant of the log similarity (Eq. 5).
            Defaults to 1e-4.
        unit_norm (bool): Scale every cell of the features and of the
            prototypes to unit L2 norm (:func:`unit_cells`) before the
            distance, which becomes ``sum over the patch's cells of
            2 - 2 cos``, in [0, 4 t h w]: how much a patch looks like the
            prototype no longer depends on how strongly the backbone
            responds there (e.g. weaker at the zero-padded border).
            Defaults to False (the paper).
    """

    def __init__(self,
                 num_prototypes: int,
                 channels: int,
                 prototype_shape: Sequence[int] = (1, 1, 1),
                 epsilon: float = 1e-4,
                 unit_norm: bool = False) -> None:
        super().__init__()
        prototype_shape = check_prototype_shape(prototype_shape,
                                                type(self).__name__)
        if num_prototypes <= 0 or channels <= 0:
            raise ValueError(
                f'{type(self).__name__}: num_prototypes and channels must be '
                f'positive, got {num_prototypes} and {channels}')
        if not epsilon > 0:
            raise ValueError(f'{type(self).__name__}: epsilon must be '
                             f'positive, got {epsilon}')
        self.prototype_shape = prototype_shape
        self.epsilon = epsilon
        self.unit_norm = bool(unit_norm)
        # Uniform [0, 1) initialisation as in ProtoPNet.
        self.prototype_vectors = nn.Parameter(
            torch.rand((num_prototypes, channels) + prototype_shape))

    @property
    def num_prototypes(self) -> int:
        """int: Number of prototypes P."""
        return self.prototype_vectors.shape[0]

    def distance_maps(self, z: Tensor) -> Tensor:
        """Distances of every prototype to every patch of ``z``.

        Args:
            z (Tensor): Features, shape (B, C, T, H, W).

        Returns:
            Tensor: float32 distances, shape (B, P, T', H', W') with
            ``T' = T - t + 1`` (likewise H', W').
        """
        if z.dim() != 5 or z.shape[1] != self.prototype_vectors.shape[1]:
            raise ValueError(
                f'{type(self).__name__}: expected features of shape '
                f'(B, {self.prototype_vectors.shape[1]}, T, H, W), got '
                f'{tuple(z.shape)}')
        if any(size < extent
               for size, extent in zip(z.shape[2:], self.prototype_shape)):
            raise ValueError(
                f'{type(self).__name__}: feature map of size '
                f'{tuple(z.shape[2:])} (T, H, W) is smaller than the '
                f'prototype shape {self.prototype_shape}')
        with torch.autocast(device_type=z.device.type, enabled=False):
            z, prototypes = z.float(), self.prototype_vectors.float()
            if self.unit_norm:
                z, prototypes = unit_cells(z), unit_cells(prototypes)
            return patch_squared_distances(z, prototypes)

    def forward(self, z: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Distance maps, minimum distances and similarities.

        Args:
            z (Tensor): Features, shape (B, C, T, H, W).

        Returns:
            tuple[Tensor]: float32 tensors ``distance_maps`` (B, P, T', H',
            W'), ``min_distances`` (B, P), the minimum over all positions in
            space and time, and ``similarities`` (B, P) (Eq. 5).
        """
        distance_maps = self.distance_maps(z)
        min_distances = distance_maps.flatten(2).amin(dim=2)
        return distance_maps, min_distances, log_similarity(
            min_distances, self.epsilon)

    def extra_repr(self) -> str:
        return (f'num_prototypes={self.num_prototypes}, '
                f'channels={self.prototype_vectors.shape[1]}, '
                f'prototype_shape={self.prototype_shape}, '
                f'epsilon={self.epsilon}, unit_norm={self.unit_norm}')
