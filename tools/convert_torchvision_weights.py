"""Convert torchvision's video ResNet weights into an MMAction2 checkpoint.

    python tools/convert_torchvision_weights.py ARCH SRC DST

ARCH is ``r3d_18``, ``mc3_18`` or ``r2plus1d_18``; SRC a state dict of
``torchvision.models.video.<ARCH>`` (torchvision's downloaded weights file,
e.g. its Kinetics-400 ``r3d_18-b3b3357e.pth``, or a ``.pth`` saved from
``model.state_dict()``); DST a weights-only checkpoint with ``backbone.*``
keys for ``load_from``, for the backbone of
``configs/_base_/models/<arch>_torchvision.py`` and the configs built on it.
SRC is read with ``torch.load(weights_only=True)`` (a file holding pickled
code is refused); every tensor is renamed, and the conversion stops, naming
them, at tensors ARCH does not have, tensors it lacks and shapes that
differ. torchvision's classifier (``fc.*``) is left out. torchvision itself
is not needed.
"""
import argparse
import os.path as osp
import pickle
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

import hprotopnet_mm  # noqa: E402,F401
from hprotopnet_mm.engine.checkpoint_format import \
    save_atomically  # noqa: E402
from hprotopnet_mm.engine.checkpoint_trust import (  # noqa: E402
    UntrustedCheckpointError, refusal)
from hprotopnet_mm.models.backbones.torchvision_weights import \
    rename_torchvision_state_dict  # noqa: E402

BASE_CONFIGS = {
    'r3d_18': 'configs/_base_/models/r3d18_torchvision.py',
    'mc3_18': 'configs/_base_/models/mc3_18_torchvision.py',
    'r2plus1d_18': 'configs/_base_/models/r2plus1d_18_torchvision.py',
}


def backbone_shapes(arch: str) -> dict:
    """Name -> shape of every tensor of ``arch``'s MMAction2 backbone."""
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO_ROOT, BASE_CONFIGS[arch]))
    backbone = MODELS.build(cfg.model.backbone)
    return {name: t.shape for name, t in backbone.state_dict().items()}


def load_state_dict(src: str) -> dict:
    """The tensors of ``src``, loaded weights-only: a plain state dict, or
    a dict holding one under ``state_dict``."""
    try:
        content = torch.load(src, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise refusal(src, err) from err
    if isinstance(content, dict) and isinstance(
            content.get('state_dict'), dict):
        content = content['state_dict']
    if not isinstance(content, dict) or not content or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor)
            for k, v in content.items()):
        raise ValueError(f'{src}: expected a state dict (names -> tensors), '
                         f'got {type(content).__name__}')
    return content


def convert(arch: str, src: str, dst: str) -> dict:
    """Write ``src``'s tensors under the backbone's names to ``dst``;
    returns the written checkpoint."""
    renamed, dropped = rename_torchvision_state_dict(
        arch, load_state_dict(src), backbone_shapes(arch), source=src)
    checkpoint = dict(
        state_dict={
            f'backbone.{name}': tensor.contiguous()
            for name, tensor in renamed.items()
        },
        meta=dict(
            converted_from=osp.basename(src),
            torchvision_arch=arch,
            left_out=dropped))
    save_atomically(checkpoint, dst)
    return checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.strip().split('\n')[0])
    parser.add_argument('arch', choices=sorted(BASE_CONFIGS))
    parser.add_argument('src', help='torchvision state dict (.pth)')
    parser.add_argument('dst', help='MMAction2 checkpoint to write')
    args = parser.parse_args(argv)
    if not osp.isfile(args.src):
        parser.error(f'{args.src} not found')
    try:
        checkpoint = convert(args.arch, args.src, args.dst)
    except (ValueError, UntrustedCheckpointError) as err:
        parser.exit(1, f'{parser.prog}: error: {err}\n')
    left_out = checkpoint['meta']['left_out']
    print(f'wrote {len(checkpoint["state_dict"])} backbone tensors to '
          f'{args.dst} (left out: {", ".join(left_out) or "nothing"}); '
          f'use it with load_from={args.dst}')


if __name__ == '__main__':
    sys.exit(main())
