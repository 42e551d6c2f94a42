"""Cost of the hierarchical prototype network against MMAction2's I3DHead.

    python tools/benchmark.py [--device cpu|cuda] [--out FILE.json] [--quick]
        [--model-config configs/_base_/models/r3d18.py] [--repeats 7] [--warmup 1] [--batch-size 2] [--clip 16 112 112]
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
   (or ``--model-config``) and a HierarchicalProtoHead (leaf prototypes only, and CPG: prototypes for
   leaves and ancestors), against the same recognizer with I3DHead, at
   UCF-101 size (101 leaves, 25 ancestors) and ActivityNet size (200, 44),
   on batches of real ``ActionDataSample``s. Every model uses the optimizer
   of ``configs/_base_/schedules/hproto.py``.
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
loading cut files. The table says PASS or MISS
for each; ``--out`` writes every figure, the times behind it and the
machine to a JSON file.
"""
import argparse
import copy
import gc
import itertools
import json
import logging
import math
import os
import os.path as osp
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import hprotopnet_mm  # noqa: F401  (before mmaction.models)
from hprotopnet_mm.datasets import (SYNTHETIC_TAXONOMY, SyntheticVideo,
                                    segment_frame_range,
                                    write_synthetic_activitynet)
from hprotopnet_mm.datasets.synthetic_activitynet import (frame_code_frames,
                                                          write_frames)
from hprotopnet_mm.datasets.activitynet_dataset import DEFAULT_LABEL_MAP
from hprotopnet_mm.engine.projection import project_prototypes
from hprotopnet_mm.hierarchy import (HIERARCHY_FILES_DIR, ClassHierarchy,
                                     HyperbolicEmbedding, save_embedding)
from mmaction.registry import DATASETS as DATASET_REGISTRY
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import register_all_modules

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODEL_CONFIG_DIR = osp.join(REPO_ROOT, 'configs', '_base_', 'models')
MODEL_CONFIG = osp.join(MODEL_CONFIG_DIR, 'r3d18.py')
SCHEDULE_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'schedules',
                           'hproto.py')
DATASETS = ('ucf101', 'activitynet')
HEADS = ('i3d', 'hproto', 'hproto_cpg')
HEAD_NAMES = dict(
    i3d='I3DHead',
    hproto='HierarchicalProtoHead',
    hproto_cpg='HierarchicalProtoHead CPG')
# Embedding settings of the shipped files (tools/embed_hierarchy.py
# defaults); used for random stand-ins when a file is not there.
EMBEDDING_DIM = 300
EMBEDDING_CURVATURE = 0.02
PROJECTION_BATCH_SIZE = 8
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


class FeatureMapInput(nn.Module):
    """Backbone stand-in whose inputs already are backbone feature maps."""

    def forward(self, x: Tensor) -> Tensor:
        return x


MODELS.register_module(module=FeatureMapInput, force=True)


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


# ---------------------------------------------------------------- timing


def synchronize(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def interleaved_times(fns: Dict[str, Callable[[], object]], warmup: int,
                      repeats: int, device: str,
                      label: str) -> Dict[str, Dict[str, List[float]]]:
    """Wall and CPU times of every function, interleaved.

    Each round calls every function once, in the given order on even rounds
    and in reverse on odd ones. The first ``warmup`` rounds are not kept.
    The CPU time is the process's (all threads, ``time.process_time``).

    Returns:
        dict: name -> ``dict(wall=[...], cpu=[...])``, seconds per kept
        round.
    """
    names = list(fns)
    times = {name: dict(wall=[], cpu=[]) for name in names}
    for round_index in range(warmup + repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            synchronize(device)
            wall, cpu = time.perf_counter(), time.process_time()
            fns[name]()
            synchronize(device)
            if round_index >= warmup:
                times[name]['wall'].append(time.perf_counter() - wall)
                times[name]['cpu'].append(time.process_time() - cpu)
        kind = 'warm-up' if round_index < warmup else 'round'
        number = round_index + 1 if round_index < warmup else \
            round_index - warmup + 1
        print(f'  {label}: {kind} {number} done', file=sys.stderr, flush=True)
    return times


def paired_figure(times: Dict[str, Dict[str, List[float]]], name: str,
                  reference: str, clock: str, **extra) -> Dict:
    """Median of the per-round ratios ``times[name] / times[reference]``
    on ``clock`` ('cpu' or 'wall'); the other clock's ratio and times are
    kept as ``wall_ratio``/``wall_values``... (or ``cpu_...``) for
    comparison."""

    def ratios(which: str) -> List[float]:
        return [
            a / b for a, b in zip(times[name][which], times[reference][which])
        ]

    figure = dict(
        ratio=statistics.median(ratios(clock)),
        clock=clock,
        ratios=ratios(clock),
        value=statistics.median(times[name][clock]),
        baseline_value=statistics.median(times[reference][clock]),
        unit='s',
        values=times[name][clock],
        baseline_values=times[reference][clock])
    other = 'wall' if clock == 'cpu' else 'cpu'
    figure[f'{other}_ratio'] = statistics.median(ratios(other))
    figure[f'{other}_values'] = times[name][other]
    figure[f'{other}_baseline_values'] = times[reference][other]
    figure.update(extra)
    return figure


def scale_times(times: Dict[str, Dict[str, List[float]]],
                calls: Dict[str, int]) -> Dict[str, Dict[str, List[float]]]:
    """Times per call of functions that ran ``calls[name]`` times."""
    return {
        name: {
            clock: [t / calls[name] for t in values]
            for clock, values in clocks.items()
        }
        for name, clocks in times.items()
    }


# ---------------------------------------------------------------- models


def hierarchy_files(dataset: str, folder: str, seed: int) -> Dict[str, str]:
    """Hierarchy, label map and embedding file of a dataset.

    The shipped embedding when it is there; otherwise random points of a
    ball of the shipped files' dimension and curvature, written to
    ``folder`` (the cost of the head does not depend on where the points
    are).
    """
    hierarchy_file = osp.join(HIERARCHY_FILES_DIR, f'{dataset}_hierarchy.csv')
    label_map_file = osp.join(HIERARCHY_FILES_DIR, f'{dataset}_label_map.txt')
    embedding_file = osp.join(HIERARCHY_FILES_DIR,
                              f'{dataset}_embedding_d{EMBEDDING_DIM}.pth')
    source = 'shipped'
    if not osp.isfile(embedding_file):
        hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map_file)
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(
            hierarchy.num_nodes, EMBEDDING_DIM, generator=generator)
        radius = (0.2 + 0.7 *
                  torch.rand(hierarchy.num_nodes, 1, generator=generator)
                  ) / math.sqrt(EMBEDDING_CURVATURE)
        points = direction / direction.norm(dim=1, keepdim=True) * radius
        embedding_file = osp.join(folder, f'{dataset}_random.pth')
        save_embedding(
            embedding_file,
            HyperbolicEmbedding.from_hierarchy(
                hierarchy, points, EMBEDDING_CURVATURE,
                dict(source='random points for benchmarking')))
        source = 'random points (shipped file missing)'
    return dict(
        hierarchy_file=hierarchy_file,
        label_map_file=label_map_file,
        embedding_file=embedding_file,
        embedding_source=source)


def head_config(head: str, files: Dict[str, str], num_classes: int,
                in_channels: int) -> Dict:
    """Config of the classification head ``head`` (one of ``HEADS``): the
    head of the project's model config, sized for the dataset. Both heads
    average clip probabilities, so inference compares like with like."""
    name = 'r3d18_i3dhead.py' if head == 'i3d' else 'r3d18_hproto.py'
    cfg = Config.fromfile(osp.join(MODEL_CONFIG_DIR, name)).model.cls_head
    cfg.update(
        num_classes=num_classes, in_channels=in_channels,
        average_clips='prob')
    if head != 'i3d':
        cfg.update(
            hierarchy_file=files['hierarchy_file'],
            label_map_file=files['label_map_file'],
            embedding_file=files['embedding_file'],
            num_prototypes_per_class=10,
            num_prototypes_per_ancestor=10 if head == 'hproto_cpg' else 0)
    return cfg.to_dict()


def recognizer_config(model_config: str, head_cfg: Dict,
                      base_channels: int) -> Dict:
    """The recognizer of ``model_config`` (by default the R3D-18 of
    ``configs/_base_/models/r3d18.py``) with the given head and width."""
    cfg = copy.deepcopy(Config.fromfile(model_config).model.to_dict())
    cfg['backbone']['base_channels'] = base_channels
    cfg['cls_head'] = head_cfg
    return cfg


def build_model(cfg: Dict, device: str, seed: int) -> nn.Module:
    """Build from the registry; the same seed gives the same backbone."""
    torch.manual_seed(seed)
    return MODELS.build(copy.deepcopy(cfg)).to(device)


def synthetic_samples(indices: Sequence[int],
                      num_classes: int) -> List[ActionDataSample]:
    samples = []
    for index in indices:
        sample = ActionDataSample()
        sample.set_gt_label(index % num_classes)
        sample.set_metainfo(dict(filename=f'synthetic_{index:05d}'))
        samples.append(sample)
    return samples


class SyntheticClips(Dataset):
    """N deterministic random clips (uint8, as decoded videos) or backbone
    feature maps (non-negative float32), packed like MMAction2's
    ``PackActionInputs`` output: ``inputs`` (1, C, T, H, W) and a data
    sample with a label and a file name."""

    def __init__(self, num_clips: int, shape: Sequence[int], num_classes: int,
                 features: bool, seed: int) -> None:
        self.num_clips = num_clips
        self.shape = (1, ) + tuple(shape)
        self.num_classes = num_classes
        self.features = features
        self.seed = seed

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> Dict:
        generator = torch.Generator().manual_seed(self.seed + index)
        if self.features:
            inputs = torch.randn(self.shape, generator=generator).relu_()
        else:
            inputs = torch.randint(
                0, 256, self.shape, dtype=torch.uint8, generator=generator)
        return dict(
            inputs=inputs,
            data_samples=synthetic_samples([index], self.num_classes)[0])


def clip_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=pseudo_collate)


# ---------------------------------------------------------------- figures


def figure_steps(args, files: Dict[str, Dict[str, str]]) -> Dict[str, Dict]:
    """Figure 1: train step and inference, prototype heads vs I3DHead."""
    in_channels = args.base_channels * 8
    schedule = Config.fromfile(SCHEDULE_CONFIG)
    inputs = [
        torch.randint(
            0,
            256, (1, 3) + tuple(args.clip),
            dtype=torch.uint8,
            generator=torch.Generator().manual_seed(args.seed + i))
        for i in range(args.batch_size)
    ]
    models, wrappers, num_classes = {}, {}, {}
    for dataset in DATASETS:
        hierarchy = ClassHierarchy.from_files(files[dataset]['hierarchy_file'],
                                              files[dataset]['label_map_file'])
        for head in HEADS:
            key = f'{dataset}/{head}'
            cfg = recognizer_config(
                args.model_config,
                head_config(head, files[dataset], hierarchy.num_leaves,
                            in_channels), args.base_channels)
            models[key] = build_model(cfg, args.device, args.seed)
            wrappers[key] = build_optim_wrapper(
                models[key], copy.deepcopy(schedule.optim_wrapper))
            num_classes[key] = hierarchy.num_leaves

    def batch(key: str) -> Dict:
        # Fresh dict and samples: the preprocessor and predict write to them.
        return dict(
            inputs=list(inputs),
            data_samples=synthetic_samples(
                range(args.batch_size), num_classes[key]))

    def train_step(key: str) -> Callable[[], object]:

        def run():
            models[key].train()
            return models[key].train_step(batch(key), wrappers[key])

        return run

    def inference(key: str) -> Callable[[], object]:

        def run():
            models[key].eval()
            with torch.no_grad():
                return models[key].test_step(batch(key))

        return run

    figures = {}
    for stage, make in (('train_step', train_step), ('inference', inference)):
        times = interleaved_times({key: make(key)
                                   for key in models}, args.warmup,
                                  args.repeats, args.device, stage)
        for dataset in DATASETS:
            for head in HEADS[1:]:
                key = f'{dataset}/{head}'
                figures[f'{stage}/{key}'] = paired_figure(
                    times,
                    key,
                    f'{dataset}/i3d',
                    args.clock,
                    what=f'{stage.replace("_", " ")}, {dataset} size, '
                    f'{HEAD_NAMES[head]}',
                    baseline=f'{HEAD_NAMES["i3d"]}',
                    num_prototypes=models[key].cls_head.num_prototypes)
    return figures


def figure_projection(args, files: Dict[str, str]) -> Dict:
    """Figure 2: projection pass vs inference pass, same model and clips."""
    hierarchy = ClassHierarchy.from_files(files['hierarchy_file'],
                                          files['label_map_file'])
    cfg = recognizer_config(
        args.model_config,
        head_config('hproto_cpg', files, hierarchy.num_leaves,
                    args.base_channels * 8), args.base_channels)
    model = build_model(cfg, args.device, args.seed)
    model.eval()
    loader = clip_loader(
        SyntheticClips(args.projection_clips, (3, ) + tuple(args.clip),
                       hierarchy.num_leaves, False, args.seed),
        args.batch_size)

    def inference_pass():
        with torch.no_grad():
            for data_batch in loader:
                model.test_step(data_batch)

    def projection_pass(clips_per_forward: int) -> Callable[[], object]:
        return lambda: project_prototypes(
            model, loader, clips_per_forward=clips_per_forward, progress=False)

    times = interleaved_times(
        dict(
            projection=projection_pass(1),
            projection_batched=projection_pass(args.batch_size),
            inference=inference_pass), args.warmup, args.repeats, args.device,
        'projection')
    what = (f'projection pass over {args.projection_clips} clips, '
            'activitynet size CPG')
    common = dict(
        baseline=f'inference pass over the same clips, batch size '
        f'{args.batch_size}',
        num_clips=args.projection_clips,
        batch_size=args.batch_size)
    return {
        'projection_pass':
        paired_figure(
            times,
            'projection',
            'inference',
            args.clock,
            what=what + ', one clip per forward (the default)',
            **common),
        'projection_pass_batched':
        paired_figure(
            times,
            'projection_batched',
            'inference',
            args.clock,
            what=what + f', {args.batch_size} clips per forward',
            **common),
    }


def read_status_kb(field: str) -> int:
    """A memory field (kB) of ``/proc/self/status``."""
    with open('/proc/self/status') as f:
        match = re.search(rf'^{field}:\s+(\d+) kB', f.read(), re.M)
    if match is None:
        raise RuntimeError(f'/proc/self/status has no {field} line')
    return int(match.group(1))


def reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current resident set size (Linux)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def memory_worker(spec: Dict) -> Dict:
    """Figure 3 in a fresh process: memory of one projection pass.

    Args:
        spec (dict): ``num_clips``, ``feature_shape`` (C, T, H, W),
            ``files`` (of the dataset), ``device``, ``seed``.

    Returns:
        dict: ``peak_kb``, the peak resident set size during the pass,
        ``before_kb``, the resident set size before it, ``pass_kb``, their
        difference; on CUDA also ``cuda_peak_kb``, ``cuda_before_kb`` and
        ``cuda_pass_kb``, the same for the memory allocated by PyTorch on
        the device.
    """
    register_all_modules()
    files, device = spec['files'], spec['device']
    hierarchy = ClassHierarchy.from_files(files['hierarchy_file'],
                                          files['label_map_file'])
    cfg = dict(
        type='Recognizer3D',
        backbone=dict(type='FeatureMapInput'),
        cls_head=head_config('hproto_cpg', files, hierarchy.num_leaves,
                             spec['feature_shape'][0]),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
    model = build_model(cfg, device, spec['seed'])

    def loader(num_clips: int) -> DataLoader:
        return clip_loader(
            SyntheticClips(num_clips, spec['feature_shape'],
                           hierarchy.num_leaves, True, spec['seed']),
            PROJECTION_BATCH_SIZE)

    # A short pass first, so that state allocated on first use (thread
    # pools, kernels) is there for every N alike.
    project_prototypes(
        model, loader(2 * PROJECTION_BATCH_SIZE), progress=False)
    measured = loader(spec['num_clips'])
    gc.collect()
    synchronize(device)
    result = dict(num_clips=spec['num_clips'])
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        result['cuda_before_kb'] = torch.cuda.memory_allocated() / 1024
    result['before_kb'] = read_status_kb('VmRSS')
    reset_peak_rss()
    projected = project_prototypes(model, measured, progress=False)
    synchronize(device)
    result['peak_kb'] = read_status_kb('VmHWM')
    result['pass_kb'] = result['peak_kb'] - result['before_kb']
    if device == 'cuda':
        result['cuda_peak_kb'] = torch.cuda.max_memory_allocated() / 1024
        result['cuda_pass_kb'] = result['cuda_peak_kb'] - \
            result['cuda_before_kb']
    if spec['num_clips'] >= hierarchy.num_leaves and not bool(
            projected.found.all()):
        raise RuntimeError(
            f'projection over {spec["num_clips"]} clips, which cover every '
            f'class, left prototypes {projected.missing} without a patch')
    return result


def run_memory_worker(spec: Dict) -> Dict:
    """Run :func:`memory_worker` in a fresh Python process."""
    command = [
        sys.executable,
        osp.abspath(__file__), '--device', spec['device'], '--memory-worker',
        json.dumps(spec)
    ]
    if spec['threads'] is not None:
        command += ['--threads', str(spec['threads'])]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(
            f'the memory measurement for {spec["num_clips"]} clips failed '
            f'(exit {out.returncode}):\n{out.stderr[-4000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def figure_memory(args, files: Dict[str, str],
                  feature_shape: Sequence[int]) -> Dict:
    """Figure 3: projection peak memory at the largest vs smallest N."""
    if not osp.exists('/proc/self/clear_refs'):
        raise RuntimeError(
            'the memory figure reads and resets the peak resident set size '
            'through /proc/self/status and /proc/self/clear_refs (Linux); '
            'this system has neither')
    counts = list(args.memory_clips)
    runs = {n: [] for n in counts}
    for round_index in range(args.memory_repeats):
        order = counts if round_index % 2 == 0 else counts[::-1]
        for n in order:
            runs[n].append(
                run_memory_worker(
                    dict(
                        num_clips=n,
                        feature_shape=list(feature_shape),
                        files=files,
                        device=args.device,
                        threads=args.threads,
                        seed=args.seed)))
        print(
            f'  memory: round {round_index + 1} done',
            file=sys.stderr,
            flush=True)
    prefix = 'cuda_' if args.device == 'cuda' else ''
    small, large = min(counts), max(counts)

    def median(n: int, key: str) -> float:
        return statistics.median(r[prefix + key] for r in runs[n])

    value, baseline = median(large, 'peak_kb'), median(small, 'peak_kb')
    channels, cells = feature_shape[0], math.prod(feature_shape[1:])
    return dict(
        ratio=value / baseline,
        value=value,
        baseline_value=baseline,
        unit='KiB',
        what=f'projection peak memory, {large} clips, activitynet size CPG',
        baseline=f'the same with {small} clips',
        measure=('peak memory allocated by PyTorch on the device during the '
                 'pass' if args.device == 'cuda' else
                 'peak resident set size (VmHWM, reset just before the '
                 'pass) during the pass, a fresh process per run'),
        # Diagnostics: what the pass adds to the memory held before it
        # (allocator noise of a few MiB on CPU), and how much the peak grows
        # per extra clip, to compare with the size of one clip's features.
        pass_kb={str(n): median(n, 'pass_kb')
                 for n in counts},
        growth_per_clip_kb=(value - baseline) / (large - small),
        backbone_features_per_clip_kb=channels * cells * 4 / 1024,
        feature_shape=list(feature_shape),
        batch_size=PROJECTION_BATCH_SIZE,
        runs={str(n): runs[n]
              for n in counts})


def naive_distance_maps(z: Tensor, prototypes: Tensor) -> Tensor:
    """Squared L2 distances, one prototype at a time in a Python loop.

    Args:
        z (Tensor): Features, shape (B, C, T, H, W).
        prototypes (Tensor): Shape (P, C, t, h, w).

    Returns:
        Tensor: Shape (B, P, T - t + 1, H - h + 1, W - w + 1).
    """
    t, h, w = prototypes.shape[2:]
    # (B, C, T', H', W', t, h, w)
    windows = z.unfold(2, t, 1).unfold(3, h, 1).unfold(4, w, 1)
    maps = []
    for prototype in prototypes:
        diff = windows - prototype[None, :, None, None, None]
        maps.append(diff.pow(2).sum(dim=(1, 5, 6, 7)))
    return torch.stack(maps, dim=1)


def per_call(fn: Callable[[], object], seconds: float,
             device: str) -> Tuple[Callable[[], None], int]:
    """``fn`` repeated enough times to take about ``seconds``, so that the
    timer resolution and call jitter do not dominate; returns the number of
    calls with the callable (time / calls = time per call)."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    calls = max(1, math.ceil(seconds / max(time.perf_counter() - start, 1e-9)))

    def run():
        for _ in range(calls):
            fn()

    return run, calls


def figure_distances(args, files: Dict[str, str],
                     feature_shape: Sequence[int]) -> Dict:
    """Figure 4: vectorised prototype distances vs a per-prototype loop."""
    hierarchy = ClassHierarchy.from_files(files['hierarchy_file'],
                                          files['label_map_file'])
    torch.manual_seed(args.seed)
    head = MODELS.build(
        head_config('hproto_cpg', files, hierarchy.num_leaves,
                    feature_shape[0])).to(args.device)
    layer = head.prototype_layer
    generator = torch.Generator().manual_seed(args.seed)
    z = torch.randn(
        (args.batch_size, head.proto_channels) + tuple(feature_shape[1:]),
        generator=generator).relu_().to(args.device)
    prototypes = layer.prototype_vectors.detach()
    with torch.no_grad():
        fast = layer.distance_maps(z)
        slow = naive_distance_maps(z, prototypes)
    error = (fast - slow).abs().max().item() / slow.abs().max().item()
    if fast.shape != slow.shape or not error < 1e-4:
        raise RuntimeError(
            f'PrototypeLayer.distance_maps disagrees with the per-prototype '
            f'loop: shapes {tuple(fast.shape)} and {tuple(slow.shape)}, '
            f'largest difference {error:.3g} of the largest distance')
    seconds = 0.01 if args.quick else 0.2
    with torch.no_grad():
        vectorised, vectorised_calls = per_call(lambda: layer.distance_maps(z),
                                                seconds, args.device)
        loop, loop_calls = per_call(lambda: naive_distance_maps(z, prototypes),
                                    seconds, args.device)
        times = interleaved_times(
            dict(vectorised=vectorised, loop=loop), args.warmup, args.repeats,
            args.device, 'distances')
    times = scale_times(times,
                        dict(vectorised=vectorised_calls, loop=loop_calls))
    return paired_figure(
        times,
        'vectorised',
        'loop',
        args.clock,
        what=f'PrototypeLayer.distance_maps, {head.num_prototypes} '
        f'prototypes, z {tuple(z.shape)}',
        baseline='per-prototype Python loop, same inputs',
        relative_difference=error)


# ---------------------------------------------------------------- data loading

ACTIVITYNET_DATA_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                                   'activitynet.py')


def synthetic_activitynet_videos(args) -> list:
    """Videos of ``--segment-video-seconds`` at 30 fps (ActivityNet's mean
    length is about two minutes) with 1, 2 or 3 segments (probabilities
    0.6, 0.3, 0.1: 1.5 per video, as in ActivityNet), each of 10-60 s
    (at most its share of the video), in the order of the video."""
    names = {n['parentId'] for n in SYNTHETIC_TAXONOMY}
    labels = [n['nodeName'] for n in SYNTHETIC_TAXONOMY
              if n['nodeId'] not in names]
    rng = random.Random(args.seed)
    videos = []
    for index in range(args.segment_videos):
        seconds = args.segment_video_seconds
        count = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        slot = seconds / count
        segments = []
        for k in range(count):
            length = min(rng.uniform(10, 60), 0.9 * slot)
            start = k * slot + rng.uniform(0, slot - length)
            segments.append((round(start, 2), round(start + length, 2),
                             rng.choice(labels)))
        videos.append(
            SyntheticVideo(f'video{index:03d}', round(seconds * 30), 30.0,
                           tuple(segments)))
    return videos


def every_sample_loader(dataset, seed: int) -> Callable[[], None]:
    """A function that runs the pipeline on every sample of ``dataset``;
    its k-th call seeds numpy with ``seed + k`` (random clips differ from
    round to round, and two loaders called once per round see the same
    seeds)."""
    calls = itertools.count(seed)

    def load() -> None:
        np.random.seed(next(calls))
        for index in range(len(dataset)):
            dataset[index]

    return load


def figure_segment_loading(args, folder: str) -> Dict[str, Dict]:
    """Figure 5: loading every segment of a synthetic ActivityNet from the
    untrimmed videos (``ActivityNetSegmentDataset``) against loading the
    same segments cut to files of their own (``CheckedVideoDataset`` over a
    list of the cut files), both through the ActivityNet config's train and
    test pipelines, with the same random state in a round. A cut file holds
    frames ``[first, stop)`` of its segment, rendered from the same scene
    and written with the same encoder and frame rate as the videos (the
    same bits per frame; its keyframes restart at the cut, as after any
    cut that re-encodes)."""
    height, width = args.segment_frame_size
    videos = synthetic_activitynet_videos(args)
    anet = write_synthetic_activitynet(
        osp.join(folder, 'activitynet'), videos, height=height, width=width)
    class_names = ClassHierarchy.read_label_map(DEFAULT_LABEL_MAP)
    cut_dir = osp.join(folder, 'cut_segments')
    os.makedirs(cut_dir)
    lines = []
    for number, video in enumerate(videos):
        for k, (start, end, label) in enumerate(video.segments):
            first, stop, _ = segment_frame_range(start, end, video.fps,
                                                 video.num_frames)
            cut = osp.join(cut_dir, f'{video.video_id}_{k}.mp4')
            write_frames(
                cut,
                frame_code_frames(
                    stop - first, height, width, seed=number, first=first),
                video.fps)
            lines.append(f'{cut} {class_names.index(label)}')
    cut_list = osp.join(folder, 'cut_segments.txt')
    with open(cut_list, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    data_cfg = Config.fromfile(ACTIVITYNET_DATA_CONFIG)
    figures, build_seconds = {}, None
    for stage in ('train', 'test'):
        pipeline = data_cfg[f'{stage}_pipeline']
        start = time.process_time()
        segments = DATASET_REGISTRY.build(
            dict(
                type='ActivityNetSegmentDataset',
                ann_file=anet.ann_file,
                data_prefix=dict(video=anet.video_dir),
                pipeline=pipeline,
                progress=False))
        if build_seconds is None:  # the first build opens every video
            build_seconds = time.process_time() - start
        cut = DATASET_REGISTRY.build(
            dict(
                type='CheckedVideoDataset',
                ann_file=cut_list,
                pipeline=pipeline,
                progress=False))
        if len(segments) != len(cut):
            raise RuntimeError(f'{len(segments)} segments but {len(cut)} '
                               'cut files')
        times = interleaved_times(
            dict(
                segments=every_sample_loader(segments, args.seed),
                cut_files=every_sample_loader(cut, args.seed)),
            args.warmup, args.repeats, 'cpu', f'segment loading ({stage})')
        figures[f'segment_loading/{stage}'] = paired_figure(
            times,
            'segments',
            'cut_files',
            args.clock,
            what=f'{stage} pipeline over {len(segments)} segments of '
            f'{len(videos)} videos ({args.segment_video_seconds:g} s, '
            f'{width}x{height}, 30 fps) read from the videos',
            baseline='the same segments cut to files of their own',
            num_segments=len(segments),
            num_videos=len(videos),
            build_seconds=build_seconds)
    return figures


# ---------------------------------------------------------------- report


def machine_info(device: str) -> Dict:
    model_name = None
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True)
        match = re.search(r'^Model name:\s*(.+)$', out.stdout, re.M)
        model_name = match.group(1).strip() if match else None
    except FileNotFoundError:
        pass  # no lscpu: fall back to the platform string below
    info = dict(
        cpu=model_name or platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        device=device,
        python=platform.python_version(),
        torch=torch.__version__,
        platform=f'{platform.system()} {platform.release()}')
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    return info


def format_value(value: float, unit: str) -> str:
    if unit == 's':
        return f'{value * 1e3:.2f} ms' if value < 1 else f'{value:.3f} s'
    return f'{value / 1024:.2f} MiB'


def print_table(figures: Dict[str, Dict], targets: List[Dict]) -> None:
    limits = {t['figure']: t for t in targets}
    rows = [('figure', 'value', 'baseline', 'ratio', 'wall ratio', 'target',
             'status')]
    for name, figure in figures.items():
        target = limits.get(name)
        wall = figure.get('wall_ratio')
        rows.append((name, format_value(figure['value'], figure['unit']),
                     format_value(figure['baseline_value'],
                                  figure['unit']), f'{figure["ratio"]:.3f}',
                     '-' if wall is None else f'{wall:.3f}',
                     f'<= {target["limit"]:.2f}' if target else '-',
                     target['status'] if target else '-'))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print('  '.join(cell.ljust(width) for cell, width in zip(row, widths)))
        if i == 0:
            print('  '.join('-' * width for width in widths))
    print()
    for name, figure in figures.items():
        print(f'{name}: {figure["what"]} / {figure["baseline"]}')


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
    figures['projection_peak_memory'] = figure_memory(
        args, files['activitynet'], feature_shape)
    print('figure 4: prototype distances', file=sys.stderr)
    figures['prototype_distances'] = figure_distances(
        args, files['activitynet'], feature_shape)
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
