"""Position-wise centring of the feature map Z before the prototype layer.

A convolutional backbone with zero padding writes *where* a cell is into its
features: a cell near the border of the map differs from a central one
whatever the clip shows. A prototype projected onto a patch keeps that
position code, so it fires at the same place of every clip, not where its
evidence is. Subtracting from each cell of Z the mean of Z at that position
over the training clips removes what every clip has there and leaves what
this clip adds: the moving object, the scene.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .prototype_layer import check_three_positive_ints


def resize_grid(x: Tensor, grid: Sequence[int]) -> Tensor:
    """Resample a (C, T, H, W) map to ``grid`` (T, H, W) by trilinear
    interpolation; the map itself when it already has that grid.

    Args:
        x (Tensor): Shape (C, T, H, W).
        grid (Sequence[int]): The target (T, H, W).

    Returns:
        Tensor: Shape (C, *grid).
    """
    if tuple(x.shape[1:]) == tuple(grid):
        return x
    return F.interpolate(
        x[None], size=tuple(grid), mode='trilinear', align_corners=False)[0]


class PositionCentring(nn.Module):
    """Subtract from every cell of Z the running mean of Z at its position.

    In training mode each batch's mean map updates the running mean (the
    cumulative mean over the first ``1 / momentum`` batches, then an
    exponential moving average with ``momentum``, as BatchNorm's running
    statistics); the subtracted mean is always the running one, so training,
    prototype projection and testing centre alike. The mean is kept on
    ``grid`` cells; a map of another size is compared with it after
    trilinear interpolation.

    Args:
        channels (int): C of Z.
        grid (Sequence[int]): (T, H, W) of the training clips' Z.
        momentum (float): Weight of a batch in the moving average, in
            (0, 1].
    """

    def __init__(self,
                 channels: int,
                 grid: Sequence[int],
                 momentum: float = 0.1) -> None:
        super().__init__()
        name = type(self).__name__
        self.grid = check_three_positive_ints(grid, name, 'the centring grid',
                                              'T, H, W')
        if not 0 < momentum <= 1:
            raise ValueError(f'{name}: momentum must lie in (0, 1], got '
                             f'{momentum!r}')
        self.momentum = float(momentum)
        self.register_buffer('running_mean',
                             torch.zeros((channels, ) + self.grid))
        self.register_buffer('num_batches_tracked',
                             torch.tensor(0, dtype=torch.long))

    def forward(self, z: Tensor) -> Tensor:
        """Centre ``z``.

        Args:
            z (Tensor): Shape (B, C, T, H, W).

        Returns:
            Tensor: ``z`` minus the running mean at each position, same
            shape.
        """
        if self.training:
            with torch.no_grad():
                self.num_batches_tracked += 1
                weight = max(self.momentum,
                             1.0 / float(self.num_batches_tracked))
                batch_mean = resize_grid(z.detach().mean(dim=0), self.grid)
                self.running_mean.mul_(1 - weight).add_(
                    batch_mean.to(self.running_mean.dtype), alpha=weight)
        mean = resize_grid(self.running_mean, z.shape[2:])
        return z - mean.to(z.dtype)

    def extra_repr(self) -> str:
        return f'grid={self.grid}, momentum={self.momentum}'
