"""Let a ``Pretrained`` ``init_cfg`` on MMAction2's ``ResNet3d`` load.

``ResNet3d.init_weights`` (MMAction2 1.2.0) overrides MMEngine's
``BaseModule.init_weights`` and never looks at ``init_cfg``: a config with
``backbone=dict(type='ResNet3d', init_cfg=dict(type='Pretrained',
checkpoint=...))`` silently trains from scratch. :func:`install` wraps it so
that, after ResNet3d's own initialisation, a set ``init_cfg`` is applied by
``BaseModule.init_weights`` as for every other MMEngine module (weights-only,
like every load of weights from elsewhere).
"""
from mmengine.model import BaseModule

_MARK = '_hprotopnet_mm_init_cfg'


def install() -> None:
    """Wrap ``ResNet3d.init_weights`` once."""
    from mmaction.models.backbones.resnet3d import ResNet3d
    original = ResNet3d.init_weights
    if getattr(original, _MARK, False):
        return

    def init_weights(self, pretrained=None):
        original(self, pretrained)
        if self.init_cfg:
            BaseModule.init_weights(self)

    setattr(init_weights, _MARK, True)
    init_weights.__doc__ = original.__doc__
    ResNet3d.init_weights = init_weights
