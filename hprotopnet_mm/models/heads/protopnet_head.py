"""Euclidean ProtoPNet head for 3D backbones (baseline)."""
from typing import Dict, Tuple

import torch
from torch import Tensor, nn

from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.registry import MODELS
from mmaction.utils import ConfigType
from .base_prototype_head import BasePrototypeHead, check_count


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
        num_prototypes_per_class (int): Prototypes per class, > 0.
            Defaults to 10.
        incorrect_class_connection (float): Initial weight between a
            prototype and the other classes. Defaults to -0.5.
        loss_cls (dict): Config of the loss. Defaults to
            ``dict(type='ProtoPNetLoss')``.
        **kwargs: ``proto_channels``, ``prototype_shape``, ``epsilon`` and
            ``unit_norm`` of ``BasePrototypeHead``, and ``topk``,
            ``average_clips`` and ``init_cfg`` of MMAction2's ``BaseHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_prototypes_per_class: int = 10,
                 incorrect_class_connection: float = -0.5,
                 loss_cls: ConfigType = dict(type='ProtoPNetLoss'),
                 **kwargs) -> None:
        name = type(self).__name__
        check_count(name, 'num_classes', num_classes, 1)
        check_count(name, 'num_prototypes_per_class', num_prototypes_per_class,
                    1)
        prototype_node = torch.arange(num_classes).repeat_interleave(
            num_prototypes_per_class)
        super().__init__(num_classes, in_channels, len(prototype_node),
                         loss_cls, **kwargs)
        self.hierarchy = ClassHierarchy.flat(
            [f'class {k}' for k in range(num_classes)],
            f'{name} (flat classes)')
        self.loss_cls.check_num_levels(self.hierarchy.num_levels,
                                       self.hierarchy.hierarchy_source)
        self.num_prototypes_per_class = num_prototypes_per_class
        self.set_prototype_nodes(prototype_node, num_classes,
                                 torch.zeros_like(prototype_node))
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
