"""Prototype projection (paper Sec. 4.5, ProtoPNet's "push").

Every prototype of hierarchy node k becomes the nearest patch of the feature
map ``z`` among the training clips that may supply it: the clips whose leaf
is k or lies under k (Eq. 12). For a flat head (ProtoPNet) a prototype's
candidates are the clips of its class.

**Distinct patches** (``unique_patches=True``, the default): prototypes of
one node never take the same patch (same clip, view and cell). The
prototypes of a node choose in the order of the distance to their nearest
candidate patch (ties: lower prototype index first); each takes its nearest
candidate patch that no prototype of the node chose before it. So the first
keeps its nearest patch, and a prototype whose nearest patch is taken gets
its next-best one, from the same clip or another. Prototypes of different
nodes may share a patch (a leaf and its parent may well point at the same
evidence). With ``unique_patches=False`` every prototype takes its nearest
patch, as ProtoPNet does.

The provenance of every prototype (video file, frame indices, view, cell,
distance, label, node) is written to ``head.prototype_sources`` (a
:class:`PrototypeSources`), which the head saves in its checkpoints.
"""
import logging
from dataclasses import dataclass, replace
from typing import List, Optional

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from hprotopnet_mm.models.heads import (BasePrototypeHead, PatchSource,
                                        PrototypeSources)
from .candidates import (describe_prototypes, projection_candidates,
                         prototype_head, unwrap_model)
from .clips import eval_mode, iterate_clips
from .search import NearestPatchSearch


@dataclass
class ProjectionResult:
    """Outcome of :func:`project_prototypes` (identical on all processes).

    Attributes:
        patches (Tensor): The patch every prototype takes, (P, C, t, h, w);
            rows of prototypes without a candidate are 0.
        found (Tensor): Bool (P, ), prototypes with a candidate patch.
        distance (Tensor): (P, ) squared L2 distance of every prototype
            (before projection) to its patch; inf where not found.
        records (list[PatchSource | None]): Provenance of every patch
            (``node`` not yet set), None where not found.
    """
    patches: Tensor
    found: Tensor
    distance: Tensor
    records: List[Optional[PatchSource]]

    @property
    def missing(self) -> List[int]:
        """Prototypes that had no candidate clip."""
        return (~self.found).nonzero().flatten().tolist()


def distinct_patch_slots(search: NearestPatchSearch,
                         prototype_node: Tensor) -> Tensor:
    """The slot of ``search`` every prototype takes so that prototypes of
    one node take distinct patches (the rule of the module docstring).

    Args:
        search (NearestPatchSearch): A finished search with at least as
            many slots as the largest node has prototypes.
        prototype_node (Tensor): Node of every prototype, (P, ).

    Returns:
        Tensor: (P, ) slot indices on the search's device; -1 for a
        prototype left without a patch.
    """
    nodes = prototype_node.tolist()
    best = search.distance[:, 0].tolist()
    found = search.found.tolist()
    records = search.records
    slot = [-1] * len(nodes)
    taken = {node: set() for node in nodes}
    for p in sorted(range(len(nodes)), key=lambda p: (best[p], p)):
        for s, record in enumerate(records[p]):
            if found[p][s] and record.location not in taken[nodes[p]]:
                taken[nodes[p]].add(record.location)
                slot[p] = s
                break
    return torch.tensor(slot, device=search.distance.device)


def project_prototypes(model: nn.Module,
                       dataloader,
                       clips_per_forward: int = 1,
                       progress: bool = True,
                       unique_patches: bool = True) -> ProjectionResult:
    """Find the candidate patch of every prototype (Sec. 4.5).

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
        unique_patches (bool): Prototypes of one node take distinct patches
            (module docstring). Defaults to True.

    Returns:
        ProjectionResult: The global result, identical on all processes.
    """
    model = unwrap_model(model)
    head = prototype_head(model)
    prototypes = head.prototype_vectors
    slots = 1
    if unique_patches:
        slots = int(torch.bincount(head.prototype_node).max())
    search = NearestPatchSearch(
        projection_candidates(head), head.prototype_layer.prototype_shape,
        prototypes.shape[1], prototypes.device, prototypes.dtype, slots)
    with eval_mode(model), torch.no_grad():
        for z, source, view in iterate_clips(model, dataloader,
                                             clips_per_forward, progress):
            if not 0 <= source.label < search.candidates.shape[1]:
                raise ValueError(
                    f'{source.filename} has label {source.label}, outside '
                    f'the {search.candidates.shape[1]} classes of the head')
            search.update(z, head.distance_maps(z[None])[0], source, view)
    search.merge_across_processes()
    if unique_patches:
        slot = distinct_patch_slots(search, head.prototype_node)
    else:
        slot = torch.where(search.found[:, 0], 0, -1)
    rows = torch.arange(len(slot), device=slot.device)
    taken = slot.clamp(min=0)
    found = slot >= 0
    return ProjectionResult(
        patches=torch.where(
            found.view((-1, ) + (1, ) * (search.patch.dim() - 2)),
            search.patch[rows, taken], torch.zeros_like(search.patch[:, 0])),
        found=found,
        distance=torch.where(found, search.distance[rows, taken],
                             float('inf')),
        records=[
            search.records[p][s] if s >= 0 else None
            for p, s in enumerate(slot.tolist())
        ])


def apply_projection(head: BasePrototypeHead,
                     result: ProjectionResult,
                     epoch: Optional[int] = None) -> None:
    """Write the projected prototypes and their provenance into the head.

    Prototypes without a candidate keep their values (and get a None
    record). ``head.prototype_sources`` becomes a :class:`PrototypeSources`
    whose records name the prototype's node and the names of the node and
    of the clip's leaf; ``pruned`` is kept from an earlier projection.

    Args:
        head (BasePrototypeHead): The prototype head.
        result (ProjectionResult): From :func:`project_prototypes`.
        epoch (int, optional): Training epochs done before the projection.
    """
    found = result.found.to(head.prototype_vectors.device)
    with torch.no_grad():
        head.prototype_vectors[found] = result.patches[found].to(
            head.prototype_vectors)
    names = head.hierarchy.node_names
    records = []
    for p, record in enumerate(result.records):
        if record is not None:
            node = int(head.prototype_node[p])
            record = replace(
                record,
                node=node,
                node_name=names[node],
                label_name=names[record.label])
        records.append(record)
    previous = head.prototype_sources
    head.prototype_sources = PrototypeSources(
        prototypes=records,
        prototype_shape=list(head.prototype_layer.prototype_shape),
        pruned=list(previous.pruned) if previous is not None else [],
        epoch=epoch)


def log_missing(head: BasePrototypeHead, result: ProjectionResult,
                logger) -> None:
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
