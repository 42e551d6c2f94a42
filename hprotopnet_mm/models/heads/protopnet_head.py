"""Euclidean ProtoPNet head for 3D backbones (baseline)."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.registry import MODELS
from mmaction.utils import ConfigType
from .base_prototype_head import BasePrototypeHead, one_hot_identity


@MODELS.register_module()
class ProtoPNetHead(BasePrototypeHead):
    """ProtoPNet with 3D prototypes: flat classes, Euclidean logits.

    Backbone features -> add-on layers -> Z -> prototype similarities
    (Eq. 5) -> ``last_layer`` Linear(P, K) without bias -> logits, trained
    with softmax cross-entropy, ProtoPNet's cluster and separation costs and
    L1 on the weights that connect a prototype to a class other than its
    own (``ProtoPNetLoss``).

    ``num_prototypes_per_class`` prototypes per class, class 0's first;
    ``prototype_node`` (P, ) holds the class of every prototype and
    ``prototype_identity`` (P, K) the same one-hot. The classes form a
    one-level ``hierarchy`` (``ClassHierarchy.flat``, nodes named
    ``'class 0'``, ``'class 1'``, ...). The last layer starts at
    1 for a prototype's own class and ``incorrect_class_connection``
    otherwise.

    Args:
        num_classes (int): Number of classes K.
        in_channels (int): Channels of the backbone features.
        proto_channels (int): Channels of Z and the prototypes.
            Defaults to 128.
        num_prototypes_per_class (int): Prototypes per class, > 0.
            Defaults to 10.
        prototype_shape (Sequence[int]): Prototype extent (t, h, w) in Z.
            Defaults to (1, 1, 1).
        epsilon (float): Constant of Eq. 5. Defaults to 1e-4.
        unit_norm (bool): Compare unit-norm cells of Z and the prototypes
            (see ``PrototypeLayer``). Defaults to False (ProtoPNet).
        incorrect_class_connection (float): Initial weight between a
            prototype and the other classes. Defaults to -0.5.
        loss_cls (dict): Config of the loss. Defaults to
            ``dict(type='ProtoPNetLoss')``.
        topk, average_clips, init_cfg: as in MMAction2's ``BaseHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 proto_channels: int = 128,
                 num_prototypes_per_class: int = 10,
                 prototype_shape: Sequence[int] = (1, 1, 1),
                 epsilon: float = 1e-4,
                 unit_norm: bool = False,
                 incorrect_class_connection: float = -0.5,
                 loss_cls: ConfigType = dict(type='ProtoPNetLoss'),
                 topk: Union[int, Tuple[int]] = (1, 5),
                 average_clips: Optional[str] = None,
                 init_cfg: Optional[ConfigType] = None) -> None:
        name = type(self).__name__
        if not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(f'{name}: num_classes must be a positive int, '
                             f'got {num_classes}')
        if not isinstance(num_prototypes_per_class,
                          int) or num_prototypes_per_class <= 0:
            raise ValueError(f'{name}: num_prototypes_per_class must be a '
                             f'positive int, got {num_prototypes_per_class}')
        prototype_node = torch.arange(num_classes).repeat_interleave(
            num_prototypes_per_class)
        super().__init__(
            num_classes,
            in_channels,
            num_prototypes=len(prototype_node),
            proto_channels=proto_channels,
            prototype_shape=prototype_shape,
            epsilon=epsilon,
            loss_cls=loss_cls,
            unit_norm=unit_norm,
            topk=topk,
            average_clips=average_clips,
            init_cfg=init_cfg)
        self.hierarchy = ClassHierarchy.flat(
            [f'class {k}' for k in range(num_classes)],
            f'{name} (flat classes)')
        self.loss_cls.check_num_levels(self.hierarchy.num_levels,
                                       self.hierarchy.hierarchy_source)
        self.num_prototypes_per_class = num_prototypes_per_class
        self.register_buffer('prototype_node', prototype_node)
        self.register_buffer('prototype_identity',
                             one_hot_identity(prototype_node, num_classes))
        # Derived from the classes, not saved.
        self.register_buffer(
            'prototype_level',
            torch.zeros_like(prototype_node),
            persistent=False)
        self.last_layer = nn.Linear(
            self.num_prototypes, num_classes, bias=False)
        with torch.no_grad():
            own = self.prototype_identity.t()
            self.last_layer.weight.copy_(own + incorrect_class_connection *
                                         (1 - own))

    def _logits(self, similarities: Tensor) -> Tuple[Tensor, Dict]:
        """Logits (B, K) from similarities (B, P), float32; no extras."""
        with torch.autocast(
                device_type=similarities.device.type, enabled=False):
            return self.last_layer(similarities.float()), dict()

    def _loss_inputs(self, labels: Tensor) -> Dict:
        return dict(
            prototype_node=self.prototype_node,
            prototype_level=self.prototype_level,
            label_nodes=labels[:, None],
            last_layer_weight=self.last_layer.weight,
            last_layer_mask=1 - self.prototype_identity.t(),
            level_names=self.hierarchy.level_names)
