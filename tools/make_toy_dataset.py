"""Generate the toy hierarchical action dataset (mp4 clips and lists).

    python tools/make_toy_dataset.py [--out data/toy] [--seed 0]
        [--train-per-class 32] [--val-per-class 6] [--test-per-class 6]
        [--grandparents 3] [--parents 2] [--leaves 2] [--size 64]
        [--frames 32] [--fps 8] [--overwrite]

See ``hprotopnet_mm/datasets/toy_dataset.py`` for the layout.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from hprotopnet_mm.datasets import make_toy_dataset  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the toy hierarchical action dataset')
    parser.add_argument('--out', default='data/toy', help='output folder')
    parser.add_argument('--seed', type=int, default=0, help='root seed')
    parser.add_argument('--train-per-class', type=int, default=32)
    parser.add_argument('--val-per-class', type=int, default=6)
    parser.add_argument('--test-per-class', type=int, default=6)
    parser.add_argument(
        '--grandparents',
        type=int,
        default=3,
        help='background scenes (grandparent nodes)')
    parser.add_argument(
        '--parents',
        type=int,
        default=2,
        help='objects per scene (parents per grandparent)')
    parser.add_argument(
        '--leaves',
        type=int,
        default=2,
        help='motions per object (leaves per parent)')
    parser.add_argument(
        '--ambiguous-per-pair',
        type=int,
        default=2,
        help='ambiguous clips per pair of sibling leaves')
    parser.add_argument(
        '--size', type=int, default=64, help='frame side in pixels (even)')
    parser.add_argument(
        '--frames', type=int, default=32, help='frames per clip')
    parser.add_argument('--fps', type=float, default=8)
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace an earlier toy dataset in --out')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        files = make_toy_dataset(
            args.out,
            seed=args.seed,
            train_per_class=args.train_per_class,
            val_per_class=args.val_per_class,
            test_per_class=args.test_per_class,
            num_grandparents=args.grandparents,
            num_parents=args.parents,
            num_leaves=args.leaves,
            size=args.size,
            num_frames=args.frames,
            fps=args.fps,
            ambiguous_per_pair=args.ambiguous_per_pair,
            overwrite=args.overwrite)
    except (ValueError, TypeError, FileExistsError) as error:
        sys.exit(f'make_toy_dataset: {error}')
    elapsed = time.perf_counter() - start
    print(f'wrote {files.num_videos} videos under {files.video_root}')
    for path in files.files:
        print(f'wrote {path}')
    print(f'data_prefix=dict(video={files.video_root!r})')
    print(f'done in {elapsed:.1f} s')


if __name__ == '__main__':
    main()
