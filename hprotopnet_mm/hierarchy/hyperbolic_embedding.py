"""Offline hyperbolic embedding of a class hierarchy in the Poincare ball.

Every node of the tree (leaves and ancestors) gets a point of the Poincare
ball. The implicit root is not a node; it is pinned at the origin of the ball
and serves as the parent of the top-level nodes, which anchors the tree at
the centre with the leaves towards the boundary.

Training minimises ``L = L_H + lambda * L_S`` over all nodes at once (one
full-batch Riemannian Adam step per epoch):

- :func:`parent_ranking_loss` (Eq. 2): every node must be closer to its
  parent than to any other node. The negatives ``N(u)`` are all nodes and
  the root except ``u`` and its parent (no sampling).
- ``L_S``, one of two separation losses (``separation_loss``):

  * ``'ranking'`` (the default), :func:`sibling_separation_loss`, which
    replaces the paper's Eq. 4: at every level, nodes with the same parent
    must be closer to each other than to the other nodes of their level
    (a softmax ranking, like ``L_H``);
  * ``'eq4'``, :func:`leaf_separation_loss`, Eq. 4 as the paper writes it:
    the directions of all leaves (classes) are pushed apart.

  The default is the one that reconstructs the trees best (README, "Where
  this departs from the paper").

The distance is the Poincare distance (Eq. 3), computed by
:func:`poincare_pairwise_distance` with ``geoopt.PoincareBall.dist``; all
hyperbolic operations are geoopt's. :func:`embed_hierarchy` trains and
packages the result as a :class:`HyperbolicEmbedding` with its settings and
quality report.
"""
import contextlib
import inspect
import math
from typing import Callable, Iterator, Optional, Tuple

import geoopt
import torch
import torch.nn.functional as F

from .class_hierarchy import ClassHierarchy
from .embedding_file import HyperbolicEmbedding
from .embedding_quality import embedding_quality

#: The choices of ``L_S`` (module docstring).
SEPARATION_LOSSES = ('ranking', 'eq4')


def poincare_pairwise_distance(ball: geoopt.PoincareBall, x: torch.Tensor,
                               y: torch.Tensor) -> torch.Tensor:
    """Poincare distance between every point of ``x`` and every point of ``y``.

    Eq. 3 (for curvature ``c = 1``)::

        d(u, v) = arcosh(1 + 2 ||u - v||^2 / ((1 - ||u||^2) (1 - ||v||^2)))

    computed by ``ball.dist`` (the ball's curvature is used).

    Args:
        ball (geoopt.PoincareBall): The manifold.
        x (torch.Tensor): ``(N, D)`` points of the ball.
        y (torch.Tensor): ``(M, D)`` points of the ball.

    Returns:
        torch.Tensor: ``(N, M)`` distances.
    """
    return ball.dist(x[:, None, :], y[None, :, :])


def parent_ranking_loss(dist: torch.Tensor, parent: torch.Tensor,
                        candidate_mask: torch.Tensor) -> torch.Tensor:
    """Parent-child ranking loss ``L_H`` (Eq. 2).

    For each edge (child ``u``, parent ``v``)::

        l(u, v) = -log( exp(-d(u, v)) / sum_{v' in {v} + N(u)} exp(-d(u, v')) )

    where ``N(u)`` are the candidates of ``u`` other than its parent. The
    loss is the mean over all edges.

    Args:
        dist (torch.Tensor): ``(E, M)`` distance from each child ``u`` to each
            of the ``M`` candidate points.
        parent (torch.Tensor): ``(E,)`` column of each child's parent.
        candidate_mask (torch.Tensor): ``(E, M)`` bool, True where the column
            is the parent or a negative of ``N(u)``; False excludes it (at
            least the child itself). The parent column must be True.

    Returns:
        torch.Tensor: Scalar loss.
    """
    logits = (-dist).masked_fill(~candidate_mask, float('-inf'))
    return F.cross_entropy(logits, parent)


def sibling_separation_loss(dist: torch.Tensor, sibling_mask: torch.Tensor,
                            non_sibling_mask: torch.Tensor) -> torch.Tensor:
    """Sibling / non-sibling separation loss ``L_S`` (Eq. 4).

    Softmax ranking form. For each node ``u`` and each sibling ``s`` of ``u``
    (same parent, ``s != u``), ``s`` must be closer to ``u`` than the nodes
    ``w in M(u)`` that are not siblings of ``u``::

        l(u, s) = -log( exp(-d(u, s))
                        / (exp(-d(u, s)) + sum_{w in M(u)} exp(-d(u, w))) )
                = softplus( d(u, s) + logsumexp_{w in M(u)} -d(u, w) )

    ``M(u)`` holds the nodes of ``u``'s level with another parent, so the
    term never competes with ``L_H``'s pull of ``u`` towards its parent.
    The loss is the mean over all (u, s) pairs whose ``M(u)`` is not empty;
    it is zero when there is no such pair.

    Args:
        dist (torch.Tensor): ``(N, N)`` pairwise node distances.
        sibling_mask (torch.Tensor): ``(N, N)`` bool, ``[u, s]`` True when
            ``s`` is a sibling of ``u`` (``s != u``).
        non_sibling_mask (torch.Tensor): ``(N, N)`` bool, ``[u, w]`` True when
            ``w`` is in ``M(u)``.

    Returns:
        torch.Tensor: Scalar loss.
    """
    has_negative = non_sibling_mask.any(dim=1)
    pairs = sibling_mask & has_negative[:, None]
    if not pairs.any():
        return dist.new_zeros(())
    rows = has_negative.nonzero().flatten()
    neg_lse = torch.full_like(dist[:, 0], float('-inf'))
    neg_lse[rows] = torch.logsumexp(
        (-dist[rows]).masked_fill(~non_sibling_mask[rows], float('-inf')),
        dim=1)
    u, s = pairs.nonzero(as_tuple=True)
    return F.softplus(dist[u, s] + neg_lse[u]).mean()


def leaf_separation_loss(points: torch.Tensor,
                         leaf_ids: torch.Tensor) -> torch.Tensor:
    """Separation of all classes, Eq. 4 as the paper writes it.

    ``L_S = 1^T (A A^T - I) 1`` with ``A`` (K, D) the leaf embeddings scaled
    to unit Euclidean length: the sum of the cosine similarities of all
    pairs of distinct leaves, smallest when their directions from the
    origin spread out evenly.

    Args:
        points (torch.Tensor): ``(N, D)`` node embeddings.
        leaf_ids (torch.Tensor): ``(K,)`` node ids of the leaves.

    Returns:
        torch.Tensor: Scalar loss, in ``[-K, K * (K - 1)]``.
    """
    a = F.normalize(points[leaf_ids], dim=1)
    ones = a.new_ones(len(leaf_ids))
    return ones @ (a @ a.t() - torch.eye(len(leaf_ids), dtype=a.dtype)) @ ones


def _tree_masks(hierarchy: ClassHierarchy) -> dict:
    """Candidate, sibling and non-sibling masks of a hierarchy.

    Columns ``0..N-1`` are the nodes and column ``N`` is the root (origin).
    The top-level nodes are siblings (children of the root); they have no
    non-siblings at their level, so ``L_S`` has no term for them.

    Returns:
        dict: ``parent`` ``(N,)`` parent column of each node (``N`` for
        top-level nodes), ``candidate_mask`` ``(N, N + 1)``,
        ``sibling_mask`` ``(N, N)`` and ``non_sibling_mask`` ``(N, N)``.
    """
    n = hierarchy.num_nodes
    parent = hierarchy.parent.clone()
    parent[parent < 0] = n
    eye = torch.eye(n, dtype=torch.bool)
    candidate_mask = torch.ones(n, n + 1, dtype=torch.bool)
    candidate_mask[:, :n] &= ~eye
    same_parent = parent[:, None] == parent[None, :]
    levels = hierarchy.node_levels
    same_level = levels[:, None] == levels[None, :]
    return dict(
        parent=parent,
        candidate_mask=candidate_mask,
        sibling_mask=same_parent & ~eye,
        non_sibling_mask=same_level & ~same_parent)


def fan_layout(hierarchy: ClassHierarchy,
               ball: geoopt.PoincareBall,
               dtype: torch.dtype = torch.float64,
               fill: float = 0.9,
               fan_angle: float = 2.5) -> torch.Tensor:
    """A 2-D layout of the tree in which every node fans out its children.

    Sarkar-style construction, used as the starting point of 2-D training
    (gradient descent from random points tangles a plane). The root sits at
    the origin; the top-level nodes surround it at equal angles; the children
    of every other node spread evenly over ``fan_angle`` radians around the
    direction pointing away from that node's parent. Children sit at a fixed
    hyperbolic distance from their parent per level; the steps grow towards
    the leaves in the ratio ``1 : 5 : 6 : 7 ...`` (top level first) and add
    up to ``fill`` times the largest distance from the origin that ``ball``
    allows in ``dtype``. All hyperbolic operations are geoopt's
    (``expmap``, ``logmap``, ``norm``, ``projx``).

    Args:
        hierarchy (ClassHierarchy): The tree.
        ball (geoopt.PoincareBall): The 2-D ball to lay it out in.
        dtype (torch.dtype): Precision of the layout; float32 leaves much
            less room near the boundary. Defaults to torch.float64.
        fill (float): Share of the ball's radius the leaves reach (along
            the path of steps). Defaults to 0.9.
        fan_angle (float): Angle in radians over which children spread.
            Defaults to 2.5.

    Returns:
        torch.Tensor: ``(num_nodes, 2)`` points of ``ball``.
    """
    far_point = ball.projx(torch.tensor([1e6, 0.0], dtype=dtype))
    budget = fill * ball.dist0(far_point).item()
    depth = hierarchy.num_levels  # steps from the root down to a leaf
    weights = [1.0] + [4.0 + i for i in range(1, depth)]
    # steps[level] = hyperbolic distance from a level-`level` node to its
    # parent (the root for the top level)
    steps = [budget * w / sum(weights) for w in reversed(weights)]

    children = {}
    for node, parent in enumerate(hierarchy.parent.tolist()):
        children.setdefault(parent, []).append(node)
    points = torch.zeros(hierarchy.num_nodes, 2, dtype=dtype)

    def place(parent: int, origin: torch.Tensor, heading: float,
              spread: float) -> None:
        kids = children.get(parent, [])
        for i, node in enumerate(kids):
            angle = torch.tensor(
                heading + spread * ((i + 0.5) / len(kids) - 0.5), dtype=dtype)
            direction = torch.stack([angle.cos(), angle.sin()])
            step = steps[int(hierarchy.node_levels[node])]
            tangent = direction * step / ball.norm(origin, direction)
            points[node] = ball.expmap(origin, tangent)
            away = -ball.logmap(points[node], origin)
            place(node, points[node],
                  torch.atan2(away[1], away[0]).item(), fan_angle)

    place(-1, torch.zeros(2, dtype=dtype), 0.0, 2 * math.pi)
    return points


@contextlib.contextmanager
def _deterministic_torch() -> Iterator[None]:
    """Run with one intra-op thread and deterministic algorithms.

    Floating-point reductions split over threads can round differently for
    another thread count; one thread makes a run repeat bit for bit.
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def initial_points(hierarchy: ClassHierarchy, ball: geoopt.PoincareBall,
                   dim: int, init: str, init_std: float, seed: int,
                   dtype: torch.dtype) -> torch.Tensor:
    """Starting points of the training.

    ``'random'``: ``expmap0`` of Gaussian tangent vectors of std
    ``init_std`` (all points near the origin). ``'fan'``: the
    :func:`fan_layout` in the first two coordinates, each point then moved
    by a Gaussian tangent vector of Riemannian std ``init_std``. The
    Gaussians come from a generator seeded with ``seed``.

    Returns:
        torch.Tensor: ``(num_nodes, dim)`` points of ``ball``.
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(
        hierarchy.num_nodes, dim, generator=generator,
        dtype=torch.float64).to(dtype) * init_std
    if init == 'random':
        return ball.expmap0(noise)
    if init == 'fan':
        points = torch.zeros(hierarchy.num_nodes, dim, dtype=dtype)
        points[:, :2] = fan_layout(hierarchy,
                                   geoopt.PoincareBall(c=ball.c.item()), dtype)
        return ball.expmap(points, noise / ball.lambda_x(points, keepdim=True))
    raise ValueError(f"init must be 'random' or 'fan', got {init!r}")


def train_hyperbolic_embedding(hierarchy: ClassHierarchy,
                               dim: int,
                               curvature: float = 0.02,
                               epochs: int = 200,
                               lr: float = 0.3,
                               lambda_sibling: float = 0.3,
                               separation_loss: str = 'ranking',
                               seed: int = 0,
                               init: Optional[str] = None,
                               init_std: float = 1e-3,
                               dtype: Optional[torch.dtype] = None,
                               callback: Optional[Callable[[int, dict],
                                                           None]] = None
                               ) -> torch.Tensor:
    """Embed all nodes of ``hierarchy`` in the Poincare ball.

    Minimises ``L = L_H + lambda_sibling * L_S`` with full-batch
    ``geoopt.optim.RiemannianAdam`` on a ``geoopt.ManifoldParameter``, with
    ``L_S`` the ``separation_loss`` (module docstring). The run is
    deterministic: same arguments, same bits.

    The curvature sets the scale of distances and so the sharpness of the
    softmax rankings of both losses: the ball of curvature ``c`` is the unit
    ball scaled by ``1 / sqrt(c)``, distances included, while geoopt keeps
    every point a fixed share of the radius from the boundary (``4e-3`` in
    float32, ``1e-5`` in float64). In the unit ball that leaves too little
    room for rankings with ~10 siblings per node, hence the default 0.02.

    Two dimensions are a special case: a tree of this size needs points
    closer to the boundary than float32 allows, and gradient descent from
    random points tangles a plane. So ``init`` and ``dtype`` default to
    ``'fan'`` and float64 for ``dim == 2`` and to ``'random'`` and float32
    otherwise.

    Args:
        hierarchy (ClassHierarchy): The tree to embed.
        dim (int): Dimension of the ball, at least 2.
        curvature (float): Curvature magnitude ``c`` of the ball
            (``geoopt.PoincareBall(c)``, radius ``1 / sqrt(c)``).
            Defaults to 0.02.
        epochs (int): Number of full-batch steps. Defaults to 200.
        lr (float): Riemannian Adam learning rate. Defaults to 0.3.
        lambda_sibling (float): Weight of ``L_S``. Defaults to 0.3.
        separation_loss (str): ``L_S``: ``'ranking'``
            (:func:`sibling_separation_loss`) or ``'eq4'``
            (:func:`leaf_separation_loss`). Defaults to 'ranking'.
        seed (int): Seed of the initial points. Defaults to 0.
        init (str, optional): ``'random'`` or ``'fan'``, see
            :func:`initial_points`. Defaults to None (by ``dim``, above).
        init_std (float): Std of the initial tangent vectors.
            Defaults to 1e-3.
        dtype (torch.dtype, optional): Precision of the training and of the
            returned points. Defaults to None (by ``dim``, above).
        callback (callable, optional): Called after each step as
            ``callback(epoch, losses)`` with ``losses`` a dict of floats
            ``loss``, ``loss_parent``, ``loss_sibling``.

    Returns:
        torch.Tensor: ``(num_nodes, dim)`` points of the ball in ``dtype``,
        in the hierarchy's node order.
    """
    if dim < 2:
        raise ValueError(f'dim must be at least 2, got {dim}')
    if curvature <= 0:
        raise ValueError(f'curvature must be positive, got {curvature}')
    if epochs < 0:
        raise ValueError(f'epochs must be >= 0, got {epochs}')
    if separation_loss not in SEPARATION_LOSSES:
        raise ValueError(f'separation_loss must be one of '
                         f'{SEPARATION_LOSSES}, got {separation_loss!r}')
    init, dtype = resolved_defaults(dim, init, dtype)

    with _deterministic_torch():
        ball = geoopt.PoincareBall(c=curvature)
        masks = _tree_masks(hierarchy)
        points = geoopt.ManifoldParameter(
            initial_points(hierarchy, ball, dim, init, init_std, seed, dtype),
            manifold=ball)
        root = torch.zeros(1, dim, dtype=dtype)
        leaf_ids = hierarchy.level_node_ids(0)
        optimizer = geoopt.optim.RiemannianAdam([points], lr=lr)
        for epoch in range(epochs):
            optimizer.zero_grad()
            dist = poincare_pairwise_distance(ball, points,
                                              torch.cat([points, root]))
            loss_parent = parent_ranking_loss(dist, masks['parent'],
                                              masks['candidate_mask'])
            if separation_loss == 'eq4':
                loss_sibling = leaf_separation_loss(points, leaf_ids)
            else:
                loss_sibling = sibling_separation_loss(
                    dist[:, :-1], masks['sibling_mask'],
                    masks['non_sibling_mask'])
            loss = loss_parent + lambda_sibling * loss_sibling
            loss.backward()
            optimizer.step()
            if callback is not None:
                callback(
                    epoch,
                    dict(
                        loss=loss.item(),
                        loss_parent=loss_parent.item(),
                        loss_sibling=loss_sibling.item()))
        return ball.projx(points.detach()).clone()


def embed_hierarchy(hierarchy: ClassHierarchy,
                    dim: int,
                    callback: Optional[Callable[[int, dict], None]] = None,
                    **kwargs) -> HyperbolicEmbedding:
    """Train an embedding and package it with its settings and quality.

    Runs :func:`train_hyperbolic_embedding` (``kwargs`` are its keyword
    arguments) and :func:`embedding_quality`. ``meta`` of the result holds
    ``settings`` (every training argument, ``init`` and ``dtype`` as
    resolved), ``final_losses`` (the last step's losses), ``quality`` (the
    report) and ``versions`` (torch, geoopt). Nothing in it depends on the
    clock, so the same arguments give an identical file.

    Returns:
        HyperbolicEmbedding: The embedding of ``hierarchy``'s nodes.
    """
    bound = inspect.signature(train_hyperbolic_embedding).bind(
        hierarchy, dim, **kwargs)
    bound.apply_defaults()
    settings = {
        k: v
        for k, v in bound.arguments.items()
        if k not in ('hierarchy', 'callback')
    }
    settings['init'], settings['dtype'] = resolved_defaults(
        dim, settings['init'], settings['dtype'])
    last = {}

    def record(epoch: int, losses: dict) -> None:
        last.update(losses)
        if callback is not None:
            callback(epoch, losses)

    points = train_hyperbolic_embedding(hierarchy, callback=record, **settings)
    meta = dict(
        settings=dict(
            settings,
            **{
                k: float(settings[k])
                for k in ('curvature', 'lr', 'lambda_sibling', 'init_std')
            },
            dtype=str(settings['dtype']).replace('torch.', ''),
            negatives='all nodes and the root except the node and its parent',
            root='pinned at the origin, parent of the top-level nodes'),
        final_losses=last,
        quality=embedding_quality(hierarchy, points, settings['curvature']),
        versions=dict(
            torch=str(torch.__version__), geoopt=str(geoopt.__version__)))
    return HyperbolicEmbedding.from_hierarchy(hierarchy, points,
                                              settings['curvature'], meta)


def resolved_defaults(dim: int, init: Optional[str],
                      dtype: Optional[torch.dtype]) -> Tuple[str, torch.dtype]:
    """``init`` and ``dtype`` with None replaced by the default for ``dim``:
    ``'fan'`` and float64 in 2-D, ``'random'`` and float32 otherwise (see
    :func:`train_hyperbolic_embedding`)."""
    if init is None:
        init = 'fan' if dim == 2 else 'random'
    if dtype is None:
        dtype = torch.float64 if dim == 2 else torch.float32
    return init, dtype
