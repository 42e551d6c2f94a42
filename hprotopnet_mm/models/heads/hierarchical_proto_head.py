"""Hierarchical prototype head with hyperbolic class embeddings."""
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from mmaction.registry import MODELS
from mmaction.utils import ConfigType
from ..layers import HyperbolicLogits
from .base_prototype_head import BasePrototypeHead, check_count
from .hierarchy_loading import load_hierarchy_and_embedding
from .level_scores import LevelScoresMixin


def node_connection_weights(node_tangents: Tensor, prototype_node: Tensor,
                            prototype_level: Tensor) -> Tensor:
    """Last-layer weights that connect every prototype to its node.

    Column p is the tangent vector at the origin of the embedding of
    prototype p's node, ``logmap0(phi_n)``, divided by the number of
    prototypes of that node and by the number of levels that have
    prototypes. A clip whose similarity is 1 to every prototype of a leaf
    and of its ancestors, and 0 to all others, maps to the mean of the
    chain's tangent vectors, on the leaf's side of the ball: training starts
    from evidence that points to the prototypes' own classes, as with
    ProtoPNet's class connections.

    Args:
        node_tangents (Tensor): ``logmap0`` of the node embeddings, (N, D).
        prototype_node (Tensor): Node of every prototype, (P, ).
        prototype_level (Tensor): Level of every prototype's node, (P, ).

    Returns:
        Tensor: Weight of ``Linear(P, D)``, shape (D, P).
    """
    counts = torch.bincount(prototype_node, minlength=node_tangents.shape[0])
    num_levels = len(torch.unique(prototype_level))
    scale = 1.0 / (counts[prototype_node].to(node_tangents.dtype) * num_levels)
    return (node_tangents[prototype_node] * scale[:, None]).t().contiguous()


@MODELS.register_module()
class HierarchicalProtoHead(LevelScoresMixin, BasePrototypeHead):
    """Hierarchical ProtoPNet head for 3D backbones.

    Backbone features -> add-on layers -> Z -> prototype similarities s
    (Eq. 5) -> ``last_layer`` (Linear(P, D), no bias, Sec. 4.2) ->
    ``h_e = expmap0`` into the Poincare ball (Eq. 6) -> logits
    ``-d_c(h_e, phi_k) / tau`` over the leaf embeddings phi of the
    hierarchy (Eq. 9). The embeddings come from ``embedding_file`` and are
    not trained.

    Prototypes: ``num_prototypes_per_class`` for every leaf class, leaf 0's
    first; with ``num_prototypes_per_ancestor > 0`` (the CPG variant) also
    that many for every ancestor node, after the leaf prototypes in node-id
    order. ``prototype_node`` (P, ) holds the
    node id of every prototype, ``prototype_identity`` (P, N) the same one-
    hot. With ``num_prototypes_per_ancestor=0`` only leaves have prototypes.

    :meth:`predict` sets ``pred_score`` (leaf logits, averaged as
    ``average_clips`` says), ``pred_label``, and ``pred_level_scores``: a
    dict level name -> node probabilities of that level (leaf probabilities
    summed under every node; each level sums to 1; column j = the j-th node
    of the level, ``hierarchy.level_node_ids(level)[j]``), for every level
    including ``'leaf'``; with ``average_clips=None`` one row per clip.

    Args:
        num_classes (int): Number of leaf classes; must equal the number of
            leaves of the hierarchy.
        in_channels (int): Channels of the backbone features.
        hierarchy_file (str): Hierarchy CSV (see ``ClassHierarchy``).
        label_map_file (str): Label map, one class name per line.
        embedding_file (str): Hyperbolic embedding of the hierarchy's nodes.
        num_prototypes_per_class (int): Prototypes per leaf, > 0.
            Defaults to 10.
        num_prototypes_per_ancestor (int): Prototypes per ancestor node;
            0 = leaves only. Defaults to 0.
        curvature (float, optional): c > 0 of the ball; None takes the
            embedding file's, any other value must equal it.
            Defaults to None.
        temperature (float): tau of Eq. 9. Defaults to 1.0.
        clip_radius (str | float, optional): Clip the tangent vectors
            before ``expmap0``: None (the paper), 'leaves' (to the leaf
            embeddings' largest tangent norm) or a tangent norm; see
            ``HyperbolicLogits``. Defaults to None.
        last_layer_init (str): Initialisation of the last layer.
            ``'nodes'``: column p points from the origin to the embedding of
            prototype p's node (see :func:`node_connection_weights`), the
            hyperbolic counterpart of ProtoPNet's class connections.
            ``'normal'``: N(0, ``last_layer_init_std``). Defaults to 'nodes'.
        last_layer_init_std (float): Std of the ``'normal'`` initialisation;
            small, so that ``expmap0`` starts near the origin instead of
            saturated at the boundary. Defaults to 1e-3.
        loss_cls (dict): Config of the loss. Defaults to
            ``dict(type='HyperbolicProtoLoss')``.
        **kwargs: ``proto_channels``, ``prototype_shape``, ``epsilon`` and
            ``unit_norm`` of ``BasePrototypeHead`` (the features and the
            prototype layer), and ``topk``, ``average_clips`` and
            ``init_cfg`` of MMAction2's ``BaseHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 hierarchy_file: str,
                 label_map_file: str,
                 embedding_file: str,
                 num_prototypes_per_class: int = 10,
                 num_prototypes_per_ancestor: int = 0,
                 curvature: Optional[float] = None,
                 temperature: float = 1.0,
                 clip_radius: Optional[Union[str, float]] = None,
                 last_layer_init: str = 'nodes',
                 last_layer_init_std: float = 1e-3,
                 loss_cls: ConfigType = dict(type='HyperbolicProtoLoss'),
                 **kwargs) -> None:
        name = type(self).__name__
        if last_layer_init not in ('nodes', 'normal'):
            raise ValueError(f'{name}: last_layer_init must be "nodes" or '
                             f'"normal", got {last_layer_init!r}')
        if not last_layer_init_std > 0:
            raise ValueError(f'{name}: last_layer_init_std must be positive, '
                             f'got {last_layer_init_std}')
        check_count(name, 'num_prototypes_per_class', num_prototypes_per_class,
                    1)
        check_count(name, 'num_prototypes_per_ancestor',
                    num_prototypes_per_ancestor, 0)
        hierarchy, embedding, curvature = load_hierarchy_and_embedding(
            name, num_classes, hierarchy_file, label_map_file, embedding_file,
            curvature)
        num_leaves, num_nodes = hierarchy.num_leaves, hierarchy.num_nodes
        prototype_node = torch.cat([
            torch.arange(num_leaves).repeat_interleave(
                num_prototypes_per_class),
            torch.arange(
                num_leaves,
                num_nodes).repeat_interleave(num_prototypes_per_ancestor)
        ])
        super().__init__(num_classes, in_channels, len(prototype_node),
                         loss_cls, **kwargs)
        self.loss_cls.check_num_levels(hierarchy.num_levels, hierarchy_file)
        self.hierarchy = hierarchy
        self.num_prototypes_per_class = num_prototypes_per_class
        self.num_prototypes_per_ancestor = num_prototypes_per_ancestor
        self.set_prototype_nodes(prototype_node, num_nodes,
                                 hierarchy.node_levels[prototype_node])
        # Derived from the hierarchy file, not saved.
        self.register_buffer(
            'leaf_ancestors',
            hierarchy.leaf_ancestors.clone(),
            persistent=False)
        self.register_buffer(
            'leaf_membership',
            hierarchy.leaf_membership.float(),
            persistent=False)
        self.hyperbolic = HyperbolicLogits(embedding.embeddings, num_leaves,
                                           curvature, temperature, clip_radius)
        self.last_layer = nn.Linear(
            self.num_prototypes,
            self.hyperbolic.node_embeddings.shape[1],
            bias=False)
        if last_layer_init == 'nodes':
            with torch.no_grad():
                self.last_layer.weight.copy_(
                    node_connection_weights(
                        self.hyperbolic.ball.logmap0(
                            self.hyperbolic.node_embeddings.double()).float(),
                        prototype_node, self.prototype_level))
        else:
            # Small weights: h_e = expmap0(W s) starts near the origin,
            # where expmap0 is nearly linear. A fan-in initialisation makes
            # ||W s|| large enough that every clip starts saturated at the
            # boundary of the ball (tanh ~ 1), where the gradients vanish.
            nn.init.normal_(self.last_layer.weight, std=last_layer_init_std)

    def _logits(self, similarities: Tensor) -> Tuple[Tensor, Dict]:
        """Hyperbolic logits (Eq. 6, 9) from similarities (B, P).

        Returns the logits (B, K) and ``dict(embedding=h_e)``, the points
        (B, D) of the ball; both float32.
        """
        with torch.autocast(
                device_type=similarities.device.type, enabled=False):
            v = self.last_layer(similarities.float())
            logits, h = self.hyperbolic(v)
        return logits, dict(embedding=h)

    def _loss_inputs(self, labels: Tensor) -> Dict:
        return dict(
            prototype_node=self.prototype_node,
            prototype_level=self.prototype_level,
            label_nodes=self.leaf_ancestors[labels],
            last_layer_weight=self.last_layer.weight,
            level_names=self.hierarchy.level_names)
