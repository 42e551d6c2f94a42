"""Let ``import mmaction.models`` work on the PyPI mmaction2 1.2.0 wheel.

The wheel published on PyPI omits the package
``mmaction/models/localizers/drn/`` (open-mmlab/mmaction2 issue #2714), yet
``mmaction/models/localizers/__init__.py`` imports ``DRN`` from it, so every
``import mmaction.models`` raises ``ModuleNotFoundError``.

When, and only when, that package is missing, :func:`install` registers an
in-memory module in its place whose ``DRN`` refuses to be built with a message
that names the cause. Every other localizer and all recognizers import
normally. A source install of MMAction2 has the real package and is left
untouched.
"""
import importlib.util
import os
import sys
import types

_PACKAGE = 'mmaction.models.localizers.drn'
_MODULE = _PACKAGE + '.drn'


class DRN:
    """Placeholder for the temporal grounding model missing from the wheel."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'mmaction.models.localizers.drn is missing from the PyPI '
            'mmaction2 1.2.0 wheel (open-mmlab/mmaction2 issue #2714); '
            'install MMAction2 from source to use DRN.')


def _drn_is_missing() -> bool:
    # Look on disk: finding the spec of a submodule would import
    # mmaction.models, the very import that fails.
    mmaction = importlib.util.find_spec('mmaction')
    if mmaction is None or not mmaction.submodule_search_locations:
        return False
    for root in mmaction.submodule_search_locations:
        localizers = os.path.join(root, 'models', 'localizers')
        if os.path.isdir(localizers):
            return not os.path.isdir(os.path.join(localizers, 'drn'))
    return False


def install() -> bool:
    """Register the placeholder if the wheel lacks the module.

    Returns:
        bool: True if the placeholder was registered.
    """
    if _PACKAGE in sys.modules or not _drn_is_missing():
        return False
    package = types.ModuleType(_PACKAGE)
    package.__path__ = []
    module = types.ModuleType(_MODULE)
    module.DRN = DRN
    package.drn = module
    sys.modules[_PACKAGE] = package
    sys.modules[_MODULE] = module
    return True
