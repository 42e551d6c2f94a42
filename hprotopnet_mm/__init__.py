"""Hierarchical ProtoPNet for video action recognition, as an MMAction2 plugin.

Importing the package (for example through ``custom_imports`` in a config)
registers its heads, losses, hooks, metrics and runner in MMAction2's and
MMEngine's registries.
"""
from . import compat  # noqa: F401  (must run before mmaction.models loads)
from . import datasets, engine, evaluation, hierarchy, models  # noqa: F401
from .version import __version__  # noqa: F401
