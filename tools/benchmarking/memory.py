"""Figure 3 of the benchmark: peak memory of the projection pass over many
clips against few, each count measured in a fresh process."""
import gc
import json
import math
import os.path as osp
import re
import statistics
import subprocess
import sys
from typing import Dict, Sequence

import torch
from torch.utils.data import DataLoader

from hprotopnet_mm.engine.projection import project_prototypes
from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.utils import register_all_modules
from .models import SyntheticClips, build_model, clip_loader, head_config
from .timing import synchronize

#: The benchmark tool; a memory worker runs it with ``--memory-worker``.
TOOL = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'benchmark.py')
PROJECTION_BATCH_SIZE = 8


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
        sys.executable, TOOL, '--device', spec['device'], '--memory-worker',
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
