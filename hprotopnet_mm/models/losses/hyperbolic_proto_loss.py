"""Loss of the hierarchical prototype network (paper Eq. 7).

``L = CE_hyp + sum_l lambda1_l * Clst_l - sum_l lambda2_l * Sep_l
+ lambda_L1 * ||W||_1``

ProtoPNet's convention: the separation cost is a distance to be maximised,
so it enters with a minus sign.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from mmaction.registry import MODELS


def hyperbolic_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy over hyperbolic logits (paper Eq. 8).

    Args:
        logits (Tensor): Negative scaled geodesic distances to the leaf
            embeddings (Eq. 9), shape (B, K).
        labels (Tensor): Leaf labels, shape (B, ), int64.

    Returns:
        Tensor: Mean cross-entropy, a scalar.
    """
    return F.cross_entropy(logits, labels)


def level_prototype_masks(prototype_node: Tensor, prototype_level: Tensor,
                          label_nodes: Tensor,
                          level: int) -> Tuple[Tensor, Tensor]:
    """Prototypes of each clip's own node and of the other nodes at a level.

    Args:
        prototype_node (Tensor): Node id of every prototype, shape (P, ).
        prototype_level (Tensor): Level of every prototype's node, shape
            (P, ); 0 = leaf.
        label_nodes (Tensor): Node id of every clip's leaf and ancestors,
            shape (B, num_levels); ``[:, l]`` = the clip's node at level l.
        level (int): The level l.

    Returns:
        tuple[Tensor]: Boolean masks of shape (B, P): ``own``, the
        prototypes of the clip's level-l node, and ``other``, the prototypes
        of every other level-l node. A level-l node other than the clip's
        own is never one of the clip's ancestors, so ``other`` never holds
        a prototype of the clip's leaf, parent, grandparent, ...
    """
    at_level = (prototype_level == level)[None, :]  # (1, P)
    own = prototype_node[None, :] == label_nodes[:, level, None]  # (B, P)
    return own & at_level, ~own & at_level


def _mean_masked_min(min_distances: Tensor, mask: Tensor) -> Tensor:
    """Mean over clips of the smallest distance among the masked prototypes.

    Clips whose mask row is empty are left out of the mean.

    Args:
        min_distances (Tensor): Shape (B, P).
        mask (Tensor): Boolean, shape (B, P).

    Returns:
        Tensor: A scalar; NaN if every row of ``mask`` is empty.
    """
    closest = min_distances.masked_fill(~mask, float('inf')).amin(dim=1)
    return closest[mask.any(dim=1)].mean()


def cluster_cost(min_distances: Tensor, own_mask: Tensor) -> Tensor:
    """Cluster cost of one level (a term of paper Eq. 7).

    ``Clst_l = 1/B sum_i min_{p of node y_i^l} d(z_i, p)``: pulls every clip
    towards some prototype of its own node at level l.

    Args:
        min_distances (Tensor): Smallest squared L2 distance of each
            prototype to any patch of each clip, shape (B, P).
        own_mask (Tensor): Boolean (B, P), the prototypes of each clip's
            level-l node (see :func:`level_prototype_masks`).

    Returns:
        Tensor: A scalar.
    """
    return _mean_masked_min(min_distances, own_mask)


def separation_cost(min_distances: Tensor, other_mask: Tensor) -> Tensor:
    """Separation cost of one level (paper Eq. 11).

    ``Sep_l = 1/B sum_i min_{p of a level-l node != y_i^l} d(z_i, p)``: the
    distance of every clip to the closest prototype of the other level-l
    nodes, to be maximised. Prototypes of the clip's own leaf and ancestors
    never enter.

    Args:
        min_distances (Tensor): Shape (B, P), as in :func:`cluster_cost`.
        other_mask (Tensor): Boolean (B, P), the prototypes of the level-l
            nodes other than each clip's own (see
            :func:`level_prototype_masks`).

    Returns:
        Tensor: A scalar.
    """
    return _mean_masked_min(min_distances, other_mask)


def last_layer_l1(weight: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """L1 norm of the last-layer weights, optionally of a subset.

    Args:
        weight (Tensor): Last-layer weight, shape (out_features, P).
        mask (Tensor, optional): 0/1 float or boolean of the same shape;
            only the weights where it is 1 count. None: all weights.

    Returns:
        Tensor: A scalar.
    """
    if mask is not None:
        weight = weight * mask.to(weight.dtype)
    return weight.abs().sum()


def _coefficients(values, name: str, owner: str) -> Tuple[float, ...]:
    if isinstance(values, (int, float)):
        values = (values, )
    values = tuple(float(v) for v in values)
    if len(values) == 0 or any(v < 0 for v in values):
        raise ValueError(f'{owner}: {name} must be a non-empty sequence of '
                         f'non-negative numbers, got {values}')
    return values


@MODELS.register_module()
class HyperbolicProtoLoss(nn.Module):
    """Cross-entropy plus hierarchical cluster and separation costs
    (paper Eq. 7).

    ``loss = CE + sum_l cluster_coefs[l] * Clst_l
    - sum_l separation_coefs[l] * Sep_l + l1_coef * ||W * mask||_1``

    Level l = 0 is the leaf level, 1 the parent level, and so on; both
    coefficient lists need one entry per level of the hierarchy. Levels
    without prototypes (the ancestor levels of a network with prototypes
    for leaves only) are skipped, which reduces the loss to ProtoPNet's.
    The separation term of a level is also skipped when no clip has a
    prototype of another node at that level (a level with a single node).

    The L1 term acts on the last layer passed by the head; with no mask
    (the hyperbolic head, whose last layer maps into the embedding space
    and has no class connections), on all of its weights.

    Args:
        cluster_coefs (Sequence[float]): lambda1 per level, leaf first.
            Defaults to (0.8, 0.5, 0.3).
        separation_coefs (Sequence[float]): lambda2 per level, leaf first.
            Defaults to (0.08, 0.11, 0.13).
        l1_coef (float): Weight of the L1 term. Defaults to 0.
    """

    def __init__(self,
                 cluster_coefs: Sequence[float] = (0.8, 0.5, 0.3),
                 separation_coefs: Sequence[float] = (0.08, 0.11, 0.13),
                 l1_coef: float = 0.0) -> None:
        super().__init__()
        name = type(self).__name__
        self.cluster_coefs = _coefficients(cluster_coefs, 'cluster_coefs',
                                           name)
        self.separation_coefs = _coefficients(separation_coefs,
                                              'separation_coefs', name)
        if len(self.cluster_coefs) != len(self.separation_coefs):
            raise ValueError(
                f'{name}: cluster_coefs {self.cluster_coefs} and '
                f'separation_coefs {self.separation_coefs} must have one '
                f'entry per hierarchy level each')
        if not l1_coef >= 0:
            raise ValueError(f'{name}: l1_coef must be non-negative, got '
                             f'{l1_coef}')
        self.l1_coef = float(l1_coef)

    @property
    def num_levels(self) -> int:
        """int: Number of hierarchy levels the coefficients are for."""
        return len(self.cluster_coefs)

    def check_num_levels(self, num_levels: int, source: str) -> None:
        """Raise a ValueError unless there is a coefficient per level.

        Args:
            num_levels (int): Levels of the hierarchy, leaf level included.
            source (str): What the hierarchy comes from, for the message.
        """
        if num_levels != self.num_levels:
            raise ValueError(
                f'{type(self).__name__}: {source} has {num_levels} levels '
                f'but cluster_coefs {self.cluster_coefs} and '
                f'separation_coefs {self.separation_coefs} have '
                f'{self.num_levels} entries; give one coefficient per level, '
                f'leaf first')

    def forward(self,
                cls_score: Tensor,
                labels: Tensor,
                min_distances: Tensor,
                prototype_node: Tensor,
                prototype_level: Tensor,
                label_nodes: Tensor,
                last_layer_weight: Optional[Tensor] = None,
                last_layer_mask: Optional[Tensor] = None,
                level_names: Optional[Sequence[str]] = None
                ) -> Dict[str, Tensor]:
        """Compute the loss terms.

        Args:
            cls_score (Tensor): Class logits, shape (B, K).
            labels (Tensor): Leaf labels, shape (B, ).
            min_distances (Tensor): Smallest distance of every prototype to
                each clip, shape (B, P).
            prototype_node (Tensor): Node id of every prototype, (P, ).
            prototype_level (Tensor): Level of every prototype, (P, ).
            label_nodes (Tensor): Each clip's node per level, shape
                (B, num_levels), leaf first.
            last_layer_weight (Tensor, optional): Weight of the last layer,
                needed when ``l1_coef > 0``.
            last_layer_mask (Tensor, optional): Which weights the L1 term
                counts, same shape; None: all.
            level_names (Sequence[str], optional): Names for the keys,
                leaf first. Defaults to ``level0``, ``level1``, ...

        Returns:
            dict[str, Tensor]: ``loss_cls`` (CE), per level with prototypes
            ``loss_cluster_<level>`` (= coef * cost) and
            ``loss_separation_<level>`` (= -coef * cost), ``loss_l1`` when
            ``l1_coef > 0``, and the unweighted costs ``cluster_<level>``
            and ``separation_<level>`` (detached, logged only).
        """
        name = type(self).__name__
        if label_nodes.dim() != 2 or label_nodes.shape[0] != labels.shape[0]:
            raise ValueError(
                f'{name}: label_nodes must have shape (B, num_levels) with '
                f'B={labels.shape[0]}, got {tuple(label_nodes.shape)}')
        self.check_num_levels(label_nodes.shape[1], 'the hierarchy')
        if level_names is None:
            level_names = [f'level{i}' for i in range(self.num_levels)]
        elif len(level_names) != self.num_levels:
            raise ValueError(f'{name}: got {len(level_names)} level names '
                             f'for {self.num_levels} levels')
        losses = dict(loss_cls=hyperbolic_cross_entropy(cls_score, labels))
        min_distances = min_distances.float()
        for level, level_name in enumerate(level_names):
            own, other = level_prototype_masks(prototype_node, prototype_level,
                                               label_nodes, level)
            if not own.any():
                continue
            clst = cluster_cost(min_distances, own)
            losses[f'loss_cluster_{level_name}'] = \
                self.cluster_coefs[level] * clst
            losses[f'cluster_{level_name}'] = clst.detach()
            if other.any():
                sep = separation_cost(min_distances, other)
                losses[f'loss_separation_{level_name}'] = \
                    -self.separation_coefs[level] * sep
                losses[f'separation_{level_name}'] = sep.detach()
        if self.l1_coef > 0:
            if last_layer_weight is None:
                raise ValueError(f'{name}: l1_coef={self.l1_coef} needs the '
                                 f'last-layer weight')
            losses['loss_l1'] = self.l1_coef * last_layer_l1(
                last_layer_weight, last_layer_mask)
        return losses
