"""MMAction2's ``I3DHead`` with global max pooling instead of average."""
from torch import nn

from mmaction.models.heads import I3DHead
from mmaction.registry import MODELS


@MODELS.register_module()
class MaxPoolI3DHead(I3DHead):
    """``I3DHead`` whose global pooling over (T, H, W) is a maximum.

    Features (B, C, T, H, W) -> max over T, H, W (B, C) -> dropout ->
    ``fc_cls`` (B, K). Everything else (loss, init, clip averaging, state
    dict keys) is ``I3DHead``'s.

    Averaging divides the features of a small region by the number of
    cells of the map: when the evidence is local (a small object whose
    motion tells the classes apart, as in the toy dataset), it drowns in
    the background's features. A maximum keeps the strongest response of
    each channel wherever it occurs, as the prototype heads do (a
    prototype's similarity is that of its closest patch).

    Args: as :class:`mmaction.models.heads.I3DHead`; ``spatial_type``
        must be 'max'.
    """

    def __init__(self, *args, spatial_type: str = 'max', **kwargs) -> None:
        if spatial_type != 'max':
            raise ValueError(f'{type(self).__name__} pools by the maximum: '
                             f'spatial_type must be "max", got '
                             f'{spatial_type!r} (use I3DHead for "avg")')
        super().__init__(*args, spatial_type=spatial_type, **kwargs)
        # I3DHead.forward pools with this module.
        self.avg_pool = nn.AdaptiveMaxPool3d((1, 1, 1))
