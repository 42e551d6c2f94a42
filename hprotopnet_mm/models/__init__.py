"""Heads, losses and layers of the hierarchical prototype network and its
baselines. Importing this package registers them in MMAction2's MODELS."""
from .heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
