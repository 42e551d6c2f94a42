"""Small, documented fixes that let the pinned stack run unmodified.

Each module here names the upstream problem it works around.
"""
from . import mmaction_drn

mmaction_drn.install()
