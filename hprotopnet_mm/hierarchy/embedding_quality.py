"""How well a Poincare embedding reproduces its class hierarchy."""
import math
from typing import Dict

import geoopt
import numpy as np
import torch
from scipy.stats import spearmanr

from .class_hierarchy import ClassHierarchy


def parent_reconstruction(hierarchy: ClassHierarchy,
                          dist: torch.Tensor) -> Dict[str, float]:
    """Mean average precision and mean rank of reconstructing each parent.

    Nickel & Kiela's reconstruction test with the parent as the only
    positive: for each node that has a parent, rank all other nodes by
    distance to it; the average precision is ``1 / rank(parent)``. Ties count
    against the parent (rank = 1 + number of other nodes at a distance <= the
    parent's). Top-level nodes have no parent and are skipped.

    Args:
        hierarchy (ClassHierarchy): The tree.
        dist (torch.Tensor): ``(N, N)`` pairwise node distances.

    Returns:
        dict: ``parent_map`` and ``parent_mean_rank`` (floats),
        ``num_parent_queries`` (int).
    """
    nodes = (hierarchy.parent >= 0).nonzero().flatten()
    parents = hierarchy.parent[nodes]
    rows = dist[nodes]
    parent_dist = rows.gather(1, parents[:, None])
    closer = rows <= parent_dist
    closer[torch.arange(len(nodes)), nodes] = False  # the node itself
    closer[torch.arange(len(nodes)), parents] = False  # the parent
    ranks = 1 + closer.sum(dim=1).double()
    return dict(
        parent_map=(1.0 / ranks).mean().item(),
        parent_mean_rank=ranks.mean().item(),
        num_parent_queries=len(nodes))


def hop_distance_spearman(hierarchy: ClassHierarchy,
                          dist: torch.Tensor) -> Dict[str, float]:
    """Spearman correlation of tree hop distance and embedding distance.

    Over all unordered pairs of distinct leaves (``scipy.stats.spearmanr``).

    Hop distances take only a few values (2, 4, 6 for three levels), so
    they are heavily tied, while embedding distances are all different.
    Then even a perfect ordering (every sibling pair closer than every
    cousin pair, and so on) scores below 1: ``hop_spearman_max`` is that
    score, the largest any embedding with distinct pair distances can reach.

    Args:
        hierarchy (ClassHierarchy): The tree.
        dist (torch.Tensor): ``(N, N)`` pairwise node distances.

    Points pressed against the boundary make geoopt's clamps return one
    and the same distance for many pairs; such ties can lift
    ``hop_spearman`` above ``hop_spearman_max``. ``tied_leaf_pairs`` reports
    how common they are.

    Returns:
        dict: ``hop_spearman``, ``hop_spearman_max`` and ``tied_leaf_pairs``
        (share of leaf pairs whose distance equals another pair's), floats.
    """
    n = hierarchy.num_leaves
    i, j = torch.triu_indices(n, n, offset=1)
    hops = hierarchy.hop_distance[i, j].numpy()
    pair_dist = dist[i, j].double()
    _, counts = torch.unique(pair_dist, return_counts=True)
    best = np.arange(len(hops), dtype=np.float64)  # distinct, in hop order
    return dict(
        hop_spearman=float(spearmanr(hops, pair_dist.numpy()).statistic),
        hop_spearman_max=float(spearmanr(np.sort(hops), best).statistic),
        tied_leaf_pairs=counts[counts > 1].sum().item() / len(hops))


def embedding_quality(hierarchy: ClassHierarchy,
                      embeddings: torch.Tensor,
                      curvature: float = 1.0) -> dict:
    """Quality report of a Poincare embedding of ``hierarchy``.

    Args:
        hierarchy (ClassHierarchy): The embedded tree.
        embeddings (torch.Tensor): ``(num_nodes, dim)`` points of the Poincare
            ball of curvature ``curvature``, in the hierarchy's node order.
        curvature (float): Curvature magnitude of the ball. Defaults to 1.0.

    Returns:
        dict: Plain Python values:

        - ``parent_map`` (float): mean average precision of finding each
          node's parent as its nearest node (1.0 is perfect),
        - ``parent_mean_rank`` (float): mean rank of the parent (1.0 is
          perfect),
        - ``num_parent_queries`` (int): nodes that have a parent,
        - ``hop_spearman`` (float): Spearman correlation between hop distance
          and Poincare distance over all leaf pairs,
        - ``hop_spearman_max`` (float): the highest ``hop_spearman`` possible
          with distinct distances (see :func:`hop_distance_spearman`),
        - ``tied_leaf_pairs`` (float): share of leaf pairs at a distance
          shared with another pair (0 unless distances saturate),
        - ``ball_radius`` (float): ``1 / sqrt(curvature)``,
        - ``mean_norm_per_level`` (dict[str, float]): mean Euclidean norm of
          the points of each level, by level name (leaves should be nearest
          the boundary).
    """
    if embeddings.shape[0] != hierarchy.num_nodes or embeddings.dim() != 2:
        raise ValueError(
            f'embeddings must have shape ({hierarchy.num_nodes}, dim), got '
            f'{tuple(embeddings.shape)}')
    ball = geoopt.PoincareBall(c=curvature)
    points = embeddings.detach().double()
    with torch.no_grad():
        dist = ball.dist(points[:, None, :], points[None, :, :])
    report = parent_reconstruction(hierarchy, dist)
    report.update(hop_distance_spearman(hierarchy, dist))
    report['ball_radius'] = 1.0 / math.sqrt(curvature)
    norms = points.norm(dim=1)
    report['mean_norm_per_level'] = {
        name: norms[hierarchy.level_node_ids(level)].mean().item()
        for level, name in enumerate(hierarchy.level_names)
    }
    return report


def format_quality_report(report: dict) -> str:
    """Render a report of :func:`embedding_quality` as readable lines."""
    norms = ', '.join(f'{name} {value:.4f}'
                      for name, value in report['mean_norm_per_level'].items())
    return '\n'.join([
        f'parent reconstruction MAP: {report["parent_map"]:.4f} '
        f'(mean rank {report["parent_mean_rank"]:.4f}, '
        f'{report["num_parent_queries"]} nodes)',
        f'hop/Poincare distance Spearman (leaf pairs): '
        f'{report["hop_spearman"]:.4f} (highest possible with distinct '
        f'distances: {report["hop_spearman_max"]:.4f}; tied leaf pairs '
        f'{report["tied_leaf_pairs"]:.1%})',
        f'mean norm per level: {norms} (ball radius '
        f'{report["ball_radius"]:.4f})',
    ])
