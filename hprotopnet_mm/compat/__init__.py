"""Small, documented fixes that let the pinned stack run unmodified.

Each module here names the upstream problem it works around.
"""
from . import mmaction_drn, torchscript_determinism

mmaction_drn.install()  # before anything imports mmaction.models
torchscript_determinism.install()

from . import resnet3d_init_cfg  # noqa: E402

resnet3d_init_cfg.install()
