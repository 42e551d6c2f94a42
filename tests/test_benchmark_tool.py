"""tools/benchmark.py runs end to end at tiny sizes and writes every figure
as a positive finite ratio, with PASS/MISS for every target. No timing is
asserted: the quick sizes are far too small for the figures to mean
anything."""
import json
import math
import os.path as osp
import subprocess
import sys

import torch

from conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'benchmark.py')
FIGURES = {
    f'{stage}/{dataset}/{head}'
    for stage in ('train_step', 'inference')
    for dataset in ('ucf101', 'activitynet')
    for head in ('hproto', 'hproto_cpg')
} | {
    'projection_pass', 'projection_pass_batched', 'projection_peak_memory',
    'prototype_distances', 'segment_loading/train', 'segment_loading/test'
}
TARGETS = {
    'train_step/ucf101/hproto_cpg', 'train_step/activitynet/hproto_cpg',
    'inference/ucf101/hproto_cpg', 'inference/activitynet/hproto_cpg',
    'projection_pass', 'projection_peak_memory', 'segment_loading/train',
    'segment_loading/test'
}


def positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and \
        value > 0


def run_quick(tmp_path, *args):
    """Run the tool with --quick and ``args``; its process and results."""
    out = tmp_path / 'bench.json'
    run = subprocess.run(
        [sys.executable, TOOL, '--quick', '--out',
         str(out), *args],
        capture_output=True,
        text=True,
        cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    return run, json.loads(out.read_text())


def test_quick_run_writes_every_figure(tmp_path):
    run, result = run_quick(tmp_path)

    figures = result['figures']
    assert set(figures) == FIGURES
    for name, figure in figures.items():
        assert positive_finite(figure['ratio']), (name, figure['ratio'])
        assert positive_finite(figure['value']), name
        assert positive_finite(figure['baseline_value']), name
        assert figure['unit'] in ('s', 'KiB'), name
    for name in FIGURES - {'projection_peak_memory'}:
        ratios = figures[name]['ratios']
        assert len(ratios) == result['settings']['repeats'], name
        assert all(positive_finite(r) for r in ratios), name

    # Prototype counts of the two hierarchies: 10 per leaf (101 + 25 and
    # 200 + 44 nodes), and 10 per ancestor as well with CPG.
    assert figures['train_step/ucf101/hproto']['num_prototypes'] == 1010
    assert figures['train_step/ucf101/hproto_cpg']['num_prototypes'] == 1260
    assert figures['inference/activitynet/hproto']['num_prototypes'] == 2000
    assert figures['inference/activitynet/hproto_cpg'][
        'num_prototypes'] == 2440

    memory = figures['projection_peak_memory']
    assert set(memory['runs']) == {
        str(n)
        for n in result['settings']['memory_clips']
    }
    for runs in memory['runs'].values():
        assert all(r['peak_kb'] >= r['before_kb'] > 0 for r in runs)
    assert 0 <= figures['prototype_distances']['relative_difference'] < 1e-4
    # 2 synthetic videos, each segment once per round from each source
    for stage in ('train', 'test'):
        segments = figures[f'segment_loading/{stage}']
        assert segments['num_videos'] == 2
        assert segments['num_segments'] >= 2
        assert segments['build_seconds'] > 0

    assert {t['figure'] for t in result['targets']} == TARGETS
    for target in result['targets']:
        assert target['status'] == ('PASS' if target['ratio']
                                    <= target['limit'] else 'MISS')
        assert f'{target["status"]}: {target["figure"]} ratio' in run.stdout
    assert result['settings']['quick'] is True
    assert result['machine']['cpu_count'] >= 1
    assert result['total_seconds'] > 0


def test_naive_loop_matches_the_prototype_layer():
    """The reference loop of the distance figure is itself right: it equals
    a direct patch-by-patch computation on a prototype wider than 1x1x1."""
    sys.path.insert(0, osp.dirname(TOOL))
    try:
        from benchmarking.speed import naive_distance_maps
    finally:
        sys.path.remove(osp.dirname(TOOL))
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(2, 3, 4, 3, 3, generator=generator)
    prototypes = torch.randn(5, 3, 2, 2, 1, generator=generator)
    maps = naive_distance_maps(z, prototypes)
    assert maps.shape == (2, 5, 3, 2, 3)
    b, p, t, h, w = 1, 4, 2, 1, 2
    patch = z[b, :, t:t + 2, h:h + 2, w:w + 1]
    expected = (patch - prototypes[p]).pow(2).sum()
    assert torch.allclose(maps[b, p, t, h, w], expected)


def test_segment_loading_alone(tmp_path):
    run, result = run_quick(tmp_path, '--segment-loading-only')
    assert set(result['figures']) == {
        'segment_loading/train', 'segment_loading/test'
    }
    assert {t['figure'] for t in result['targets']} == set(result['figures'])
    assert 'figure 1' not in run.stderr
