"""Heads, losses and layers of the hierarchical prototype network and its
baselines, and backbones in other layouts. Importing this package registers
them in MMAction2's MODELS."""
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
