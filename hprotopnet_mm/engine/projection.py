"""Prototype projection (paper Sec. 4.5, ProtoPNet's "push").

Every prototype of hierarchy node k becomes the nearest patch of the feature
map ``z`` among the training clips that may supply it: the clips whose leaf
is k or lies under k (Eq. 12). For a flat head (ProtoPNet) a prototype's
candidates are the clips of its class.

The search streams over a dataloader and keeps only the running best patch
of every prototype (distance, patch vector, provenance), never the features
of the dataset. Results are deterministic:

* Every clip runs through the model on its own (``clips_per_forward=1``), so
  its feature map does not depend on the clips that share its batch, nor on
  the batch size or the number of processes. The explanation code, which
  decodes one training clip again, gets exactly the same feature map.
* Ties are broken by (distance, dataset index, view, cell): the clip with
  the lowest dataset index, then its first view, then the first cell in
  (t, h, w) order. The order in which the dataloader visits the clips does
  not matter, as long as it is the same on every pass.
* In a distributed run every process searches its shard of the dataloader;
  the shard winners are merged with the same order (tensors go through
  ``torch.distributed`` collectives on the model's device, gloo or nccl), so
  every process ends with identical prototypes and provenance.

The provenance of every prototype (video file, frame indices, view, cell,
distance, label) is written to ``head.prototype_sources``, which the head
saves in its checkpoints.

Optional pruning (ProtoPNet's prune step): :func:`nearest_clips` finds the
k clips nearest to every prototype among all clips, and
:func:`prune_decision` marks prototypes whose nearest clips mostly come from
outside their own node.
"""
import logging
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine import dist
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar
from torch import Tensor, nn

from hprotopnet_mm.datasets import STAND_IN_KEY

_HEAD_ATTRIBUTES = ('prototype_layer', 'prototype_vectors', 'prototype_node',
                    'forward_features', 'distance_maps', 'last_layer')


def unwrap_model(model: nn.Module) -> nn.Module:
    """The recognizer inside a model wrapper (e.g. DDP), or ``model``."""
    return model.module if is_model_wrapper(model) else model


def prototype_head(model: nn.Module) -> nn.Module:
    """The prototype head of a recognizer, checked for what projection uses.

    Args:
        model (nn.Module): A recognizer (or a wrapper around one) whose
            ``cls_head`` is a prototype head.

    Returns:
        nn.Module: ``model.cls_head``.
    """
    model = unwrap_model(model)
    head = getattr(model, 'cls_head', None)
    missing = [name for name in _HEAD_ATTRIBUTES if not hasattr(head, name)]
    if head is None or missing:
        raise TypeError(
            f'prototype projection needs a recognizer whose cls_head is a '
            f'prototype head (HierarchicalProtoHead, ProtoPNetHead); '
            f'{type(model).__name__}.cls_head is {type(head).__name__}, '
            f'which lacks {", ".join(missing) or "everything"}')
    return head


def projection_candidates(head: nn.Module) -> Tensor:
    """Which clips may supply each prototype (paper Eq. 12).

    A clip of leaf y is a candidate for a prototype of node k when y is k or
    lies under k (``ClassHierarchy.leaf_membership``). A head without a
    hierarchy (ProtoPNet) has one class per prototype: y must be that class.

    Args:
        head (nn.Module): A prototype head with ``prototype_node`` (P, ) and,
            for hierarchical heads, ``hierarchy``.

    Returns:
        Tensor: Bool (P, K); ``[p, y]`` is True when clips of leaf y are
        candidates for prototype p.
    """
    node = head.prototype_node.detach().cpu()
    hierarchy = getattr(head, 'hierarchy', None)
    if hierarchy is not None:
        return hierarchy.leaf_membership[node]
    return F.one_hot(node, head.num_classes).bool()


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


def lexicographic_less(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    """Elementwise lexicographic ``a < b`` over a sequence of keys.

    Args:
        a (Sequence[Tensor]): Keys, most significant first; tensors of one
            broadcastable shape, e.g. (P, ).
        b (Sequence[Tensor]): Keys to compare with, same layout.

    Returns:
        Tensor: Bool, True where ``a`` comes strictly before ``b``.
    """
    less = torch.zeros(
        torch.broadcast_shapes(a[0].shape, b[0].shape),
        dtype=torch.bool,
        device=a[0].device)
    equal = torch.ones_like(less)
    for x, y in zip(a, b):
        less = less | (equal & (x < y))
        equal = equal & (x == y)
    return less


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


def fixed_batch_indices(dataloader) -> List[List[int]]:
    """Dataset indices of every batch the dataloader will yield.

    Projection needs the global dataset index of every clip (for provenance
    and tie-breaking), taken from the batch sampler, so the sampler must
    yield the same batches on every pass (any fixed order will do; ties go
    by dataset index, not by order). This reads it twice and refuses one
    that reshuffles.

    Args:
        dataloader (DataLoader): A dataloader with a batch sampler.

    Returns:
        list[list[int]]: One list of dataset indices per batch.
    """
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    if batch_sampler is None:
        raise ValueError('prototype projection needs a dataloader with a '
                         'batch sampler (batch_size set), got none')
    first = [list(map(int, batch)) for batch in batch_sampler]
    second = [list(map(int, batch)) for batch in batch_sampler]
    if first != second:
        raise ValueError(
            'the projection dataloader visits its clips in a different order '
            'on every pass, so its clips cannot be matched to dataset '
            "indices; use sampler=dict(type='DefaultSampler', shuffle=False)")
    return first


def clip_feature_maps(model: nn.Module,
                      data_batch: dict,
                      clips_per_forward: int = 1) -> Tuple[Tensor, int, list]:
    """Feature maps ``z`` of every clip (view) of a batch, in eval mode.

    Args:
        model (nn.Module): The recognizer (not a wrapper), in eval mode.
        data_batch (dict): A batch from the dataloader (``inputs``,
            ``data_samples``).
        clips_per_forward (int): Clips the model sees at once; 1 makes every
            feature map independent of batching.

    Returns:
        tuple: ``z`` (N * V, C, T, H, W) with the V views of each sample
        consecutive, V, and the N data samples.
    """
    data = model.data_preprocessor(data_batch, training=False)
    inputs, data_samples = data['inputs'], data['data_samples']
    if inputs.dim() != 6:
        raise ValueError(
            'prototype projection expects 3D clips of shape (N, views, C, '
            f'T, H, W) from the data preprocessor, got {tuple(inputs.shape)}')
    num_views = inputs.shape[1]
    clips = inputs.flatten(0, 1)
    head = model.cls_head
    maps = []
    for start in range(0, clips.shape[0], clips_per_forward):
        part = clips[start:start + clips_per_forward].unsqueeze(1)
        feats, _ = model.extract_feat(part, test_mode=True)
        maps.append(head.forward_features(feats))
    return torch.cat(maps), num_views, data_samples


def _sample_source(sample, dataset, index: int, num_views: int) -> Dict:
    """Plain description of a data sample: file, frames, label."""
    meta = sample.metainfo
    filename = meta.get('filename')
    if filename is None and hasattr(dataset, 'get_data_info'):
        filename = dataset.get_data_info(index).get('filename')
    frame_inds = meta.get('frame_inds')
    if frame_inds is not None:
        frame_inds = [int(i) for i in np.asarray(frame_inds).reshape(-1)]
    label = sample.gt_label
    if label.numel() != 1:
        raise ValueError(
            f'prototype projection needs one integer label per clip; sample '
            f'{index} ({filename}) has gt_label of shape '
            f'{tuple(label.shape)}')
    return dict(
        dataset_index=index,
        filename=filename,
        frame_inds=frame_inds,
        num_views=num_views,
        label=int(label.reshape(-1)[0]))


def _iterate_clips(model: nn.Module, dataloader, clips_per_forward: int,
                   progress: bool):
    """Yield (z, source, view) for every clip of this process's shard."""
    if clips_per_forward < 1:
        raise ValueError(
            f'clips_per_forward must be >= 1, got {clips_per_forward}')
    batches = fixed_batch_indices(dataloader)
    bar = None
    if progress and dist.is_main_process():
        bar = ProgressBar(sum(len(b) for b in batches), file=sys.stdout)
    seen = 0
    for data_batch in dataloader:
        if seen == len(batches):
            raise RuntimeError('the projection dataloader yielded more '
                               'batches than its batch sampler holds')
        indices = batches[seen]
        seen += 1
        z, num_views, samples = clip_feature_maps(model, data_batch,
                                                  clips_per_forward)
        if len(samples) != len(indices):
            raise RuntimeError(
                f'batch {seen - 1} of the projection dataloader holds '
                f'{len(samples)} samples, its batch sampler {len(indices)}')
        for i, (sample, index) in enumerate(zip(samples, indices)):
            if sample.metainfo.get(STAND_IN_KEY):
                continue  # its video failed to decode; the stand-in is
                # another clip of the dataset, searched at its own index
            source = _sample_source(sample, dataloader.dataset, index,
                                    num_views)
            for view in range(num_views):
                yield z[i * num_views + view], source, view
        if bar is not None:
            for _ in indices:
                bar.update()
    if seen != len(batches):
        raise RuntimeError(
            f'the projection dataloader yielded {seen} batches, its batch '
            f'sampler holds {len(batches)}')
    if bar is not None:
        sys.stdout.write('\n')


class _EvalMode:
    """Put a module in eval mode and restore every submodule's mode after."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __enter__(self) -> nn.Module:
        self.modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        return self.module

    def __exit__(self, *exc) -> None:
        for m, training in self.modes:
            m.training = training


class NearestPatchSearch:
    """Running nearest candidate patch of every prototype.

    Feed it one clip at a time with :meth:`update`; after the last clip of
    every process, :meth:`merge_across_processes` leaves the global result
    on all of them.

    Args:
        candidates (Tensor): Bool (P, K) from :func:`projection_candidates`.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w).
        channels (int): Channels C of ``z``.
        device (torch.device): Where the running state lives (the model's
            device, so that collectives run on it).
        dtype (torch.dtype): dtype of the stored patches (the prototypes').
    """

    def __init__(self, candidates: Tensor, prototype_shape: Sequence[int],
                 channels: int, device: torch.device,
                 dtype: torch.dtype) -> None:
        num_prototypes = candidates.shape[0]
        self.candidates = candidates.to(device)
        self.prototype_shape = tuple(prototype_shape)
        self.distance = torch.full((num_prototypes, ),
                                   float('inf'),
                                   device=device)
        self.dataset_index = torch.full((num_prototypes, ),
                                        -1,
                                        dtype=torch.long,
                                        device=device)
        self.view = torch.zeros_like(self.dataset_index)
        self.cell = torch.zeros_like(self.dataset_index)
        self.patch = torch.zeros(
            (num_prototypes, channels) + self.prototype_shape,
            dtype=dtype,
            device=device)
        self.records: List[Optional[Dict]] = [None] * num_prototypes

    @property
    def found(self) -> Tensor:
        """Bool (P, ): prototypes that have a candidate patch."""
        return self.dataset_index >= 0

    def update(self, z: Tensor, distance_maps: Tensor, source: Dict,
               view: int) -> None:
        """Offer the patches of one clip to every prototype.

        Args:
            z (Tensor): The clip's feature map, shape (C, T, H, W).
            distance_maps (Tensor): Its distances, shape (P, T', H', W').
            source (dict): ``dataset_index``, ``label`` and the rest of the
                provenance of the clip (see :func:`_sample_source`).
            view (int): Index of the clip among its sample's views.
        """
        grid = tuple(distance_maps.shape[1:])
        distance, cell = nearest_cells(distance_maps)
        candidate = self.candidates[:, source['label']]
        if not torch.isfinite(distance[candidate]).all():
            raise FloatingPointError(
                f'non-finite prototype distances for {source["filename"]} '
                f'(dataset index {source["dataset_index"]}, view {view}); '
                'the model produces NaN or inf features')
        index = torch.full_like(self.dataset_index, source['dataset_index'])
        views = torch.full_like(self.view, view)
        better = candidate & (~self.found | lexicographic_less(
            (distance, index, views, cell),
            (self.distance, self.dataset_index, self.view, self.cell)))
        winners = better.nonzero().flatten()
        if winners.numel() == 0:
            return
        self.distance[winners] = distance[winners]
        self.dataset_index[winners] = index[winners]
        self.view[winners] = views[winners]
        self.cell[winners] = cell[winners]
        self.patch[winners] = patches_at(z, cell[winners],
                                         self.prototype_shape,
                                         grid).to(self.patch.dtype)
        cells = np.unravel_index(cell[winners].cpu().numpy(), grid)
        for k, p in enumerate(winners.tolist()):
            self.records[p] = dict(
                source,
                view=view,
                cell=[int(c[k]) for c in cells],
                grid=list(grid),
                feature_size=list(z.shape[1:]),
                distance=float(distance[p]))

    def merge_across_processes(self) -> None:
        """Replace every process's state by the global best (collective).

        Every process must call it. The winner of every prototype is the
        smallest (distance, dataset index, view, cell) over the processes;
        its patch is summed in from the process that holds it (the others
        add zeros), so the result is bit-identical on all processes.
        """
        world_size = dist.get_world_size()
        if world_size == 1:
            return
        keys = [
            dist.all_gather(k)
            for k in (self.distance, self.dataset_index, self.view, self.cell)
        ]
        best = [k[0] for k in keys]
        winner = torch.zeros_like(self.dataset_index)
        for rank in range(1, world_size):
            other = [k[rank] for k in keys]
            better = (other[1] >= 0) & (
                (best[1] < 0) | lexicographic_less(other, best))
            best = [torch.where(better, o, b) for o, b in zip(other, best)]
            winner[better] = rank
        mine = (winner == dist.get_rank()).view((-1, ) + (1, ) *
                                                (self.patch.dim() - 1))
        patch = torch.where(mine, self.patch, torch.zeros_like(self.patch))
        dist.all_reduce(patch, op='sum')
        records = dist.all_gather_object(self.records)
        self.distance, self.dataset_index, self.view, self.cell = best
        self.patch = patch
        self.records = [
            records[rank][p] for p, rank in enumerate(winner.tolist())
        ]


@dataclass
class ProjectionResult:
    """Outcome of :func:`project_prototypes` (identical on all processes).

    Attributes:
        patches (Tensor): Nearest candidate patch of every prototype,
            (P, C, t, h, w); rows of prototypes without a candidate are 0.
        found (Tensor): Bool (P, ), prototypes with a candidate.
        distance (Tensor): (P, ) squared L2 distance of every prototype
            (before projection) to its patch; inf where not found.
        records (list): Per prototype, the provenance dict of its patch
            (``dataset_index``, ``filename``, ``frame_inds``, ``num_views``,
            ``view``, ``label``, ``cell`` [t, h, w] = start of the patch in
            ``z``, ``grid``, ``feature_size`` [T, H, W] of ``z``,
            ``distance``), or None where not found.
    """
    patches: Tensor
    found: Tensor
    distance: Tensor
    records: List[Optional[Dict]]

    @property
    def missing(self) -> List[int]:
        """Prototypes that had no candidate clip."""
        return (~self.found).nonzero().flatten().tolist()


def project_prototypes(model: nn.Module,
                       dataloader,
                       clips_per_forward: int = 1,
                       progress: bool = True) -> ProjectionResult:
    """Find the nearest candidate patch of every prototype (Sec. 4.5).

    One pass over ``dataloader`` (the training clips through a
    deterministic, unaugmented pipeline, in a fixed order) with the model in
    eval mode and without gradients; the model is not modified (see
    :func:`apply_projection`). In a distributed run every process must call
    it with its own shard of the data (e.g. MMEngine's ``DefaultSampler``
    with ``shuffle=False``).

    Args:
        model (nn.Module): A recognizer with a prototype head (or a wrapper
            around one).
        dataloader (DataLoader): The projection dataloader.
        clips_per_forward (int): Clips the model sees at once. Defaults to
            1, which makes the result independent of batching.
        progress (bool): Show a progress bar on the main process.

    Returns:
        ProjectionResult: The global result, identical on all processes.
    """
    model = unwrap_model(model)
    head = prototype_head(model)
    prototypes = head.prototype_vectors
    search = NearestPatchSearch(
        projection_candidates(head), head.prototype_layer.prototype_shape,
        prototypes.shape[1], prototypes.device, prototypes.dtype)
    with _EvalMode(model), torch.no_grad():
        for z, source, view in _iterate_clips(model, dataloader,
                                              clips_per_forward, progress):
            label = source['label']
            if not 0 <= label < search.candidates.shape[1]:
                raise ValueError(
                    f'{source["filename"]} has label {label}, outside the '
                    f'{search.candidates.shape[1]} classes of the head')
            search.update(z, head.distance_maps(z[None])[0], source, view)
    search.merge_across_processes()
    return ProjectionResult(
        patches=search.patch,
        found=search.found,
        distance=search.distance,
        records=search.records)


def apply_projection(head: nn.Module, result: ProjectionResult,
                     **info) -> None:
    """Write the projected prototypes and their provenance into the head.

    Prototypes without a candidate keep their values (and get a None
    record). ``head.prototype_sources`` becomes a dict with ``prototypes``
    (one record per prototype, see :class:`ProjectionResult`, plus ``node``
    and, for hierarchical heads, ``node_name`` and ``label_name``),
    ``prototype_shape`` [t, h, w], ``pruned`` (kept from an earlier
    projection, else []) and the keyword arguments ``info``.

    Args:
        head (nn.Module): The prototype head.
        result (ProjectionResult): From :func:`project_prototypes`.
        **info: Plain values to store with the sources, e.g. ``epoch``.
    """
    found = result.found.to(head.prototype_vectors.device)
    with torch.no_grad():
        head.prototype_vectors[found] = result.patches[found].to(
            head.prototype_vectors)
    hierarchy = getattr(head, 'hierarchy', None)
    records = []
    for p, record in enumerate(result.records):
        if record is not None:
            record = dict(record, node=int(head.prototype_node[p]))
            if hierarchy is not None:
                record['node_name'] = hierarchy.node_names[record['node']]
                record['label_name'] = hierarchy.node_names[record['label']]
        records.append(record)
    previous = head.prototype_sources or {}
    head.prototype_sources = dict(
        info,
        prototype_shape=list(head.prototype_layer.prototype_shape),
        prototypes=records,
        pruned=list(previous.get('pruned', [])))


def describe_prototypes(head: nn.Module, prototypes: Sequence[int]) -> str:
    """``"3 (node 'Swimming'), 7 (node 5)"``: prototypes with their nodes."""
    hierarchy = getattr(head, 'hierarchy', None)
    parts = []
    for p in prototypes:
        node = int(head.prototype_node[p])
        name = repr(hierarchy.node_names[node]) if hierarchy else node
        parts.append(f'{p} (node {name})')
    return ', '.join(parts)


def nearest_clips(model: nn.Module,
                  dataloader,
                  k: int,
                  clips_per_forward: int = 1,
                  progress: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    """The k clips nearest to every prototype, among all clips.

    The distance of a prototype to a clip (view) is its smallest distance to
    any patch of the clip's feature map. Ties are broken by dataset index,
    then view. Collective in a distributed run, like
    :func:`project_prototypes`.

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
    num_prototypes = head.num_prototypes
    keys = [
        torch.full((num_prototypes, k), float('inf'), device=device),
        torch.full((num_prototypes, k), -1, dtype=torch.long, device=device),
        torch.zeros((num_prototypes, k), dtype=torch.long, device=device),
        torch.full((num_prototypes, k), -1, dtype=torch.long, device=device),
    ]  # distance, dataset index, view, label
    with _EvalMode(model), torch.no_grad():
        for z, source, view in _iterate_clips(model, dataloader,
                                              clips_per_forward, progress):
            distance, _ = nearest_cells(head.distance_maps(z[None])[0])
            column = [
                distance,
                torch.full_like(
                    distance, source['dataset_index'], dtype=torch.long),
                torch.full_like(distance, view, dtype=torch.long),
                torch.full_like(distance, source['label'], dtype=torch.long)
            ]
            keys = _smallest_k([
                torch.cat([key, c[:, None]], 1)
                for key, c in zip(keys, column)
            ], k)
    if dist.get_world_size() > 1:
        keys = _smallest_k(
            [torch.cat(dist.all_gather(key), dim=1) for key in keys], k)
    return keys[0], keys[1], keys[3]


def _smallest_k(keys: List[Tensor], k: int) -> List[Tensor]:
    """Keep the k smallest entries of every row by (distance, index, view).

    Args:
        keys (list[Tensor]): distance, dataset index, view, label; each
            (P, n).
        k (int): Entries to keep.

    Returns:
        list[Tensor]: The same keys, each (P, k), sorted.
    """
    order = torch.arange(
        keys[0].shape[1], device=keys[0].device).expand_as(keys[0])
    for key in (keys[2], keys[1], keys[0]):  # least significant first
        _, rank = torch.sort(key.gather(1, order), dim=1, stable=True)
        order = order.gather(1, rank)
    order = order[:, :k]
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
        candidates (Tensor): Bool (P, K) from :func:`projection_candidates`.
        min_own (int): Minimum number of own-node clips to keep a prototype.

    Returns:
        Tensor: Bool (P, ), True for prototypes to prune.
    """
    candidates = candidates.to(nearest_labels.device)
    valid = nearest_labels >= 0
    own = candidates.gather(1, nearest_labels.clamp_min(0)) & valid
    return own.sum(dim=1) < min_own


def deactivate_prototypes(head: nn.Module, prototypes: Sequence[int]) -> None:
    """Disconnect prototypes from the output: zero their last-layer columns.

    The prototypes stay in the model (parameter shapes, checkpoints and the
    optimizer state are unchanged) but no longer contribute to the logits.
    The caller keeps the columns at zero while training continues.

    Args:
        head (nn.Module): The prototype head; ``last_layer`` is a Linear
            whose input features are the P prototype similarities.
        prototypes (Sequence[int]): Prototype indices.
    """
    if len(prototypes) == 0:
        return
    with torch.no_grad():
        head.last_layer.weight[:, list(prototypes)] = 0


def log_missing(head: nn.Module, result: ProjectionResult, logger) -> None:
    """Warn about prototypes that had no candidate clip."""
    missing = result.missing
    if missing:
        print_log(
            f'{len(missing)} prototype(s) had no candidate clip (no clip '
            'of their node or a node under it in the projection data) and '
            'keep their previous values: '
            f'{describe_prototypes(head, missing)}',
            logger=logger,
            level=logging.WARNING)
