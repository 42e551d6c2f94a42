"""Drawing a 2-D hyperbolic embedding of a class hierarchy."""
import math
from typing import List, Optional

import geoopt
import torch

from .class_hierarchy import ClassHierarchy

CAPTION = (
    'Left: the Poincare disk, every node at its true position (coordinates '
    'times sqrt(c), the unit disk). Near the rim hyperbolic distances shrink '
    'on paper, so there the leaves sit almost on their parents and on each '
    'other. Right, the rim zoomed: one inset per parent of leaves, the disk '
    'seen from that parent (moved to the centre by a Moebius translation, '
    'an isometry: distances and angles are those of the embedding) with a '
    'radial rescale: every node at its true angle from the centre, at a '
    'radius proportional to its hyperbolic distance from the centre, so '
    'that the leaves of the parent lie apart. x: the root.')


def recentred(points: torch.Tensor, centre: torch.Tensor,
              curvature: float) -> torch.Tensor:
    """The Poincare ball seen from ``centre``: the Moebius translation
    ``x -> (-centre) + x`` (gyro-addition), an isometry that moves
    ``centre`` to the origin.

    Args:
        points (torch.Tensor): ``(..., D)`` points of the ball.
        centre (torch.Tensor): ``(D,)`` a point of the ball.
        curvature (float): Curvature magnitude c of the ball.

    Returns:
        torch.Tensor: ``(..., D)`` the moved points, float64.
    """
    ball = geoopt.PoincareBall(c=curvature)
    points = points.detach().double()
    return ball.mobius_add(-centre.detach().double().expand_as(points), points)


def radial_rescale(points: torch.Tensor, curvature: float) -> torch.Tensor:
    """Points of the ball at their true angle from the origin, at the radius
    ``d(0, x) / d_max``: their hyperbolic distance from the origin over the
    largest one float64 allows in the ball (so the radius stays below 1).

    Args:
        points (torch.Tensor): ``(..., D)`` points of the ball.
        curvature (float): Curvature magnitude c of the ball.

    Returns:
        torch.Tensor: ``(..., D)`` float64 coordinates in the unit ball.
    """
    ball = geoopt.PoincareBall(c=curvature)
    points = points.detach().double()
    far = ball.projx(
        torch.cat(
            [points.new_ones(1) * 1e6,
             points.new_zeros(points.shape[-1] - 1)]))
    radius = ball.dist0(points, keepdim=True) / ball.dist0(far)
    norm = points.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, points / norm.clamp_min(1e-300) * radius,
                       torch.zeros_like(points))


def plot_poincare_disk(hierarchy: ClassHierarchy,
                       embeddings: torch.Tensor,
                       curvature: float,
                       path: str,
                       title: Optional[str] = None,
                       geodesic_points: int = 24) -> None:
    """Draw a 2-D embedding of ``hierarchy`` as a PNG in which every node
    can be seen.

    Left, the Poincare disk (the unit circle, coordinates times
    ``sqrt(curvature)``, which keeps the picture conformal). Right, one
    inset per level-1 node (the parents of the leaves): the disk moved by
    :func:`recentred` so that the node sits at the centre, drawn with
    :func:`radial_rescale`, where its leaves, bunched at the rim on the
    left, lie apart. A caption under the panels says what they show. Nodes
    are coloured by their top-level ancestor (legend), tree edges are drawn
    as hyperbolic geodesics (``geoopt.PoincareBall.geodesic``) from the
    root, level-1 nodes are labelled just outside the circle in their
    direction, and the leaves of an inset likewise. Marker size grows with
    the level. Uses the Agg canvas directly and never touches pyplot's
    global backend.

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

    points = embeddings.detach().double().cpu()
    ball = geoopt.PoincareBall(c=curvature)
    scale = math.sqrt(curvature)  # to the unit disk
    top_ids = hierarchy.level_node_ids(hierarchy.num_levels - 1).tolist()
    # top-level ancestor of every node
    top_of = list(range(hierarchy.num_nodes))
    for node in range(hierarchy.num_nodes):
        while hierarchy.parent[top_of[node]] >= 0:
            top_of[node] = int(hierarchy.parent[top_of[node]])
    colors = _colors(len(top_ids))
    color_of = [colors[top_ids.index(top)] for top in top_of]
    t = torch.linspace(0, 1, geodesic_points, dtype=torch.float64)[:, None]
    origin = torch.zeros(2, dtype=torch.float64)
    edges = []  # the geodesic from every node's parent (or the root) to it
    for node in range(hierarchy.num_nodes):
        parent = int(hierarchy.parent[node])
        start = origin if parent < 0 else points[parent]
        edges.append(
            ball.geodesic(t, start.expand(len(t), 2),
                          points[node].expand(len(t), 2)))

    parents = hierarchy.level_node_ids(min(1,
                                           hierarchy.num_levels - 1)).tolist()
    cols = math.ceil(math.sqrt(len(parents)))
    rows = math.ceil(len(parents) / cols)
    figure = Figure(figsize=(22, 11.5))
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, 2 * cols, wspace=0.05, hspace=0.25)
    axes = figure.add_subplot(grid[:, :cols])
    _draw_disk(axes, hierarchy, points * scale,
               [edge * scale for edge in edges], origin, color_of, parents, 7)
    axes.set_title('Poincare disk: true positions', fontsize=12)
    for i, parent in enumerate(parents):
        inset = figure.add_subplot(grid[i // cols, cols + i % cols])

        def zoomed(x: torch.Tensor, centre=points[parent]) -> torch.Tensor:
            return radial_rescale(recentred(x, centre, curvature), curvature)

        children = (hierarchy.parent == parent).nonzero().flatten().tolist()
        _draw_disk(inset, hierarchy,
                   zoomed(points), [zoomed(edge) for edge in edges],
                   zoomed(origin), color_of, children, 5)
        inset.set_title(
            hierarchy.node_names[parent], fontsize=7, color=color_of[parent])
    for top in top_ids:
        axes.scatter([], [],
                     color=color_of[top],
                     label=hierarchy.node_names[top])
    axes.legend(
        loc='upper center',
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(top_ids), 6),
        fontsize=8)
    figure.text(
        0.5, 0.0, CAPTION, ha='center', va='top', fontsize=9, wrap=True)
    if title:
        figure.suptitle(title)
    figure.savefig(path, dpi=100, bbox_inches='tight')


def _draw_disk(axes, hierarchy: ClassHierarchy, coords: torch.Tensor,
               edges: List[torch.Tensor], root: torch.Tensor, color_of: list,
               labelled: list, fontsize: int) -> None:
    """Unit circle, geodesic edges, the root, nodes and the names of
    ``labelled`` nodes, in unit-disk coordinates."""
    from matplotlib.patches import Circle
    axes.add_patch(Circle((0, 0), 1.0, fill=False, color='black', linewidth=1))
    for node, curve in enumerate(edges):
        axes.plot(
            curve[:, 0],
            curve[:, 1],
            color=color_of[node],
            linewidth=0.6,
            alpha=0.6)
    axes.scatter([root[0]], [root[1]], s=30, color='black', marker='x')
    for level in range(hierarchy.num_levels):
        ids = hierarchy.level_node_ids(level).tolist()
        axes.scatter(
            coords[ids, 0],
            coords[ids, 1],
            s=12 + 30 * level,
            c=[color_of[i] for i in ids],
            edgecolors='black' if level else 'none',
            linewidths=0.5,
            zorder=3)
    for node in labelled:
        angle = math.atan2(coords[node, 1], coords[node, 0])
        left = abs(angle) > math.pi / 2
        axes.text(
            1.03 * math.cos(angle),
            1.03 * math.sin(angle),
            hierarchy.node_names[node],
            fontsize=fontsize,
            rotation=math.degrees(angle) + (180 if left else 0),
            rotation_mode='anchor',
            ha='right' if left else 'left',
            va='center',
            color=color_of[node])
    axes.set_xlim(-1.5, 1.5)
    axes.set_ylim(-1.5, 1.5)
    axes.set_aspect('equal')
    axes.set_axis_off()


def _colors(num: int) -> list:
    """``num`` distinct colours from matplotlib's qualitative maps."""
    from matplotlib import colormaps
    name = 'tab10' if num <= 10 else 'tab20'
    cmap = colormaps[name]
    return [cmap(i % cmap.N) for i in range(num)]
