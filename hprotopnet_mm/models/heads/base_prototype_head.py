"""The interface and the shared parts of the prototype heads: add-on
layers, prototype layer, loss with minimum distances, and persistence of
prototype provenance."""
from abc import abstractmethod
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmengine.model.weight_init import kaiming_init
from torch import Tensor, nn

from mmaction.evaluation import top_k_accuracy
from mmaction.models.heads import BaseHead
from mmaction.utils import ConfigType, SampleList
from ..layers import PositionCentring, PrototypeLayer, check_prototype_shape
from ..losses import HyperbolicProtoLoss
from .batch_inputs import gt_labels, select_feature
from .prototype_sources import PrototypeSources


class BasePrototypeHead(BaseHead):
    """Base of the heads that classify a clip by its distances to learned
    prototypes (ProtoPNet).

    Backbone features -> add-on layers (two 1x1x1 Conv3d, each followed by
    a LeakyReLU) -> feature map Z (optionally centred position by position,
    :class:`PositionCentring`) -> :class:`PrototypeLayer` (minimum
    squared L2 distance of every prototype to the patches of Z, and its log
    similarity, Eq. 5) -> :meth:`_logits` of the subclass.

    Every prototype head offers one interface, which projection, pruning,
    the last-layer phase and the explanations use. A subclass sets:

    - ``hierarchy`` (:class:`ClassHierarchy`): the classes and their
      ancestors. A flat head (ProtoPNet) has a one-level hierarchy
      (``ClassHierarchy.flat``): its classes are its only nodes.
    - buffers ``prototype_node`` (P, ), the hierarchy node of every
      prototype, ``prototype_level`` (P, ), that node's level (0 = leaf),
      and ``prototype_identity`` (P, N), ``prototype_node`` one-hot;
    - ``last_layer``: ``nn.Linear(P, out_features)``, fed the similarities.

    ``prototype_sources`` (a :class:`PrototypeSources`, None until the
    prototypes are projected onto training patches) says where every
    prototype comes from; it is saved in and restored from checkpoints with
    the head's state dict, as plain types.

    Args:
        num_classes (int): Number of leaf classes K.
        in_channels (int): Channels of the backbone features.
        num_prototypes (int): Number of prototypes P.
        loss_cls (dict): Config of a :class:`HyperbolicProtoLoss`.
        proto_channels (int): Channels C of Z and of the prototypes.
            Defaults to 128.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w) in Z.
            Defaults to (1, 1, 1).
        epsilon (float): Constant of the log similarity (Eq. 5).
            Defaults to 1e-4.
        unit_norm (bool): Compare unit-norm cells of Z and the prototypes
            (see :class:`PrototypeLayer`). Defaults to False (the paper,
            ProtoPNet).
        centring_grid (Sequence[int], optional): (T, H, W) of Z for the
            training clips; given, every cell of Z is centred on the
            running mean of Z at its position (:class:`PositionCentring`).
            Defaults to None (the paper, ProtoPNet: no centring).
        **kwargs: ``topk``, ``average_clips`` and ``init_cfg`` of MMAction2's
            ``BaseHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_prototypes: int,
                 loss_cls: ConfigType,
                 proto_channels: int = 128,
                 prototype_shape: Sequence[int] = (1, 1, 1),
                 epsilon: float = 1e-4,
                 unit_norm: bool = False,
                 centring_grid: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        name = type(self).__name__
        prototype_shape = check_prototype_shape(prototype_shape, name)
        if proto_channels <= 0 or in_channels <= 0:
            raise ValueError(f'{name}: in_channels and proto_channels must '
                             f'be positive, got {in_channels} and '
                             f'{proto_channels}')
        super().__init__(num_classes, in_channels, loss_cls, **kwargs)
        if not isinstance(self.loss_cls, HyperbolicProtoLoss):
            raise TypeError(
                f'{name}: loss_cls must be a HyperbolicProtoLoss (or '
                f'ProtoPNetLoss), which uses the prototype distances; got '
                f'{type(self.loss_cls).__name__}')
        self.proto_channels = proto_channels
        self.prototype_shape = prototype_shape
        self.add_on_layers = nn.Sequential(
            nn.Conv3d(in_channels, proto_channels, kernel_size=1),
            nn.LeakyReLU(),
            nn.Conv3d(proto_channels, proto_channels, kernel_size=1),
            nn.LeakyReLU())
        for m in self.add_on_layers.modules():
            if isinstance(m, nn.Conv3d):
                kaiming_init(m, mode='fan_out', nonlinearity='relu')
        self.position_centring = None if centring_grid is None else \
            PositionCentring(proto_channels, centring_grid)
        self.prototype_layer = PrototypeLayer(num_prototypes, proto_channels,
                                              prototype_shape, epsilon,
                                              unit_norm)
        self.prototype_sources = None

    def set_prototype_nodes(self, prototype_node: Tensor, num_nodes: int,
                            prototype_level: Tensor) -> None:
        """Register the buffers that tie prototypes to hierarchy nodes.

        Args:
            prototype_node (Tensor): Long (P, ), the node of every
                prototype; saved, with its one-hot ``prototype_identity``
                (P, N).
            num_nodes (int): N, the nodes of the hierarchy.
            prototype_level (Tensor): Long (P, ), the level of every
                prototype's node (0 = leaf); derived, not saved.
        """
        self.register_buffer('prototype_node', prototype_node)
        self.register_buffer('prototype_identity',
                             one_hot_identity(prototype_node, num_nodes))
        self.register_buffer(
            'prototype_level', prototype_level.clone(), persistent=False)

    @property
    def prototype_sources(self) -> Optional[PrototypeSources]:
        """PrototypeSources | None: Provenance of the projected prototypes."""
        return self._prototype_sources

    @prototype_sources.setter
    def prototype_sources(self, value: Optional[PrototypeSources]) -> None:
        if value is not None and not isinstance(value, PrototypeSources):
            raise TypeError(
                f'{type(self).__name__}: prototype_sources must be a '
                f'PrototypeSources or None, got {type(value).__name__}')
        self._prototype_sources = value

    @property
    def prototype_vectors(self) -> nn.Parameter:
        """nn.Parameter: The prototypes, shape (P, C, t, h, w)."""
        return self.prototype_layer.prototype_vectors

    @property
    def num_prototypes(self) -> int:
        """int: Number of prototypes P."""
        return self.prototype_layer.num_prototypes

    def forward_features(self, x: Union[Tensor, Tuple[Tensor]]) -> Tensor:
        """Add-on layers (and centring) on the backbone features.

        Args:
            x (Tensor | tuple[Tensor]): Backbone features (B, C_in, T, H, W)
                or a tuple of them, of which the last is used.

        Returns:
            Tensor: Z, shape (B, C, T, H, W), centred when the head has a
            ``centring_grid``.
        """
        z = self.add_on_layers(select_feature(x, type(self).__name__))
        if self.position_centring is not None:
            z = self.position_centring(z)
        return z

    def distance_maps(self, z: Tensor) -> Tensor:
        """Squared L2 distance of every prototype to every patch of ``z``.

        Args:
            z (Tensor): Output of :meth:`forward_features`, (B, C, T, H, W).

        Returns:
            Tensor: float32, shape (B, P, T', H', W').
        """
        return self.prototype_layer.distance_maps(z)

    @abstractmethod
    def _logits(self, similarities: Tensor) -> Tuple[Tensor, Dict]:
        """Class logits (B, K) from the similarities (B, P), and a dict of
        further outputs for :meth:`forward_explain`."""

    @abstractmethod
    def _loss_inputs(self, labels: Tensor) -> Dict:
        """Keyword arguments of the loss beyond scores, labels and minimum
        distances, for leaf labels (B, )."""

    def forward_explain(self, x: Union[Tensor, Tuple[Tensor]],
                        **kwargs) -> Dict[str, Tensor]:
        """All intermediate outputs of the head.

        Args:
            x (Tensor | tuple[Tensor]): Backbone features.

        Returns:
            dict[str, Tensor]: ``cls_score`` (B, K), ``z`` (B, C, T, H, W),
            ``distance_maps`` (B, P, T', H', W'), ``min_distances`` (B, P),
            ``similarities`` (B, P), plus what the subclass adds.
        """
        z = self.forward_features(x)
        distance_maps, min_distances, similarities = self.prototype_layer(z)
        cls_score, extra = self._logits(similarities)
        return dict(
            cls_score=cls_score,
            z=z,
            distance_maps=distance_maps,
            min_distances=min_distances,
            similarities=similarities,
            **extra)

    def forward(self, x: Union[Tensor, Tuple[Tensor]], **kwargs) -> Tensor:
        """Class scores.

        Args:
            x (Tensor | tuple[Tensor]): Backbone features.

        Returns:
            Tensor: float32 logits, shape (B, K).
        """
        z = self.forward_features(x)
        _, _, similarities = self.prototype_layer(z)
        return self._logits(similarities)[0]

    def logits_from_similarities(self, similarities: Tensor) -> Tensor:
        """Class logits from prototype similarities (the last stage alone).

        Args:
            similarities (Tensor): Shape (B, P), Eq. 5.

        Returns:
            Tensor: float32 logits, shape (B, K).
        """
        return self._logits(similarities)[0]

    def loss(self, feats: Union[Tensor, Tuple[Tensor]],
             data_samples: SampleList, **kwargs) -> Dict[str, Tensor]:
        """Loss terms and top-k accuracies of a batch.

        Args:
            feats (Tensor | tuple[Tensor]): Backbone features.
            data_samples (list[ActionDataSample]): Samples with
                ``gt_label``.

        Returns:
            dict[str, Tensor]: The terms of ``loss_cls`` and ``top{k}_acc``.
        """
        z = self.forward_features(feats)
        _, min_distances, similarities = self.prototype_layer(z)
        cls_score = self._logits(similarities)[0]
        labels = gt_labels(data_samples, cls_score.shape[0], cls_score.device,
                           type(self).__name__)
        losses = self.loss_cls(cls_score, labels, min_distances,
                               **self._loss_inputs(labels))
        losses.update(top_k_accuracies(cls_score, labels, self.topk))
        return losses

    def get_extra_state(self) -> Dict:
        """State saved with the parameters: ``prototype_sources``, as plain
        types."""
        sources = self.prototype_sources
        return dict(
            prototype_sources=None if sources is None else sources.to_plain())

    def set_extra_state(self, state: Dict) -> None:
        """Restore the state written by :meth:`get_extra_state`."""
        name = type(self).__name__
        if not isinstance(state, dict) or 'prototype_sources' not in state:
            raise ValueError(
                f'{name}: the extra state of a checkpoint must be a dict '
                f'with key "prototype_sources", got {type(state).__name__}')
        sources = state['prototype_sources']
        self.prototype_sources = None if sources is None else \
            PrototypeSources.from_plain(sources, f'{name}: prototype_sources')


def top_k_accuracies(cls_score: Tensor, labels: Tensor,
                     topk: Sequence[int]) -> Dict[str, Tensor]:
    """Top-k accuracies to log, as in MMAction2's ``BaseHead``.

    Args:
        cls_score (Tensor): Shape (B, K).
        labels (Tensor): Shape (B, ).
        topk (Sequence[int]): The k values.

    Returns:
        dict[str, Tensor]: ``top{k}_acc`` per k.
    """
    accs = top_k_accuracy(cls_score.detach().float().cpu().numpy(),
                          labels.detach().cpu().numpy(), topk)
    return {
        f'top{k}_acc': torch.tensor(acc, device=cls_score.device)
        for k, acc in zip(topk, accs)
    }


def check_count(name: str, key: str, value, minimum: int) -> None:
    """Raise a ValueError naming head ``name`` and argument ``key`` unless
    ``value`` is an int >= ``minimum`` (1: positive, 0: non-negative)."""
    if not isinstance(value, int) or value < minimum:
        kind = 'positive' if minimum == 1 else 'non-negative'
        raise ValueError(f'{name}: {key} must be a {kind} int, got {value}')


def one_hot_identity(prototype_node: Tensor, num_nodes: int) -> Tensor:
    """Float (P, N) one-hot matrix of the node of every prototype.

    Args:
        prototype_node (Tensor): Node id of every prototype, (P, ).
        num_nodes (int): Number of nodes N.

    Returns:
        Tensor: ``[p, n] = 1`` if prototype p belongs to node n.
    """
    return torch.nn.functional.one_hot(prototype_node, num_nodes).float()
