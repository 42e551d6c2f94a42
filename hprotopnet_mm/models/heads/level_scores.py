"""Node probabilities of every hierarchy level from leaf probabilities, as
the hierarchical heads add them to their predictions
(:class:`LevelScoresMixin`)."""
from typing import Dict, Optional

import torch.nn.functional as F
from torch import Tensor

from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.utils import SampleList


def level_scores(leaf_probs: Tensor, membership: Tensor,
                 hierarchy: ClassHierarchy) -> Dict[str, Tensor]:
    """Probabilities of the nodes of every level, from leaf probabilities.

    The probability of a node is the sum of the probabilities of the leaves
    under it, so the scores of each level sum to 1.

    Args:
        leaf_probs (Tensor): Shape (..., K).
        membership (Tensor): Float (N, K), 1 where leaf k lies under (or
            is) node n.
        hierarchy (ClassHierarchy): Gives the nodes of each level.

    Returns:
        dict[str, Tensor]: level name -> scores (..., N_level), for every
        level including the leaf level; column j is the j-th node of the
        level, i.e. node id ``hierarchy.level_node_ids(level)[j]``.
    """
    scores = {}
    for level, name in enumerate(hierarchy.level_names):
        ids = hierarchy.level_node_ids(level).to(membership.device)
        scores[name] = leaf_probs @ membership[ids].t().to(leaf_probs.dtype)
    return scores


def set_level_scores(data_samples: SampleList, membership: Tensor,
                     hierarchy: ClassHierarchy,
                     average_clips: Optional[str]) -> SampleList:
    """Add per-level scores to data samples holding leaf ``pred_score``.

    Sets ``pred_level_scores`` (see :func:`level_scores`) on every sample.
    The leaf probabilities are ``pred_score`` itself when the clip scores
    were averaged as probabilities (``average_clips='prob'``), else its
    softmax (``'score'``, and ``None``, where every clip keeps its own row).

    Args:
        data_samples (list[ActionDataSample]): Samples with ``pred_score``.
        membership (Tensor): Float (N, K), see :func:`level_scores`.
        hierarchy (ClassHierarchy): The class hierarchy.
        average_clips (str, optional): The head's ``average_clips``.

    Returns:
        list[ActionDataSample]: The same samples.
    """
    for sample in data_samples:
        score = sample.pred_score.float()
        probs = score if average_clips == 'prob' else F.softmax(score, -1)
        sample.pred_level_scores = level_scores(probs, membership, hierarchy)
    return data_samples


class LevelScoresMixin:
    """``predict_by_feat`` of a hierarchical head: the leaf predictions of
    MMAction2's ``BaseHead`` plus ``pred_level_scores``
    (:func:`set_level_scores`). Put before ``BaseHead`` in the bases; the
    head sets ``leaf_membership`` and ``hierarchy``."""

    def predict_by_feat(self, cls_scores: Tensor,
                        data_samples: SampleList) -> SampleList:
        """Leaf predictions as in ``BaseHead`` plus ``pred_level_scores``.

        Args:
            cls_scores (Tensor): Leaf logits, shape (B * num_clips, K).
            data_samples (list[ActionDataSample]): The samples.

        Returns:
            list[ActionDataSample]: The samples with predictions.
        """
        data_samples = super().predict_by_feat(cls_scores, data_samples)
        return set_level_scores(data_samples, self.leaf_membership,
                                self.hierarchy, self.average_clips)
