"""Where do the clips' points lie in the Poincare ball?

For every clip of every video in a list (the config's test pipeline), the
hyperbolic distance from the origin of the clip's point ``h`` (paper Eq. 6),
against the distances of the hierarchy's nodes level by level (see
``hprotopnet_mm/explain/embedding_shell.py``). Prints the quantiles, the
share of clips beyond the leaves, within the leaves' shell and at the
float32 boundary, and writes ``<out>/embedding_shell.json``::

    python tools/embedding_shell.py CONFIG CHECKPOINT
        [--split-list data/toy/test_list.txt] [--video-root data/toy/videos]
        [--out DIR] [--device cpu] [--cfg-options k=v ...]

Works for the heads with hyperbolic logits (``HierarchicalProtoHead``,
``HyperbolicHead``).
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

import hprotopnet_mm  # noqa: E402,F401
from hprotopnet_mm.explain import load_clips  # noqa
from hprotopnet_mm.explain import (add_model_arguments, find_test_pipeline,
                                   head_outputs, load_config, load_recognizer,
                                   preprocess, read_split_list,
                                   test_video_root)
from hprotopnet_mm.explain.embedding_shell import shell_summary  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Distances of the clip points from the origin of the '
        'Poincare ball, against the levels of the hierarchy')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--split-list', default='data/toy/test_list.txt')
    parser.add_argument(
        '--video-root',
        help="folder of the listed paths (default: the test dataloader's "
        'data_prefix.video)')
    parser.add_argument(
        '--out', help='output folder (default: the checkpoint folder)')
    add_model_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = load_recognizer(cfg, args.checkpoint, args.device)
    head = model.cls_head
    if not hasattr(head, 'hyperbolic'):
        raise ValueError(f'{args.config}: {type(head).__name__} has no '
                         'hyperbolic logits')
    pipeline, _ = find_test_pipeline(cfg)
    points = []
    for path, _ in read_split_list(args.split_list,
                                   test_video_root(cfg, args.video_root)):
        _, inputs = preprocess(model, load_clips(pipeline, path))
        points.append(head_outputs(model, head, inputs)['embedding'].cpu())
    hierarchy = head.hierarchy
    summary = shell_summary(
        torch.cat(points), head.hyperbolic.node_embeddings,
        hierarchy.node_levels, hierarchy.level_names, head.hyperbolic.ball)
    clips, levels = summary['clips'], summary['levels']
    print(f'{clips["count"]} clips, distance of h from the origin: ' +
          ', '.join(f'{k} {v:.2f}' for k, v in clips.items() if k != 'count'))
    for name, radii in levels.items():
        print(f'  {name:<12} nodes at {radii["min"]:.2f} .. '
              f'{radii["max"]:.2f} (mean {radii["mean"]:.2f})')
    print(f'beyond the leaves {summary["beyond_leaves"]:.3f}, within the '
          f'leaves\' shell {summary["within_leaf_shell"]:.3f}, at the '
          f'float32 boundary {summary["at_float32_boundary"]:.3f}')
    out = args.out or osp.dirname(osp.abspath(args.checkpoint))
    os.makedirs(out, exist_ok=True)
    path = osp.join(out, 'embedding_shell.json')
    with open(path, 'w') as f:
        json.dump(summary, f, indent=1)
    print(f'results written to {path}')
    return summary


if __name__ == '__main__':
    main()
