"""Loss of the Euclidean ProtoPNet baseline."""
from mmaction.registry import MODELS
from .hyperbolic_proto_loss import HyperbolicProtoLoss


@MODELS.register_module()
class ProtoPNetLoss(HyperbolicProtoLoss):
    """ProtoPNet's loss: cross-entropy + cluster - separation + L1.

    ``loss = CE + cluster_coef * Clst - separation_coef * Sep
    + l1_coef * ||W * mask||_1`` over leaf prototypes, with the costs of
    :class:`HyperbolicProtoLoss` at the single (leaf) level and ProtoPNet's
    default coefficients. The head passes the mask of the last-layer
    weights that connect a prototype to a class other than its own.

    Args:
        cluster_coef (float): Defaults to 0.8.
        separation_coef (float): Defaults to 0.08.
        l1_coef (float): Defaults to 1e-4.
    """

    def __init__(self,
                 cluster_coef: float = 0.8,
                 separation_coef: float = 0.08,
                 l1_coef: float = 1e-4) -> None:
        super().__init__(
            cluster_coefs=(cluster_coef, ),
            separation_coefs=(separation_coef, ),
            l1_coef=l1_coef)
