"""Time the hierarchical accuracy metric on the ActivityNet class tree.

    python tools/benchmark_metric.py [--videos 2500] [--clips 4]
        [--repeats 5] [--seed 0]

Random per-clip scores (videos x clips, 10,000 clips by default) are wrapped
as recognizer outputs (``ActionDataSample.to_dict()``) and evaluated by
``HierarchicalAccuracy`` (``process`` + ``evaluate``) and by the bare
``hierarchical_accuracy`` function. After one warm-up run, the median of the
repeats is printed with the machine it ran on.
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import time

import numpy as np
import torch

from hprotopnet_mm.evaluation import (HierarchicalAccuracy,
                                      hierarchical_accuracy)
from hprotopnet_mm.hierarchy import HIERARCHY_FILES_DIR
from mmaction.structures import ActionDataSample


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time the hierarchical accuracy metric')
    parser.add_argument('--videos', type=int, default=2500)
    parser.add_argument('--clips', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--hierarchy',
        default=osp.join(HIERARCHY_FILES_DIR, 'activitynet_hierarchy.csv'))
    parser.add_argument(
        '--label-map',
        default=osp.join(HIERARCHY_FILES_DIR, 'activitynet_label_map.txt'))
    return parser.parse_args()


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after a warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    args = parse_args()
    metric = HierarchicalAccuracy(args.hierarchy, args.label_map)
    num_classes = metric.hierarchy.num_leaves
    generator = torch.Generator().manual_seed(args.seed)
    scores = torch.randn(
        args.videos, args.clips, num_classes, generator=generator)
    labels = torch.randint(num_classes, (args.videos, ), generator=generator)
    samples = []
    for i in range(args.videos):
        sample = ActionDataSample()
        sample.set_gt_label(int(labels[i]))
        sample.set_pred_score(scores[i])
        sample.set_metainfo(dict(filename=f'video_{i:05d}.mp4'))
        samples.append(sample.to_dict())

    def run_metric():
        metric.process([], samples)
        return metric.evaluate(len(samples))

    clip_scores = list(scores.numpy())
    label_array = labels.numpy()

    def run_function():
        return hierarchical_accuracy(clip_scores, label_array,
                                     metric.hierarchy)

    result = run_metric()
    metric_s = median_seconds(run_metric, args.repeats)
    function_s = median_seconds(run_function, args.repeats)
    print(f'{args.videos * args.clips} clips ({args.videos} videos x '
          f'{args.clips} clips), {num_classes} classes, '
          f'{len(result)} metrics; median of {args.repeats} runs after a '
          'warm-up:')
    print(f'  HierarchicalAccuracy process + evaluate: {metric_s:.3f} s')
    print(f'  hierarchical_accuracy function:          {function_s:.3f} s')
    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, '
          f'python {platform.python_version()}, numpy {np.__version__}, '
          f'torch {torch.__version__}, torch threads '
          f'{torch.get_num_threads()}')


if __name__ == '__main__':
    main()
