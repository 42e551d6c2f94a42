"""Turn a checkpoint you trust into a weights-only file.

``load_from`` and ``init_cfg=dict(type='Pretrained')`` load weights-only and
refuse files that hold other pickled objects (for example MMEngine
checkpoints from a model zoo, which carry a message hub and numpy values).
If you trust such a file, convert it once:

    python tools/convert_checkpoint.py IN.pth OUT.pth --trust

The output holds ``state_dict`` (tensors only) and a small ``meta`` dict.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

from hprotopnet_mm.engine.checkpoint_format import \
    save_atomically  # noqa: E402


def convert(src: str, dst: str) -> int:
    """Write the state dict of ``src`` to ``dst``; returns the tensor count."""
    checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    state_dict = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f'{src}: no state_dict of tensors found')
    out = dict(
        state_dict={
            k: v.contiguous()
            for k, v in state_dict.items()
        },
        meta=dict(converted_from=osp.basename(src)))
    save_atomically(out, dst)
    return len(state_dict)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'src', help='checkpoint to convert (will be unpickled)')
    parser.add_argument('dst', help='weights-only output file')
    parser.add_argument(
        '--trust',
        action='store_true',
        help='confirm that SRC comes from a source you trust: converting '
        'unpickles it in full, which can run code stored in it')
    args = parser.parse_args(argv)
    if not args.trust:
        parser.error('converting unpickles SRC in full; pass --trust if you '
                     'trust where it came from')
    count = convert(args.src, args.dst)
    print(f'wrote {count} tensors to {args.dst}')


if __name__ == '__main__':
    sys.exit(main())
