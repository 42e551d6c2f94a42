"""Prototype projection (paper Sec. 4.5): the nearest candidate training
patch of every prototype, its provenance, and ProtoPNet's prune step.

- :mod:`.candidates`: the projected head and the clips that may supply each
  prototype (Eq. 12);
- :mod:`.clips`: the feature map of every projection clip, one at a time;
- :mod:`.search`: the streaming, deterministic nearest-patch search;
- :mod:`.project`: projection, the distinct-patch rule, provenance;
- :mod:`.prune`: the k nearest clips of every prototype and pruning.
"""
from .candidates import (describe_prototypes, projection_candidates,
                         prototype_head, unwrap_model)
from .clips import (ClipSource, clip_feature_maps, eval_mode,
                    fixed_batch_indices, iterate_clips)
from .project import (ProjectionResult, apply_projection, distinct_patch_slots,
                      log_missing, project_prototypes)
from .prune import (deactivate_prototypes, nearest_clips, prune_decision,
                    pruned_prototypes)
from .search import (NearestPatchSearch, lexicographic_order, nearest_cells,
                     patches_at)

__all__ = [
    'ClipSource', 'NearestPatchSearch', 'ProjectionResult', 'apply_projection',
    'clip_feature_maps', 'deactivate_prototypes', 'describe_prototypes',
    'distinct_patch_slots', 'eval_mode', 'fixed_batch_indices',
    'iterate_clips', 'lexicographic_order', 'log_missing', 'nearest_cells',
    'nearest_clips', 'patches_at', 'project_prototypes',
    'projection_candidates', 'prototype_head', 'pruned_prototypes',
    'prune_decision', 'unwrap_model'
]
