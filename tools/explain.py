"""Explain the predictions of a prototype network.

One video: an HTML report (grandparent, parent and class rows with their top
prototypes, their activation on the clip and their source training clips as
WebM videos), ``explanation.json`` and the clips::

    python tools/explain.py CONFIG CHECKPOINT VIDEO [--out DIR]
        [--topk-classes 2] [--topk-prototypes 3] [--min-confidence 0.6]
        [--faithfulness] [--device cpu] [--cfg-options k=v ...]

A split (numbers only, no rendering): predictions, abstaining answers and
the deletion test of every listed video; prints the summary and writes
``<out>/batch_results.json``::

    python tools/explain.py CONFIG CHECKPOINT
        --split-list data/toy/val_list.txt [--video-root data/toy/videos]
        [--faithfulness] [--min-confidence 0.6] [--max-videos N]

The video is decoded with the config's test pipeline; prototype sources with
the projection's pipeline. Checkpoints are loaded weights-only. See
``hprotopnet_mm/explain/`` for the definitions.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import hprotopnet_mm  # noqa: E402,F401
from hprotopnet_mm.engine.checkpoint_trust import \
    UntrustedCheckpointError  # noqa: E402
from hprotopnet_mm.engine.preflight import MissingPathError  # noqa: E402
from hprotopnet_mm.explain import PrototypeExplainer  # noqa: E402
from hprotopnet_mm.explain import (VideoReadError, add_model_arguments,
                                   explain_split, find_projection_pipeline,
                                   find_test_pipeline, load_config,
                                   load_recognizer, read_split_list,
                                   test_video_root, write_report)
from hprotopnet_mm.explain.quality import attach_quality  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Explain the predictions of a prototype network')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('video', nargs='?', help='video file to explain')
    parser.add_argument(
        '--split-list',
        help='explain every video of this list (numbers only) instead of '
        'one video')
    parser.add_argument(
        '--video-root',
        help='folder the --split-list paths are relative to (default: the '
        "test dataloader's data_prefix.video)")
    parser.add_argument(
        '--max-videos', type=int, help='only the first N listed videos')
    parser.add_argument(
        '--out',
        help='output folder (default: explanations/<video or list name>)')
    parser.add_argument(
        '--topk-classes',
        type=int,
        default=2,
        help='alternative leaves reported after the predicted one')
    parser.add_argument(
        '--topk-prototypes',
        type=int,
        default=3,
        help='prototypes reported per node')
    parser.add_argument(
        '--min-confidence',
        type=float,
        help='also give the abstaining prediction: the most specific node '
        'whose probability reaches this value')
    parser.add_argument(
        '--faithfulness',
        action='store_true',
        help='run the deletion test on the reported prototypes')
    parser.add_argument(
        '--num-random',
        type=int,
        default=5,
        help='random regions per prototype in the deletion test')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the random regions')
    parser.add_argument(
        '--fill',
        choices=['mean', 'zero'],
        default='mean',
        help='occlusion fill: the clip mean or the normalised zero')
    parser.add_argument(
        '--percentile',
        type=float,
        default=95,
        help='percentile delimiting the high-activation region')
    parser.add_argument(
        '--quality',
        help='quality.json of tools/explain_quality.py: show each '
        "prototype's consistency and stability in the report")
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    if (args.video is None) == (args.split_list is None):
        parser.error('give either VIDEO or --split-list')
    return args


def build_explainer(args):
    cfg = load_config(args.config, args.cfg_options)
    model = load_recognizer(cfg, args.checkpoint, args.device)
    pipeline, where = find_test_pipeline(cfg)
    source_pipeline, source_info = find_projection_pipeline(cfg)
    explainer = PrototypeExplainer(
        model,
        pipeline,
        source_pipeline,
        source_info,
        percentile=args.percentile)
    return cfg, explainer, where


def main(argv=None):
    args = parse_args(argv)
    cfg, explainer, where = build_explainer(args)
    options = dict(num_random=args.num_random, seed=args.seed, fill=args.fill)
    if args.video is not None:
        out = args.out or osp.join('explanations',
                                   osp.splitext(osp.basename(args.video))[0])
        explanation = explainer.explain(
            args.video,
            topk_classes=args.topk_classes,
            topk_prototypes=args.topk_prototypes,
            min_confidence=args.min_confidence,
            faithfulness=args.faithfulness,
            faithfulness_options=options)
        explanation.data['test_pipeline'] = where
        if args.quality:
            with open(args.quality) as f:
                attach_quality(explanation.data, json.load(f), args.quality)
        paths = write_report(explanation, out)
        data = explanation.data
        print(f'predicted {data["prediction"]["name"]} (probability '
              f'{data["prediction"]["probability"]:.4f})')
        for level in data['levels']:
            print(f'  {level["level_name"]}: {level["node_name"]} '
                  f'({level["probability"]:.4f}), prototypes '
                  f'{[r["prototype"] for r in level["prototypes"]]}')
        if data['abstain'] is not None:
            a = data['abstain']
            print(f'abstaining answer at {a["min_confidence"]}: '
                  f'{a["node_name"] or "no answer (root)"} '
                  f'({a["level_name"]})')
        if data['faithfulness'] is not None:
            f = data['faithfulness']
            print('faithfulness ratios: ' +
                  ', '.join(f'{key} {f[f"{key}_ratio"]}'
                            for key in f['scores']))
        print(f'report written to {paths["html"]}')
        print(f'numbers written to {paths["json"]}')
        return explanation

    entries = read_split_list(args.split_list,
                              test_video_root(cfg, args.video_root))
    if args.max_videos is not None:
        entries = entries[:args.max_videos]
    out = args.out or osp.join('explanations',
                               osp.splitext(osp.basename(args.split_list))[0])
    results = explain_split(
        explainer,
        entries,
        topk_prototypes=args.topk_prototypes,
        min_confidence=args.min_confidence,
        faithfulness=args.faithfulness,
        faithfulness_options=options)
    results['settings'] = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        split_list=args.split_list,
        topk_prototypes=args.topk_prototypes,
        percentile=args.percentile,
        **options)
    os.makedirs(out, exist_ok=True)
    path = osp.join(out, 'batch_results.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
    for key, value in results['summary'].items():
        print(f'{key}: {value}')
    print(f'results written to {path}')
    return results


if __name__ == '__main__':
    try:
        main()
    except (VideoReadError, MissingPathError, FileNotFoundError,
            UntrustedCheckpointError) as err:
        sys.exit(f'{osp.basename(__file__)}: error: {err}')
