"""Where the clips' points lie in the Poincare ball, against the shells of
the hierarchy's levels.

The class embeddings of a level lie at about one distance from the origin
(leaves farthest out). A clip's point ``h`` (paper Eq. 6) that lies within
the leaves' radius keeps the paper's premise: its distance to a class
embedding says how much it looks like that class. A point beyond the
leaves moves away from every class at once when evidence is added, and a
point at the float32 boundary of the ball no longer moves at all.
"""
from typing import Dict

import numpy as np
from geoopt import PoincareBall
from torch import Tensor

#: geoopt keeps float32 points this relative distance inside the boundary.
FLOAT32_BOUNDARY_EPS = 4e-3


def distance_from_origin(points: Tensor, ball: PoincareBall) -> Tensor:
    """Hyperbolic distance of points from the origin.

    Args:
        points (Tensor): Points of the ball, (N, D).
        ball (PoincareBall): The ball.

    Returns:
        Tensor: float64, shape (N, ).
    """
    return ball.dist0(points.double())


def shell_summary(h: Tensor, node_embeddings: Tensor, node_levels: Tensor,
                  level_names, ball: PoincareBall) -> Dict:
    """Distances from the origin of clip points and of each level's nodes.

    Args:
        h (Tensor): Clip points (N, D).
        node_embeddings (Tensor): Embeddings of all nodes (M, D).
        node_levels (Tensor): Level of every node (M, ), 0 = leaf.
        level_names (Sequence[str]): Name of each level, leaf first.
        ball (PoincareBall): The ball.

    Returns:
        dict: ``clips`` (count and quantiles 5/25/50/75/95 of the clips'
        distance from the origin), ``levels`` (per level the min / mean /
        max distance of its nodes), ``beyond_leaves`` (share of clips
        farther out than the farthest leaf), ``within_leaf_shell`` (share
        between the farthest parent-level node and the farthest leaf) and
        ``at_float32_boundary`` (share within geoopt's float32 margin of
        the boundary).
    """
    radius = distance_from_origin(h, ball).cpu().numpy()
    nodes = distance_from_origin(node_embeddings, ball).cpu().numpy()
    levels = node_levels.cpu().numpy()
    per_level = {
        name:
        dict(
            min=float(nodes[levels == level].min()),
            mean=float(nodes[levels == level].mean()),
            max=float(nodes[levels == level].max()))
        for level, name in enumerate(level_names)
    }
    leaf_max = per_level[level_names[0]]['max']
    parent_max = per_level[level_names[1]]['max'] \
        if len(level_names) > 1 else 0.0
    c = float(ball.c)
    norm = h.double().norm(dim=-1).cpu().numpy() * c**0.5
    return dict(
        clips=dict(
            count=int(len(radius)),
            **{
                f'q{q:02d}': float(np.percentile(radius, q))
                for q in (5, 25, 50, 75, 95)
            }),
        levels=per_level,
        beyond_leaves=float(np.mean(radius > leaf_max * (1 + 1e-4))),
        within_leaf_shell=float(
            np.mean((radius > parent_max)
                    & (radius <= leaf_max * (1 + 1e-4)))),
        at_float32_boundary=float(
            np.mean(norm >= 1 - 1.5 * FLOAT32_BOUNDARY_EPS)))
