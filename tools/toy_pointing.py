"""Pointing test on the toy dataset: do the prototypes of a clip's class
path peak on the moving object?

For every listed clip (labelled clips of ``tools/make_toy_dataset.py``,
whose object positions are redrawn from the dataset's seed) and every clip
of the config's test pipeline, the top-P prototypes of the true leaf and of
each ancestor are tested (see ``hprotopnet_mm/explain/pointing.py``).
Prints, per level:

* how often the peak cell holds the object's centre, against a uniformly
  random cell and against the best fixed cell (the cell that holds the
  object most often in these clips: the object stays near the middle of
  the frame, so a model that always points at the middle scores this);
* for the grandparent level, whose cue is the background, how often the
  peak lies off the object instead;
* how often the peak lies on the border of the feature map (random: the
  share of border cells);
* the mean share of the activation mass on the object's cells (random: the
  share of cells that hold it),

and writes ``<out>/pointing.json``::

    python tools/toy_pointing.py CONFIG CHECKPOINT
        [--split-list data/toy/test_list.txt] [--video-root data/toy/videos]
        [--topk-prototypes 3] [--seed 0 --size 64 --frames 32] [--out DIR]
        [--cfg-options k=v ...]
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402

import hprotopnet_mm  # noqa: E402,F401
from hprotopnet_mm.explain import load_clips  # noqa
from hprotopnet_mm.explain import (PrototypeExplainer, add_model_arguments,
                                   load_config, load_recognizer, preprocess,
                                   read_split_list, test_video_root)
from hprotopnet_mm.explain.pointing import pointing_pipeline  # noqa: E402
from hprotopnet_mm.explain.pointing import pointing_rows, toy_object_grids


def build_parser(description):
    """The command line shared by the tools that test explanations on a
    labelled split of the toy dataset."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--split-list',
        default='data/toy/test_list.txt',
        help='a labelled list of the toy dataset')
    parser.add_argument(
        '--video-root',
        help="folder of the listed paths (default: the test dataloader's "
        'data_prefix.video)')
    parser.add_argument(
        '--seed', type=int, default=0, help='root seed of the toy dataset')
    parser.add_argument(
        '--size', type=int, default=64, help='frame side of the toy dataset')
    parser.add_argument(
        '--frames', type=int, default=32, help='frames per toy clip')
    parser.add_argument(
        '--out', help='output folder (default: the checkpoint folder)')
    add_model_arguments(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser('Pointing test of the prototypes on the toy '
                          'dataset')
    parser.add_argument(
        '--topk-prototypes', type=int, default=3, help='prototypes per node')
    return parser.parse_args(argv)


def load_split(args):
    """The model's explainer (with the test pipeline keeping the clip
    geometry) and the (video, label) pairs of ``args.split_list``."""
    cfg = load_config(args.config, args.cfg_options)
    model = load_recognizer(cfg, args.checkpoint, args.device)
    explainer = PrototypeExplainer(model, pointing_pipeline(cfg))
    video_root = test_video_root(cfg, args.video_root)
    videos = []
    for path, labels in read_split_list(args.split_list, video_root):
        if len(labels) != 1:
            raise ValueError(f'{args.split_list}: {path} has labels '
                             f'{labels}; these tests need one label')
        videos.append((path, labels[0]))
    return explainer, videos


def write_results(args, name, results):
    """Write ``results`` to ``<out>/<name>`` (JSON); return the path."""
    out = args.out or osp.dirname(osp.abspath(args.checkpoint))
    os.makedirs(out, exist_ok=True)
    path = osp.join(out, name)
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
    print(f'results written to {path}')
    return path


def decode(explainer, path, label, args):
    """A video's test clips: the sample, raw pixels, model inputs, head
    outputs, and the (clips, T', H', W') cells holding the object."""
    sample = load_clips(explainer.test_pipeline, path)
    raw, inputs = preprocess(explainer.model, sample)
    out = explainer.head_outputs(inputs)
    holds = toy_object_grids(path, label, sample, raw.shape[2:],
                             out['distance_maps'].shape[2:],
                             explainer.head.prototype_layer.prototype_shape,
                             args.seed, args.size, args.frames)
    return raw, inputs, out, holds


def point_video(explainer, path, label, args):
    """Pointing rows of one video, every clip and every node of the path of
    its true class, and the (clips, T', H', W') cells holding the object."""
    _, inputs, out, holds = decode(explainer, path, label, args)
    layer = explainer.head.prototype_layer
    rows = []
    for clip in range(inputs.shape[0]):
        for node in explainer.hierarchy.ancestor_path(label):
            prototypes = explainer.top_prototypes(node,
                                                  out['similarities'][clip],
                                                  args.topk_prototypes)
            for row in pointing_rows(out['distance_maps'][clip], prototypes,
                                     holds[clip], layer.epsilon):
                row.update(clip=clip, level=explainer.level_name(node))
                rows.append(row)
    return rows, holds


def summarize(rows, holds):
    """Per level: hit, border and object-mass rates, and their chance
    values.

    Args:
        rows (list[dict]): Rows of :func:`point_video` of all videos, each
            with ``index``, the clip's position in ``holds``.
        holds (np.ndarray): (clips, T', H', W') cells holding the object.
    """
    height, width = holds.shape[2:]
    chance_border = 1 - max(height - 2, 0) * max(width - 2, 0) / (
        height * width)
    summary = {}
    for level in dict.fromkeys(r['level'] for r in rows):
        mine = [r for r in rows if r['level'] == level]
        # the clip of every row, so chance values weigh clips as rows do
        clips = holds[[r['index'] for r in mine]]
        entry = dict(
            prototypes=len(mine),
            object_hit_rate=float(np.mean([r['hit'] for r in mine])),
            random_cell_hit_rate=float(clips.mean()),
            best_fixed_cell_hit_rate=float(clips.mean(axis=(0, 1)).max()),
            border_rate=float(np.mean([r['border'] for r in mine])),
            random_cell_border_rate=chance_border,
            object_mass=float(np.mean([r['object_mass'] for r in mine])),
            random_object_mass=float(clips.mean()))
        if level == 'grandparent':
            entry.update(
                background_hit_rate=1 - entry['object_hit_rate'],
                random_cell_background_rate=1 - entry['random_cell_hit_rate'])
        summary[level] = entry
    return summary


def main(argv=None):
    args = parse_args(argv)
    explainer, videos = load_split(args)
    rows, holds = [], []
    for path, label in videos:
        video_rows, video_holds = point_video(explainer, path, label, args)
        first = sum(len(h) for h in holds)
        rows.extend(
            dict(r, video=path, index=first + r['clip']) for r in video_rows)
        holds.append(video_holds)
    summary = summarize(rows, np.concatenate(holds))
    print(f'{"level":<12}{"prototypes":>11}{"on object":>11}'
          f'{"(random":>9}{" / best":>8}{" cell)":>7}{"on border":>11}'
          f'{"(random)":>10}{"mass on object":>16}{"(random)":>10}')
    for level, s in summary.items():
        print(f'{level:<12}{s["prototypes"]:>11}{s["object_hit_rate"]:>11.3f}'
              f'{s["random_cell_hit_rate"]:>9.3f}'
              f'{s["best_fixed_cell_hit_rate"]:>8.3f}{"":>7}'
              f'{s["border_rate"]:>11.3f}{s["random_cell_border_rate"]:>10.3f}'
              f'{s["object_mass"]:>16.3f}{s["random_object_mass"]:>10.3f}')
    if 'grandparent' in summary:
        s = summary['grandparent']
        print(f'grandparent peaks off the object (on the background): '
              f'{s["background_hit_rate"]:.3f} (random cell '
              f'{s["random_cell_background_rate"]:.3f})')
    write_results(args, 'pointing.json', dict(summary=summary, rows=rows))
    return summary


if __name__ == '__main__':
    main()
