"""Drawing a 2-D hyperbolic embedding of a class hierarchy."""
import math
from typing import Optional

import geoopt
import torch

from .class_hierarchy import ClassHierarchy


def plot_poincare_disk(hierarchy: ClassHierarchy,
                       embeddings: torch.Tensor,
                       curvature: float,
                       path: str,
                       title: Optional[str] = None,
                       geodesic_points: int = 24) -> None:
    """Draw a 2-D embedding of ``hierarchy`` in its Poincare disk as a PNG.

    The disk is drawn as the unit circle (coordinates times
    ``sqrt(curvature)``, which keeps the picture conformal). Nodes are
    coloured by their top-level ancestor (legend), tree edges are drawn as
    hyperbolic geodesics (``geoopt.PoincareBall.geodesic``) from the root at
    the centre, and level-1 nodes (the parents of the leaves) are labelled
    just outside the circle in their direction. Marker size grows with the
    level. Uses the Agg canvas directly and never touches pyplot's global
    backend.

    Args:
        hierarchy (ClassHierarchy): The embedded tree.
        embeddings (torch.Tensor): ``(num_nodes, 2)`` points of the disk in
            the hierarchy's node order.
        curvature (float): Curvature magnitude of the disk.
        path (str): Output PNG file.
        title (str, optional): Figure title.
        geodesic_points (int): Points per drawn edge. Defaults to 24.
    """
    if embeddings.dim() != 2 or embeddings.shape != (hierarchy.num_nodes, 2):
        raise ValueError(
            f'a disk plot needs ({hierarchy.num_nodes}, 2) points, got '
            f'{tuple(embeddings.shape)}')
    # matplotlib is imported on use: it is slow to import and only this
    # optional drawing needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    points = embeddings.detach().double().cpu()
    ball = geoopt.PoincareBall(c=curvature)
    scale = math.sqrt(curvature)  # to the unit disk
    top_level = hierarchy.num_levels - 1
    top_ids = hierarchy.level_node_ids(top_level).tolist()
    # top-level ancestor of every node
    top_of = list(range(hierarchy.num_nodes))
    for node in range(hierarchy.num_nodes):
        while hierarchy.parent[top_of[node]] >= 0:
            top_of[node] = int(hierarchy.parent[top_of[node]])

    figure = Figure(figsize=(10, 10))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.add_patch(Circle((0, 0), 1.0, fill=False, color='black', linewidth=1))
    colors = _colors(len(top_ids))
    color_of = {top: colors[i] for i, top in enumerate(top_ids)}

    t = torch.linspace(0, 1, geodesic_points, dtype=torch.float64)[:, None]
    for node in range(hierarchy.num_nodes):
        parent = int(hierarchy.parent[node])
        start = torch.zeros(2, dtype=torch.float64) if parent < 0 \
            else points[parent]
        curve = ball.geodesic(t, start.expand(len(t), 2), points[node].expand(
            len(t), 2)) * scale
        axes.plot(
            curve[:, 0],
            curve[:, 1],
            color=color_of[top_of[node]],
            linewidth=0.6,
            alpha=0.6)
    axes.scatter([0], [0], s=30, color='black', marker='x')

    for level in range(hierarchy.num_levels):
        ids = hierarchy.level_node_ids(level).tolist()
        axes.scatter(
            points[ids, 0] * scale,
            points[ids, 1] * scale,
            s=12 + 30 * level,
            c=[color_of[top_of[i]] for i in ids],
            edgecolors='black' if level else 'none',
            linewidths=0.5,
            zorder=3)
    for node in hierarchy.level_node_ids(1).tolist():
        angle = math.atan2(points[node, 1], points[node, 0])
        left = abs(angle) > math.pi / 2
        axes.text(
            1.03 * math.cos(angle),
            1.03 * math.sin(angle),
            hierarchy.node_names[node],
            fontsize=7,
            rotation=math.degrees(angle) + (180 if left else 0),
            rotation_mode='anchor',
            ha='right' if left else 'left',
            va='center',
            color=color_of[top_of[node]])
    for top in top_ids:
        axes.scatter([], [],
                     color=color_of[top],
                     label=hierarchy.node_names[top])
    axes.legend(
        loc='upper center', bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8)

    axes.set_xlim(-1.5, 1.5)
    axes.set_ylim(-1.5, 1.5)
    axes.set_aspect('equal')
    axes.set_axis_off()
    if title:
        axes.set_title(title)
    figure.savefig(path, dpi=120, bbox_inches='tight')


def _colors(num: int) -> list:
    """``num`` distinct colours from matplotlib's qualitative maps."""
    from matplotlib import colormaps
    name = 'tab10' if num <= 10 else 'tab20'
    cmap = colormaps[name]
    return [cmap(i % cmap.N) for i in range(num)]
