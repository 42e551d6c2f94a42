import sys

import pytest


def test_mmaction_models_import_on_the_stock_wheel():
    import mmaction.models  # noqa: F401
    from mmaction.registry import MODELS
    assert MODELS.get('Recognizer3D') is not None
    assert MODELS.get('I3DHead') is not None


def test_missing_drn_is_replaced_by_a_placeholder_that_names_the_cause():
    from hprotopnet_mm.compat import mmaction_drn
    module = sys.modules['mmaction.models.localizers.drn.drn']
    if module.DRN is not mmaction_drn.DRN:
        pytest.skip('this MMAction2 install ships the real DRN')
    with pytest.raises(ImportError, match='#2714'):
        module.DRN()
    # installing twice changes nothing
    assert mmaction_drn.install() is False
