"""Pointing test on the toy dataset: do the prototypes of a clip's class
path peak on the moving object?

For every listed clip (train or val clips of ``tools/make_toy_dataset.py``,
whose object positions are redrawn from the dataset's seed) and every clip
of the config's test pipeline, the top-P prototypes of the true leaf and of
each ancestor are tested (see ``hprotopnet_mm/explain/pointing.py``).
Prints, per level, how often the peak cell holds the object's centre and how
often it lies on the border of the feature map, each against a uniformly
random cell, and writes ``<out>/pointing.json``::

    python tools/toy_pointing.py CONFIG CHECKPOINT
        [--split-list data/toy/val_list.txt] [--video-root data/toy/videos]
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
from mmengine.config import DictAction  # noqa: E402

import hprotopnet_mm  # noqa: E402,F401
from hprotopnet_mm.datasets import toy_object_track  # noqa: E402
from hprotopnet_mm.explain import (PrototypeExplainer, find_test_pipeline,
                                   load_clips, load_config, load_recognizer,
                                   preprocess, read_split_list)  # noqa: E402
from hprotopnet_mm.explain.loading import frame_indices  # noqa: E402
from hprotopnet_mm.explain.pointing import (  # noqa: E402
    check_pointing_pipeline, pointing_rows, to_clip_pixels)

META_KEYS = ('scale_factor', 'crop_bbox')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pointing test of the prototypes on the toy dataset')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--split-list',
        default='data/toy/val_list.txt',
        help='train or val list of the toy dataset')
    parser.add_argument(
        '--video-root',
        help="folder of the listed paths (default: the test dataloader's "
        'data_prefix.video)')
    parser.add_argument(
        '--topk-prototypes', type=int, default=3, help='prototypes per node')
    parser.add_argument(
        '--seed', type=int, default=0, help='root seed of the toy dataset')
    parser.add_argument(
        '--size', type=int, default=64, help='frame side of the toy dataset')
    parser.add_argument(
        '--frames', type=int, default=32, help='frames per toy clip')
    parser.add_argument(
        '--out', help='output folder (default: the checkpoint folder)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, xxx=yyy')
    return parser.parse_args(argv)


def test_pipeline_with_geometry(cfg):
    """The test pipeline, checked, with the resize and crop geometry kept
    in the packed sample's metainfo."""
    pipeline, _ = find_test_pipeline(cfg)
    check_pointing_pipeline(pipeline)
    pipeline = [dict(t) for t in pipeline]
    pack = pipeline[-1]
    pack['meta_keys'] = tuple(pack.get('meta_keys', ())) + META_KEYS
    return pipeline


def point_video(explainer, pipeline, path, label, args):
    """Pointing rows of one video, every clip and every node of the path of
    its true class."""
    track_label, track = toy_object_track(path, args.seed, args.size,
                                          args.frames)
    if track_label != label:
        raise ValueError(f'{path} is listed with label {label} but is a '
                         f'clip of class {track_label}')
    sample = load_clips(pipeline, path)
    raw, inputs = preprocess(explainer.model, sample)
    out = explainer.head_outputs(inputs)
    hierarchy = explainer.hierarchy
    shape = explainer.head.prototype_layer.prototype_shape
    rows = []
    for clip in range(inputs.shape[0]):
        inds = np.asarray(frame_indices(sample, clip))
        if len(inds) != raw.shape[2] or inds.max() >= len(track):
            raise ValueError(f'{path}: frame indices {inds.tolist()} do not '
                             f'fit {len(track)} frames (--frames) or the '
                             f'clip of {raw.shape[2]} frames')
        centres = to_clip_pixels(track[inds],
                                 sample['data_samples'].metainfo)
        for node in hierarchy.ancestor_path(label):
            prototypes = explainer.top_prototypes(
                node, out['similarities'][clip], args.topk_prototypes)
            for row in pointing_rows(out['distance_maps'][clip], prototypes,
                                     centres, raw.shape[2:], shape):
                row.update(clip=clip, level=explainer.level_name(node))
                rows.append(row)
    return rows, tuple(out['distance_maps'].shape[3:])


def summarize(rows, grid):
    """Per level: hit and border rates, and those of a random cell."""
    height, width = grid
    chance_border = 1 - max(height - 2, 0) * max(width - 2, 0) / (height *
                                                                   width)
    summary = {}
    for level in dict.fromkeys(r['level'] for r in rows):
        mine = [r for r in rows if r['level'] == level]
        summary[level] = dict(
            prototypes=len(mine),
            object_hit_rate=float(np.mean([r['hit'] for r in mine])),
            random_cell_hit_rate=1 / (height * width),
            border_rate=float(np.mean([r['border'] for r in mine])),
            random_cell_border_rate=chance_border)
    return summary


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = load_recognizer(cfg, args.checkpoint, args.device)
    pipeline = test_pipeline_with_geometry(cfg)
    explainer = PrototypeExplainer(model, pipeline)
    if explainer.hierarchy is None:
        raise ValueError(f'{args.config}: the pointing test follows the '
                         'class hierarchy; this model has none')
    video_root = args.video_root or cfg.test_dataloader.dataset.get(
        'data_prefix', {}).get('video')
    if video_root is None:
        raise ValueError('give --video-root: the config has no '
                         'test_dataloader.dataset.data_prefix.video')
    rows, grid = [], None
    for path, labels in read_split_list(args.split_list, video_root):
        if len(labels) != 1:
            raise ValueError(f'{args.split_list}: {path} has labels '
                             f'{labels}; the pointing test needs one label')
        video_rows, grid = point_video(explainer, pipeline, path, labels[0],
                                       args)
        rows.extend(dict(r, video=path) for r in video_rows)
    summary = summarize(rows, grid)
    print(f'{"level":<12}{"prototypes":>11}{"on object":>11}'
          f'{"(random)":>10}{"on border":>11}{"(random)":>10}')
    for level, s in summary.items():
        print(f'{level:<12}{s["prototypes"]:>11}{s["object_hit_rate"]:>11.3f}'
              f'{s["random_cell_hit_rate"]:>10.3f}{s["border_rate"]:>11.3f}'
              f'{s["random_cell_border_rate"]:>10.3f}')
    out = args.out or osp.dirname(osp.abspath(args.checkpoint))
    os.makedirs(out, exist_ok=True)
    path = osp.join(out, 'pointing.json')
    with open(path, 'w') as f:
        json.dump(dict(summary=summary, rows=rows), f, indent=1)
    print(f'results written to {path}')
    return summary


if __name__ == '__main__':
    main()
