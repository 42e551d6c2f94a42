"""Which head is projected and which training clips may supply each of its
prototypes (paper Eq. 12)."""
from typing import Sequence

from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from hprotopnet_mm.models.heads import BasePrototypeHead


def unwrap_model(model: nn.Module) -> nn.Module:
    """The recognizer inside a model wrapper (e.g. DDP), or ``model``."""
    return model.module if is_model_wrapper(model) else model


def prototype_head(model: nn.Module) -> BasePrototypeHead:
    """The prototype head of a recognizer.

    Args:
        model (nn.Module): A recognizer (or a wrapper around one) whose
            ``cls_head`` is a prototype head.

    Returns:
        BasePrototypeHead: ``model.cls_head``.
    """
    model = unwrap_model(model)
    head = getattr(model, 'cls_head', None)
    if not isinstance(head, BasePrototypeHead):
        raise TypeError(
            f'prototype projection needs a recognizer whose cls_head is a '
            f'prototype head (a BasePrototypeHead: HierarchicalProtoHead, '
            f'ProtoPNetHead); {type(model).__name__}.cls_head is '
            f'{type(head).__name__}, which has no prototype_layer')
    return head


def projection_candidates(head: BasePrototypeHead) -> Tensor:
    """Which clips may supply each prototype (paper Eq. 12).

    A clip of leaf y is a candidate for a prototype of node k when y is k or
    lies under k (``ClassHierarchy.leaf_membership``). For a flat head
    (ProtoPNet, a one-level hierarchy) y must be the prototype's class.

    Args:
        head (BasePrototypeHead): The prototype head.

    Returns:
        Tensor: Bool (P, K); ``[p, y]`` is True when clips of leaf y are
        candidates for prototype p.
    """
    node = head.prototype_node.detach().cpu()
    return head.hierarchy.leaf_membership[node]


def describe_prototypes(head: BasePrototypeHead,
                        prototypes: Sequence[int]) -> str:
    """``"3 (node 'Swimming'), 7 (node 'Diving')"``: prototypes with their
    nodes."""
    names = head.hierarchy.node_names
    return ', '.join(f'{p} (node {names[int(head.prototype_node[p])]!r})'
                     for p in prototypes)
