"""Streaming search for the nearest candidate patches of every prototype.

The search keeps, for every prototype, its ``slots`` nearest candidate
patches seen so far (distance, location, a copy of the patch, provenance),
never the features of the dataset, so memory does not grow with the number
of clips. Patches are ordered by the key (distance, dataset index, view,
cell): the clip with the lowest dataset index wins a tie, then its first
view, then the first cell in (t, h, w) order. The order in which the
dataloader visits the clips therefore does not matter.

In a distributed run every process searches its shard; the shard results
are merged with the same order (tensors go through ``torch.distributed``
collectives on the model's device, gloo or nccl), so every process ends with
identical patches and provenance.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine import dist
from torch import Tensor

from hprotopnet_mm.models.heads import PatchSource
from .clips import ClipSource


def nearest_cells(distance_maps: Tensor) -> Tuple[Tensor, Tensor]:
    """Smallest distance of every prototype to a clip, and where it is.

    Args:
        distance_maps (Tensor): Distances of every prototype to every patch
            of one clip, shape (P, T', H', W').

    Returns:
        tuple[Tensor]: ``distance`` (P, ) and ``cell`` (P, ), the flat
        index over (T', H', W') of the first cell (in t, h, w order) with
        that distance.
    """
    # torch.min over a dim returns the index of the first minimum.
    return distance_maps.flatten(1).min(dim=1)


def lexicographic_order(keys: Sequence[Tensor]) -> Tensor:
    """Sort every row by several keys, most significant first.

    Args:
        keys (Sequence[Tensor]): Keys of one shape (P, n), most significant
            first.

    Returns:
        Tensor: (P, n) column indices that sort each row; equal rows keep
        their column order.
    """
    order = torch.arange(
        keys[0].shape[1], device=keys[0].device).expand_as(keys[0])
    for key in reversed(keys):  # least significant first, stable sorts
        _, rank = torch.sort(key.gather(1, order), dim=1, stable=True)
        order = order.gather(1, rank)
    return order


def patches_at(z: Tensor, cells: Tensor, prototype_shape: Sequence[int],
               grid: Sequence[int]) -> Tensor:
    """Copy the ``t x h x w`` patches of ``z`` that start at ``cells``.

    Args:
        z (Tensor): One clip's feature map, shape (C, T, H, W).
        cells (Tensor): Flat cell indices over ``grid``, shape (n, ).
        prototype_shape (Sequence[int]): Patch extent (t, h, w).
        grid (Sequence[int]): Number of patch positions (T', H', W').

    Returns:
        Tensor: The patches, shape (n, C, t, h, w), exact copies of ``z``.
    """
    t, h, w = prototype_shape
    windows = z.unfold(1, t, 1).unfold(2, h, 1).unfold(3, w, 1)
    ct, ch, cw = (
        torch.as_tensor(c, device=z.device)
        for c in np.unravel_index(cells.cpu().numpy(), tuple(grid)))
    return windows[:, ct, ch, cw].permute(1, 0, 2, 3, 4).contiguous()


class NearestPatchSearch:
    """The ``slots`` nearest candidate patches of every prototype.

    Feed it one clip at a time with :meth:`update`; after the last clip of
    every process, :meth:`merge_across_processes` leaves the global result
    on all of them. Slot 0 of a prototype holds its nearest patch, slot 1
    the next, and so on; an empty slot has ``dataset_index`` -1.

    Args:
        candidates (Tensor): Bool (P, K) from ``projection_candidates``.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w).
        channels (int): Channels C of ``z``.
        device (torch.device): Where the running state lives (the model's
            device, so that collectives run on it).
        dtype (torch.dtype): dtype of the stored patches (the prototypes').
        slots (int): Patches kept per prototype. Defaults to 1.
    """

    def __init__(self,
                 candidates: Tensor,
                 prototype_shape: Sequence[int],
                 channels: int,
                 device: torch.device,
                 dtype: torch.dtype,
                 slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f'slots must be >= 1, got {slots}')
        num_prototypes = candidates.shape[0]
        self.candidates = candidates.to(device)
        self.prototype_shape = tuple(prototype_shape)
        self.slots = slots
        size = (num_prototypes, slots)
        self.distance = torch.full(size, float('inf'), device=device)
        self.dataset_index = torch.full(
            size, -1, dtype=torch.long, device=device)
        self.view = torch.zeros_like(self.dataset_index)
        self.cell = torch.zeros_like(self.dataset_index)
        self.patch = torch.zeros(
            size + (channels, ) + self.prototype_shape,
            dtype=dtype,
            device=device)
        self.records: List[List[Optional[PatchSource]]] = [
            [None] * slots for _ in range(num_prototypes)
        ]

    @property
    def found(self) -> Tensor:
        """Bool (P, slots): slots that hold a patch."""
        return self.dataset_index >= 0

    def keys(self) -> List[Tensor]:
        """The sort keys of the slots, most significant first: empty slots
        last, then (distance, dataset index, view, cell)."""
        return [(~self.found).long(), self.distance, self.dataset_index,
                self.view, self.cell]

    def update(self, z: Tensor, distance_maps: Tensor, source: ClipSource,
               view: int) -> None:
        """Offer the patches of one clip to every prototype.

        Args:
            z (Tensor): The clip's feature map, shape (C, T, H, W).
            distance_maps (Tensor): Its distances, shape (P, T', H', W').
            source (ClipSource): Provenance of the clip.
            view (int): Index of the clip among its sample's views.
        """
        grid = tuple(distance_maps.shape[1:])
        flat = distance_maps.flatten(1)
        candidate = self.candidates[:, source.label]
        if not torch.isfinite(flat[candidate]).all():
            raise FloatingPointError(
                f'non-finite prototype distances for {source.filename} '
                f'(dataset index {source.dataset_index}, view {view}); '
                'the model produces NaN or inf features')
        # the nearest cells of the clip, by (distance, cell): a stable sort
        # keeps the first cell first among equal distances
        distance, cell = torch.sort(flat, dim=1, stable=True)
        distance, cell = distance[:, :self.slots], cell[:, :self.slots]
        # a clip that is no candidate of a prototype offers it empty slots,
        # which sort after the empty slots it has (inf, then column order)
        valid = candidate[:, None].expand_as(cell)
        new = [(~valid).long(),
               distance.masked_fill(~valid, float('inf')),
               torch.where(valid, source.dataset_index, -1),
               torch.full_like(cell, view), cell]
        order = lexicographic_order([
            torch.cat([old, n], dim=1) for old, n in zip(self.keys(), new)
        ])[:, :self.slots]
        moved = (order != torch.arange(self.slots, device=order.device)).any(1)
        if not moved.any():
            return
        from_new = order >= self.slots
        old_slot = order.clamp(max=self.slots - 1)
        rows = torch.arange(len(order), device=order.device)[:, None]
        new_slot = (order - self.slots).clamp(min=0)
        for name, value in zip(('distance', 'dataset_index', 'view', 'cell'),
                               new[1:]):
            kept = getattr(self, name)[rows, old_slot]
            setattr(self, name,
                    torch.where(from_new, value[rows, new_slot], kept))
        self.patch = self.patch[rows, old_slot]
        p, s = (from_new & self.found).nonzero(as_tuple=True)
        self.patch[p, s] = patches_at(z, self.cell[p, s], self.prototype_shape,
                                      grid).to(self.patch.dtype)
        self._update_records(order, moved, source, view, grid,
                             list(z.shape[1:]))

    def _update_records(self, order: Tensor, moved: Tensor, source: ClipSource,
                        view: int, grid: tuple,
                        feature_size: List[int]) -> None:
        """Reorder the records of the rows that changed, with new records
        for the slots taken by the clip."""
        order, found = order.tolist(), self.found.tolist()
        cells, distances = self.cell.tolist(), self.distance.tolist()
        for p in moved.nonzero().flatten().tolist():
            old = self.records[p]
            self.records[p] = [
                old[j] if j < self.slots else (PatchSource(
                    **vars(source),
                    view=view,
                    cell=[int(c) for c in np.unravel_index(cells[p][s], grid)],
                    grid=list(grid),
                    feature_size=feature_size,
                    distance=distances[p][s]) if found[p][s] else None)
                for s, j in enumerate(order[p])
            ]

    def merge_across_processes(self) -> None:
        """Replace every process's state by the global best (collective).

        Every process must call it. The slots of every prototype become the
        smallest keys over the processes; their patches are summed in from
        the process that holds them (the others add zeros), so the result
        is bit-identical on all processes.
        """
        world_size = dist.get_world_size()
        if world_size == 1:
            return
        keys = [torch.cat(dist.all_gather(k), dim=1) for k in self.keys()]
        order = lexicographic_order(keys)[:, :self.slots]
        owner, slot = order // self.slots, order % self.slots
        rows = torch.arange(len(order), device=order.device)[:, None]
        mine = (owner == dist.get_rank()).view(order.shape + (1, ) *
                                               (self.patch.dim() - 2))
        patch = torch.where(mine, self.patch[rows, slot],
                            torch.zeros_like(self.patch))
        dist.all_reduce(patch, op='sum')
        records = dist.all_gather_object(self.records)
        _, self.distance, self.dataset_index, self.view, self.cell = (
            k.gather(1, order) for k in keys)
        self.patch = patch
        owner, slot = owner.tolist(), slot.tolist()
        self.records = [[records[r][p][s] for r, s in zip(owner[p], slot[p])]
                        for p in range(len(owner))]
