from .hyperbolic_proto_loss import (HyperbolicProtoLoss, cluster_cost,
                                    hyperbolic_cross_entropy, last_layer_l1,
                                    level_prototype_masks, separation_cost)
from .protopnet_loss import ProtoPNetLoss

__all__ = [
    'HyperbolicProtoLoss', 'ProtoPNetLoss', 'hyperbolic_cross_entropy',
    'level_prototype_masks', 'cluster_cost', 'separation_cost', 'last_layer_l1'
]
