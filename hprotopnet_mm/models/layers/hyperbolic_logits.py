"""Logits from geodesic distances to class embeddings in the Poincare ball
(paper Eq. 6 and 9)."""
import torch
from geoopt import PoincareBall
from torch import Tensor, nn


def embed_in_ball(v: Tensor, ball: PoincareBall) -> Tensor:
    """Map Euclidean vectors into the Poincare ball (paper Eq. 6).

    ``h_e = expmap0(v)``, projected strictly inside the ball so that
    distances stay finite however large ``v`` is.

    Args:
        v (Tensor): Tangent vectors at the origin, shape (B, D).
        ball (PoincareBall): The ball of curvature ``-c``.

    Returns:
        Tensor: Points of the ball, shape (B, D).
    """
    # |v|^2 in float32 overflows for |v| > 1.8e19 (such v would land on
    # the origin): map in float64, project in the input's precision.
    return ball.projx(ball.expmap0(v.double()).to(v.dtype))


def clip_tangent(v: Tensor, radius: float) -> Tensor:
    """Shorten tangent vectors longer than ``radius`` to that length.

    ``v * min(1, radius / ||v||)``, the feature clipping of clipped
    hyperbolic classifiers (Guo et al., CVPR 2022), applied before
    ``expmap0``: since ``||logmap0(expmap0(v))|| = ||v||``, the point
    ``expmap0(v)`` then lies no farther from the origin than a point of
    tangent norm ``radius``. Inside that radius nothing changes; beyond it
    only the direction of ``v`` is kept (and learned).

    Args:
        v (Tensor): Tangent vectors at the origin, shape (B, D).
        radius (float): Largest tangent norm, > 0.

    Returns:
        Tensor: Shape (B, D).
    """
    norm = v.norm(dim=-1, keepdim=True).clamp_min(1e-15)
    return v * (radius / norm).clamp(max=1.0)


def hyperbolic_logits(h: Tensor, class_embeddings: Tensor, ball: PoincareBall,
                      temperature: float) -> Tensor:
    """Negative geodesic distances to the class embeddings (paper Eq. 9).

    ``logit_k = -d_c(h, phi_k) / tau``; a softmax over them gives the
    class probabilities of the hyperbolic cross-entropy (Eq. 8).

    Args:
        h (Tensor): Points of the ball, shape (B, D).
        class_embeddings (Tensor): Class embeddings phi, shape (K, D).
        ball (PoincareBall): The ball both live in.
        temperature (float): Temperature tau > 0.

    Returns:
        Tensor: Logits, shape (B, K).
    """
    return -ball.dist(h[:, None, :],
                      class_embeddings[None, :, :]) / temperature


class HyperbolicLogits(nn.Module):
    """Class logits of a point given by a Euclidean vector, from hyperbolic
    class embeddings.

    Holds the embeddings of all hierarchy nodes (buffer ``node_embeddings``,
    not trained); the first ``num_leaves`` rows are the leaf (class)
    embeddings phi used for the logits. The embeddings are projected inside
    the float32-safe part of the ball once at construction.

    All hyperbolic computations run in float32 with autocast disabled, so
    the module is safe under bf16/fp16 mixed precision. In float32, geoopt
    keeps points at least a relative 4e-3 away from the boundary of the ball
    (``projx``); embeddings closer to it are moved to that radius.

    With ``clip_radius='leaves'`` the tangent vectors are clipped
    (:func:`clip_tangent`) to the largest tangent norm of the leaf
    embeddings, so that a clip's point never lies beyond the leaves: there,
    distances to all classes grow together, removing evidence for a class
    can raise its logit, and the point approaches the float32 boundary. A
    float gives the tangent norm directly; None (the paper) does not clip.

    Args:
        node_embeddings (Tensor): Points of the ball, shape (N, D), leaves
            first.
        num_leaves (int): Number of leaves K <= N.
        curvature (float): c > 0; the ball has curvature ``-c``.
        temperature (float): tau > 0. Defaults to 1.0.
        clip_radius (str | float, optional): None, 'leaves' or a positive
            tangent norm (see above). Defaults to None.
    """

    def __init__(self,
                 node_embeddings: Tensor,
                 num_leaves: int,
                 curvature: float,
                 temperature: float = 1.0,
                 clip_radius=None) -> None:
        super().__init__()
        name = type(self).__name__
        if node_embeddings.dim() != 2:
            raise ValueError(f'{name}: node_embeddings must have shape '
                             f'(N, D), got {tuple(node_embeddings.shape)}')
        if not 0 < num_leaves <= node_embeddings.shape[0]:
            raise ValueError(f'{name}: num_leaves={num_leaves} must lie in '
                             f'[1, {node_embeddings.shape[0]}]')
        if not curvature > 0:
            raise ValueError(f'{name}: curvature must be positive, got '
                             f'{curvature}')
        if not temperature > 0:
            raise ValueError(f'{name}: temperature must be positive, got '
                             f'{temperature}')
        if not torch.isfinite(node_embeddings).all():
            raise ValueError(f'{name}: node_embeddings are not finite')
        radius = node_embeddings.double().norm(dim=1).max().item()
        if radius * float(curvature)**0.5 >= 1:
            raise ValueError(
                f'{name}: node_embeddings reach norm {radius:.6g}, outside '
                f'the Poincare ball of curvature -{curvature:g} (radius '
                f'{float(curvature)**-0.5:.6g})')
        self.num_leaves = num_leaves
        self.temperature = float(temperature)
        # float64 curvature: exact for any c; it does not promote the
        # float32 tensors it multiplies.
        self.ball = PoincareBall(
            c=torch.tensor(float(curvature), dtype=torch.float64))
        with torch.no_grad():
            embeddings = self.ball.projx(node_embeddings.detach().float())
        self.register_buffer('node_embeddings', embeddings)
        if clip_radius == 'leaves':
            clip_radius = self.ball.logmap0(
                embeddings[:num_leaves].double()).norm(dim=-1).max().item()
        elif clip_radius is not None and (isinstance(clip_radius, (str, bool))
                                          or not float(clip_radius) > 0):
            raise ValueError(f'{name}: clip_radius must be None, "leaves" '
                             f'or a positive number, got {clip_radius!r}')
        self.clip_radius = None if clip_radius is None else float(clip_radius)

    @property
    def curvature(self) -> float:
        """float: c > 0; the ball has curvature ``-c``."""
        return float(self.ball.c)

    @property
    def leaf_embeddings(self) -> Tensor:
        """Tensor: Leaf embeddings phi, shape (K, D)."""
        return self.node_embeddings[:self.num_leaves]

    def forward(self, v: Tensor):
        """Logits and ball points of Euclidean vectors.

        Args:
            v (Tensor): Euclidean vectors, shape (B, D).

        Returns:
            tuple[Tensor]: float32 ``logits`` (B, K) (Eq. 9) and the points
            ``h`` (B, D) of the ball (Eq. 6).
        """
        with torch.autocast(device_type=v.device.type, enabled=False):
            v = v.float()
            if self.clip_radius is not None:
                v = clip_tangent(v, self.clip_radius)
            h = embed_in_ball(v, self.ball)
            logits = hyperbolic_logits(h, self.leaf_embeddings.float(),
                                       self.ball, self.temperature)
        return logits, h

    def extra_repr(self) -> str:
        return (f'num_nodes={self.node_embeddings.shape[0]}, '
                f'num_leaves={self.num_leaves}, '
                f'dim={self.node_embeddings.shape[1]}, '
                f'curvature={self.curvature:g}, '
                f'temperature={self.temperature:g}, '
                f'clip_radius={self.clip_radius}')
