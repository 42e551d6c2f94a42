from .hyperbolic_logits import (HyperbolicLogits, embed_in_ball,
                                hyperbolic_logits)
from .position_centring import PositionCentring
from .prototype_layer import (PrototypeLayer, check_prototype_shape,
                              log_similarity, patch_squared_distances)

__all__ = [
    'PrototypeLayer', 'patch_squared_distances', 'log_similarity',
    'check_prototype_shape', 'HyperbolicLogits', 'embed_in_ball',
    'hyperbolic_logits', 'PositionCentring'
]
