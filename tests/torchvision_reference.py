"""torchvision's video ResNets as a reference, kept out of the runtime venv.

``tools/setup_env.sh --tests`` installs torchvision (pinned in
``requirements/torchvision.txt``) with ``pip install --no-deps --target
<venv>/torchvision``. Its wheel is built for CUDA torch: next to the CPU
torch, ``import torchvision`` fails (``operator torchvision::nms does not
exist``) because it registers fake kernels for operators its unloadable
C++ library would define. :func:`torchvision_video` defines those two
operator schemas with ``torch.library`` and imports
``torchvision.models.video`` with that folder on ``sys.path`` for the import
only. The models are pure Python and need none of the C++ operators.
"""
import os
import os.path as osp
import sys

import pytest
import torch

TORCHVISION_DIR = os.environ.get('HPROTO_TORCHVISION_DIR',
                                 osp.join(sys.prefix, 'torchvision'))
_SCHEMAS = ('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
            'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
# A torch.library.Library undefines its operators when garbage-collected.
_LIBRARY = []


def _define_operator_schemas() -> None:
    """Define ``torchvision::nms`` and ``torchvision::qnms`` (schemas only,
    no kernels) unless they exist."""
    missing = [
        schema for schema in _SCHEMAS if not hasattr(torch.ops.torchvision,
                                                     schema.split('(')[0])
    ]
    if missing:
        library = torch.library.Library('torchvision', 'FRAGMENT')
        for schema in missing:
            library.define(schema)
        _LIBRARY.append(library)


def torchvision_video():
    """``torchvision.models.video``; skips the test when torchvision is not
    installed in :data:`TORCHVISION_DIR`, and fails it instead when
    ``HPROTO_REQUIRE_TORCHVISION=1`` (CI)."""
    if 'torchvision.models.video' in sys.modules:
        return sys.modules['torchvision.models.video']
    if not osp.isdir(osp.join(TORCHVISION_DIR, 'torchvision')):
        message = (f'torchvision not installed in {TORCHVISION_DIR} '
                   '(bash tools/setup_env.sh --tests installs it)')
        if os.environ.get('HPROTO_REQUIRE_TORCHVISION') == '1':
            pytest.fail(message + ' (HPROTO_REQUIRE_TORCHVISION=1)')
        pytest.skip(message)
    _define_operator_schemas()
    sys.path.insert(0, TORCHVISION_DIR)
    try:
        import torchvision.models.video as video
    finally:
        sys.path.remove(TORCHVISION_DIR)
    return video


def random_torchvision_model(arch: str, seed: int = 0) -> torch.nn.Module:
    """``torchvision.models.video.<arch>`` with random weights, batch-norm
    statistics and affine parameters included, in eval mode."""
    video = torchvision_video()
    torch.manual_seed(seed)
    model = getattr(video, arch)(weights=None)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(seed + 1)
    return model.eval()
