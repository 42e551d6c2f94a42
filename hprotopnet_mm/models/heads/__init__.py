from .base_prototype_head import BasePrototypeHead
from .hierarchical_proto_head import HierarchicalProtoHead
from .hyperbolic_head import HyperbolicHead
from .level_scores import level_scores, set_level_scores
from .max_pool_i3d_head import MaxPoolI3DHead
from .protopnet_head import ProtoPNetHead
from .prototype_sources import PatchSource, PrototypeSources

__all__ = [
    'BasePrototypeHead', 'HierarchicalProtoHead', 'HyperbolicHead',
    'MaxPoolI3DHead', 'ProtoPNetHead', 'level_scores', 'set_level_scores',
    'PatchSource', 'PrototypeSources'
]
