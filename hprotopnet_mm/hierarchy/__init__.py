"""Class hierarchies and their offline hyperbolic embeddings.

The shipped hierarchy, label-map and embedding files are in ``files/``
(``HIERARCHY_FILES_DIR``); ``files/README.md`` says where they come from.
"""
import os.path as osp

from .class_hierarchy import ClassHierarchy, HierarchyError
from .embedding_file import HyperbolicEmbedding, load_embedding, save_embedding
from .embedding_plot import plot_poincare_disk
from .embedding_quality import (embedding_quality, format_quality_report,
                                hop_distance_spearman, parent_reconstruction)
from .hyperbolic_embedding import (SEPARATION_LOSSES, embed_hierarchy,
                                   fan_layout, initial_points,
                                   leaf_separation_loss, parent_ranking_loss,
                                   poincare_pairwise_distance,
                                   sibling_separation_loss,
                                   train_hyperbolic_embedding)

HIERARCHY_FILES_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'files')

__all__ = [
    'ClassHierarchy', 'HierarchyError', 'HyperbolicEmbedding',
    'load_embedding', 'save_embedding', 'plot_poincare_disk',
    'embedding_quality', 'format_quality_report', 'hop_distance_spearman',
    'parent_reconstruction', 'embed_hierarchy', 'fan_layout', 'initial_points',
    'parent_ranking_loss', 'poincare_pairwise_distance',
    'sibling_separation_loss', 'train_hyperbolic_embedding',
    'leaf_separation_loss', 'SEPARATION_LOSSES', 'HIERARCHY_FILES_DIR'
]
