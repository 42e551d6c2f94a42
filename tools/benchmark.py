"""Cost of the hierarchical prototype network against MMAction2's I3DHead.

    python tools/benchmark.py [--device cpu|cuda] [--out FILE.json] [--quick]
        [--model-config configs/_base_/models/r3d18.py] [--repeats 7]
        [--warmup 1] [--batch-size 2] [--clip 16 112 112]
        [--base-channels 64] [--projection-clips 8]
        [--memory-clips 200 2000] [--memory-repeats 3]
        [--threads 1] [--clock cpu|wall] [--seed 0]
        [--segment-videos 4] [--segment-video-seconds 120]
        [--segment-frame-size 360 640] [--segment-loading-only]

Every figure is a ratio to its baseline, measured in one run. Timed variants
run interleaved (variant order reversed every round, A B C .. C B A ..) after
``--warmup`` rounds, so that load drifting on a shared machine hits all of
them alike; a figure is the median over ``--repeats`` rounds of the ratio
taken within each round.

On CPU the ratios compare the CPU time of the process in a single-threaded
run (``--threads 1 --clock cpu``, the defaults): on a machine shared with
other jobs, wall time mostly measures how long the process waited for a
core, and with several threads OpenMP's spin-waiting for descheduled threads
adds more; the CPU time of one thread is the work itself, and equals the
wall time on an idle machine. The wall-time ratio is reported beside it.
``--threads N --clock wall`` measures the machine as it is. On CUDA the
ratios compare wall times (the CPU time does not count the GPU's work).

1. Train step (forward, backward, optimizer step through
   ``model.train_step``) and inference (``model.test_step``) of a
   Recognizer3D with the R3D-18 backbone of ``configs/_base_/models/r3d18.py``
   (or ``--model-config``) and a HierarchicalProtoHead (leaf prototypes
   only, and CPG: prototypes for leaves and ancestors), against the same
   recognizer with I3DHead, at UCF-101 size (101 leaves, 25 ancestors) and
   ActivityNet size (200, 44), on batches of real ``ActionDataSample``s.
   Every model uses the optimizer of ``configs/_base_/schedules/hproto.py``.
2. One prototype projection pass (``project_prototypes``) over N synthetic
   clips against one inference pass over the same clips, same model (the
   ActivityNet-size CPG network, the largest head). The projection runs the
   backbone on one clip at a time by default (``clips_per_forward=1``, which
   makes every feature map independent of batching);
   ``projection_pass_batched`` shows the same pass with the inference batch
   size, i.e. the cost of the prototype search alone.
3. Peak memory of the projection pass over ``--memory-clips`` clips (the
   largest count against the smallest). Each count runs in a fresh process
   on synthetic backbone feature maps (a pass-through backbone; the real one
   costs the same for any N), through the real ``project_prototypes``. The
   figure is the peak resident set size of the process during the pass
   (``VmHWM`` of ``/proc/self/status``, reset by writing 5 to
   ``/proc/self/clear_refs`` just before the pass). PyTorch's CPU allocator
   takes every tensor straight from ``malloc`` and the tensors are written,
   so their pages are resident and counted, unlike with ``tracemalloc``,
   which only sees Python objects. The growth of the peak per extra clip is
   reported beside it, to compare with the size of one clip's features (a
   pass that kept anything per clip would grow by about that much). On CUDA
   the figure is ``torch.cuda.max_memory_allocated`` during the pass.
4. The prototype distances of the head: the vectorised
   ``PrototypeLayer.distance_maps`` against a per-prototype Python loop on
   the same inputs (after checking that both agree).
5. Data loading of ActivityNet segments read from their untrimmed videos
   (``ActivityNetSegmentDataset``) against the same segments cut to files
   of their own, through the train and the test pipeline of
   ``configs/_base_/datasets/activitynet.py`` (``figure_segment_loading``;
   ``--segment-loading-only`` runs this figure alone).

The targets (CPU): CPG train step and inference <= 1.10 x I3DHead, the
projection pass <= 1.3 x the inference pass, the projection peak memory at
the largest N <= 1.05 x that at the smallest, segment loading <= 1.2 x
loading cut files. The table says PASS or MISS for each; ``--out`` writes
every figure, the times behind it and the machine to a JSON file.

The measurements live in ``tools/benchmarking/``: ``timing`` (interleaved
rounds, paired ratios), ``models`` (recognizers and synthetic clips),
``speed`` (figures 1, 2, 4), ``memory`` (figure 3), ``segments`` (figure 5)
and ``report``.
"""
import argparse
import gc
import json
import logging
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Tuple

import torch
from mmengine.logging import MMLogger

import hprotopnet_mm  # noqa: F401  (before mmaction.models)
from benchmarking.memory import figure_memory, memory_worker
from benchmarking.models import (DATASETS, MODEL_CONFIG, head_config,
                                 hierarchy_files, recognizer_config)
from benchmarking.report import machine_info, print_table
from benchmarking.segments import figure_segment_loading
from benchmarking.speed import (figure_distances, figure_projection,
                                figure_steps)
from mmaction.registry import MODELS
from mmaction.utils import register_all_modules

TARGETS = (
    ('train_step/ucf101/hproto_cpg', 1.10),
    ('train_step/activitynet/hproto_cpg', 1.10),
    ('inference/ucf101/hproto_cpg', 1.10),
    ('inference/activitynet/hproto_cpg', 1.10),
    ('projection_pass', 1.3),
    ('projection_peak_memory', 1.05),
    ('segment_loading/train', 1.2),
    ('segment_loading/test', 1.2),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Time and memory of the hierarchical prototype network '
        'as ratios to MMAction2\'s I3DHead (see the module docstring)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--model-config',
        default=MODEL_CONFIG,
        help='config whose ``model`` is the recognizer without its head '
        '(default: configs/_base_/models/r3d18.py)')
    parser.add_argument('--out', help='write the results to this JSON file')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny sizes for a smoke test (slim backbone, 16x32x32 clips, '
        'one round, few clips); the figures mean nothing')
    parser.add_argument('--repeats', type=int, help='timed rounds (7)')
    parser.add_argument('--warmup', type=int, help='untimed rounds (1)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument(
        '--clip',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='clip size (16 112 112)')
    parser.add_argument(
        '--base-channels', type=int, help='backbone width (64)')
    parser.add_argument(
        '--projection-clips', type=int, help='N of figure 2 (8)')
    parser.add_argument(
        '--memory-clips',
        type=int,
        nargs='+',
        help='clip counts of figure 3 (200 2000)')
    parser.add_argument(
        '--memory-repeats',
        type=int,
        help='fresh processes per clip count of figure 3 (3)')
    parser.add_argument(
        '--segment-videos',
        type=int,
        help='synthetic ActivityNet videos of figure 5 (4)')
    parser.add_argument(
        '--segment-video-seconds',
        type=float,
        help='their length in seconds (120)')
    parser.add_argument(
        '--segment-frame-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='their frame size (360 640, YouTube\'s 360p)')
    parser.add_argument(
        '--segment-loading-only',
        action='store_true',
        help='run figure 5 (segment loading) alone')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch threads (cpu: 1, see --clock; cuda: torch default)')
    parser.add_argument(
        '--clock',
        choices=['cpu', 'wall'],
        help='what the ratios compare: process CPU time (default on cpu) '
        'or wall time (default and only choice on cuda)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--memory-worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = dict(
        repeats=(1, 7),
        warmup=(1, 1),
        clip=((16, 32, 32), (16, 112, 112)),
        base_channels=(8, 64),
        projection_clips=(2, 8),
        memory_clips=((8, 32), (200, 2000)),
        memory_repeats=(1, 3),
        segment_videos=(2, 4),
        segment_video_seconds=(12.0, 120.0),
        segment_frame_size=((64, 64), (360, 640)))
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    for name in ('repeats', 'batch_size', 'base_channels', 'projection_clips',
                 'memory_repeats', 'segment_videos'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if len(args.memory_clips) < 2 or min(args.memory_clips) < 1:
        parser.error('--memory-clips needs at least two positive counts')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    if args.clock is None:
        args.clock = 'cpu' if args.device == 'cpu' else 'wall'
    if args.clock == 'cpu' and args.device == 'cuda':
        parser.error('--clock cpu: the process CPU time does not count the '
                     'work of the GPU; use --clock wall with --device cuda')
    if args.threads is None and args.device == 'cpu':
        args.threads = 1
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    return args


def model_figures(args, folder: str) -> Tuple[Dict, Dict, List[int]]:
    """Figures 1-4; returns them, the hierarchy files and the backbone's
    feature map shape."""
    files = {
        dataset: hierarchy_files(dataset, folder, args.seed)
        for dataset in DATASETS
    }
    print('figure 1: train step and inference', file=sys.stderr)
    figures = figure_steps(args, files)
    gc.collect()
    # The backbone's output for one clip gives the feature map size.
    backbone_cfg = recognizer_config(
        args.model_config,
        head_config('i3d', files['ucf101'], 101, args.base_channels * 8),
        args.base_channels)['backbone']
    torch.manual_seed(args.seed)
    backbone = MODELS.build(backbone_cfg).to(args.device)
    backbone.eval()  # ResNet3d.train returns None: no chaining
    with torch.no_grad():
        feature_shape = list(
            backbone(
                torch.zeros((1, 3) + tuple(args.clip),
                            device=args.device)).shape[1:])
    del backbone
    print('figure 2: projection pass', file=sys.stderr)
    figures.update(figure_projection(args, files['activitynet']))
    gc.collect()
    print('figure 3: projection memory', file=sys.stderr)
    figures['projection_peak_memory'] = figure_memory(args,
                                                      files['activitynet'],
                                                      feature_shape)
    print('figure 4: prototype distances', file=sys.stderr)
    figures['prototype_distances'] = figure_distances(args,
                                                      files['activitynet'],
                                                      feature_shape)
    return figures, files, feature_shape


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.memory_worker is not None:
        print(json.dumps(memory_worker(json.loads(args.memory_worker))))
        return
    register_all_modules()
    # The optimizer constructor logs every parameter of every model.
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        if args.segment_loading_only:
            figures, files, feature_shape = {}, {}, None
        else:
            figures, files, feature_shape = model_figures(args, folder)
        print('figure 5: segment loading', file=sys.stderr)
        figures.update(figure_segment_loading(args, folder))
    targets = []
    for name, limit in TARGETS:
        if name not in figures:
            continue
        ratio = figures[name]['ratio']
        targets.append(
            dict(
                figure=name,
                limit=limit,
                ratio=ratio,
                status='PASS' if ratio <= limit else 'MISS'))
    elapsed = time.perf_counter() - start
    machine = machine_info(args.device)
    print()
    print(f'machine: {machine["cpu"]}, {machine["cpu_count"]} CPUs, '
          f'{machine["torch_threads"]} torch threads, device {args.device}' +
          (f' ({machine["gpu"]})' if 'gpu' in machine else '') +
          f'; torch {machine["torch"]}')
    if feature_shape is not None:
        print(f'clips {args.batch_size} x 3 x '
              f'{"x".join(map(str, args.clip))}, base_channels '
              f'{args.base_channels}, feature map '
              f'{"x".join(map(str, feature_shape))}')
    print(f'median of {args.repeats} interleaved rounds after {args.warmup} '
          f'warm-up; ratio = median of per-round ratios of {args.clock} '
          'time' +
          (' (QUICK: sizes too small to mean anything)' if args.quick else ''))
    print()
    print_table(figures, targets)
    print()
    for target in targets:
        print(f'{target["status"]}: {target["figure"]} ratio '
              f'{target["ratio"]:.3f} (target <= {target["limit"]:.2f}, '
              'set for CPU)')
    print(f'\ntotal time {elapsed:.0f} s')
    if args.out:
        result = dict(
            machine=machine,
            settings=dict(
                quick=args.quick,
                repeats=args.repeats,
                warmup=args.warmup,
                batch_size=args.batch_size,
                clip=list(args.clip),
                base_channels=args.base_channels,
                feature_shape=feature_shape,
                projection_clips=args.projection_clips,
                memory_clips=list(args.memory_clips),
                memory_repeats=args.memory_repeats,
                threads=args.threads,
                clock=args.clock,
                seed=args.seed,
                embeddings={d: files[d]['embedding_source']
                            for d in files},
                segment_videos=args.segment_videos,
                segment_video_seconds=args.segment_video_seconds,
                segment_frame_size=list(args.segment_frame_size)),
            figures=figures,
            targets=targets,
            total_seconds=elapsed)
        folder = osp.dirname(osp.abspath(args.out))
        os.makedirs(folder, exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'results written to {args.out}')


if __name__ == '__main__':
    main()
