"""ProtoPNet's prune step after projection.

:func:`nearest_clips` finds the k clips nearest to every prototype among all
clips, :func:`prune_decision` marks prototypes whose nearest clips mostly
come from outside their own node, and :func:`deactivate_prototypes`
disconnects them from the output.
"""
from typing import Sequence, Tuple

import torch
from mmengine import dist
from torch import Tensor, nn

from hprotopnet_mm.models.heads import BasePrototypeHead
from .candidates import prototype_head, unwrap_model
from .clips import eval_mode, iterate_clips
from .search import lexicographic_order, nearest_cells


def nearest_clips(model: nn.Module,
                  dataloader,
                  k: int,
                  clips_per_forward: int = 1,
                  progress: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    """The k clips nearest to every prototype, among all clips.

    The distance of a prototype to a clip (view) is its smallest distance to
    any patch of the clip's feature map. Ties are broken by dataset index,
    then view. Collective in a distributed run, like ``project_prototypes``.

    Args:
        model (nn.Module): A recognizer with a prototype head.
        dataloader (DataLoader): The projection dataloader.
        k (int): Number of nearest clips.
        clips_per_forward (int): Clips the model sees at once.
        progress (bool): Show a progress bar on the main process.

    Returns:
        tuple[Tensor]: ``distance``, ``dataset_index`` and ``label`` of the
        nearest clips, each (P, k), nearest first; missing entries (fewer
        than k clips) have distance inf and index -1.
    """
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    model = unwrap_model(model)
    head = prototype_head(model)
    device = head.prototype_vectors.device
    size = (head.num_prototypes, k)
    keys = [
        torch.full(size, float('inf'), device=device),
        torch.full(size, -1, dtype=torch.long, device=device),
        torch.zeros(size, dtype=torch.long, device=device),
        torch.full(size, -1, dtype=torch.long, device=device),
    ]  # distance, dataset index, view, label
    with eval_mode(model), torch.no_grad():
        for z, source, view in iterate_clips(model, dataloader,
                                             clips_per_forward, progress):
            distance, _ = nearest_cells(head.distance_maps(z[None])[0])
            column = [
                distance,
                torch.full_like(
                    distance, source.dataset_index, dtype=torch.long),
                torch.full_like(distance, view, dtype=torch.long),
                torch.full_like(distance, source.label, dtype=torch.long)
            ]
            keys = _smallest_k([
                torch.cat([key, c[:, None]], 1)
                for key, c in zip(keys, column)
            ], k)
    if dist.get_world_size() > 1:
        keys = _smallest_k(
            [torch.cat(dist.all_gather(key), dim=1) for key in keys], k)
    return keys[0], keys[1], keys[3]


def _smallest_k(keys: Sequence[Tensor], k: int) -> Sequence[Tensor]:
    """Keep the k smallest entries of every row by (distance, index, view).

    Args:
        keys (Sequence[Tensor]): distance, dataset index, view, label; each
            (P, n).
        k (int): Entries to keep.

    Returns:
        list[Tensor]: The same keys, each (P, k), sorted.
    """
    order = lexicographic_order(keys[:3])[:, :k]
    return [key.gather(1, order) for key in keys]


def prune_decision(nearest_labels: Tensor, candidates: Tensor,
                   min_own: int) -> Tensor:
    """Prototypes to prune: too few of their nearest clips are their own.

    ProtoPNet's prune step: a prototype whose k nearest clips include fewer
    than ``min_own`` clips of its own node (clips whose leaf is the node or
    lies under it) encodes a concept shared with other nodes.

    Args:
        nearest_labels (Tensor): Leaf labels of the k nearest clips of every
            prototype, (P, k); -1 for missing entries.
        candidates (Tensor): Bool (P, K) from ``projection_candidates``.
        min_own (int): Minimum number of own-node clips to keep a prototype.

    Returns:
        Tensor: Bool (P, ), True for prototypes to prune.
    """
    candidates = candidates.to(nearest_labels.device)
    valid = nearest_labels >= 0
    own = candidates.gather(1, nearest_labels.clamp_min(0)) & valid
    return own.sum(dim=1) < min_own


def deactivate_prototypes(head: BasePrototypeHead,
                          prototypes: Sequence[int]) -> None:
    """Disconnect prototypes from the output: zero their last-layer columns.

    The prototypes stay in the model (parameter shapes, checkpoints and the
    optimizer state are unchanged) but no longer contribute to the logits.
    The caller keeps the columns at zero while training continues.

    Args:
        head (BasePrototypeHead): The prototype head; ``last_layer`` is a
            Linear whose input features are the P prototype similarities.
        prototypes (Sequence[int]): Prototype indices.
    """
    if len(prototypes) == 0:
        return
    with torch.no_grad():
        head.last_layer.weight[:, list(prototypes)] = 0


def pruned_prototypes(head: BasePrototypeHead) -> Sequence[int]:
    """The prototypes pruned so far (none before the first projection)."""
    sources = head.prototype_sources
    return [] if sources is None else sources.pruned
