"""What a head reads from a batch: the backbone feature map it works on
and the hard leaf labels of the clips."""
from typing import Sequence, Union

import torch
from torch import Tensor

from mmaction.utils import SampleList


def select_feature(x: Union[Tensor, Sequence[Tensor]], owner: str) -> Tensor:
    """The backbone feature map a head works on.

    Args:
        x (Tensor | tuple[Tensor]): A feature map (B, C, T, H, W), or the
            tuple of stage outputs of a backbone with several
            ``out_indices``, of which the last (deepest) one is used.
        owner (str): Name of the head, for the error message.

    Returns:
        Tensor: Shape (B, C, T, H, W).
    """
    if isinstance(x, (tuple, list)):
        if len(x) == 0:
            raise ValueError(f'{owner}: got an empty tuple of features')
        x = x[-1]
    if not isinstance(x, Tensor) or x.dim() != 5:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x)
        raise ValueError(f'{owner}: expected a 3D feature map of shape '
                         f'(B, C, T, H, W), got {shape}')
    return x


def gt_labels(data_samples: SampleList, batch_size: int, device: torch.device,
              owner: str) -> Tensor:
    """Hard leaf labels of a batch.

    Args:
        data_samples (list[ActionDataSample]): Samples with ``gt_label``.
        batch_size (int): Number of clips scored by the head.
        device (torch.device): Device of the result.
        owner (str): Name of the head, for the error message.

    Returns:
        Tensor: int64 labels, shape (B, ).
    """
    labels = torch.stack([sample.gt_label for sample in data_samples])
    labels = labels.reshape(len(data_samples), -1)
    if labels.shape != (batch_size, 1) or labels.is_floating_point():
        raise ValueError(
            f'{owner}: needs one integer label per clip ({batch_size} '
            f'clips), got gt_label of shape {tuple(labels.shape)} and dtype '
            f'{labels.dtype}; soft, multi-label and multi-clip training are '
            f'not supported')
    return labels[:, 0].to(device=device, dtype=torch.long)
