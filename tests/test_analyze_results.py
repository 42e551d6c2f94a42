"""tools/analyze_results.py on a result dump written like DumpResults."""
import importlib.util
import json
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

import hprotopnet_mm  # noqa: F401
from hprotopnet_mm.evaluation import format_metrics_table
from hprotopnet_mm.hierarchy import HIERARCHY_FILES_DIR, ClassHierarchy
from mmaction.structures import ActionDataSample

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TREE = osp.join(HIERARCHY_FILES_DIR, 'ucf101_hierarchy.csv')
LABELS = osp.join(HIERARCHY_FILES_DIR, 'ucf101_label_map.txt')
TOOL = osp.join(REPO, 'tools', 'analyze_results.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('analyze_results', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


analyze_results = _load_tool()


@pytest.fixture(scope='module')
def ucf():
    return ClassHierarchy.from_files(TREE, LABELS)


def _samples(ucf):
    """Recognizer outputs: 12 videos x 3 clips of random logits pushed
    toward the truth or a sibling, and 2 single-score videos."""
    generator = torch.Generator().manual_seed(0)
    hop = ucf.hop_distance
    samples = []
    for v in range(14):
        label = int(torch.randint(101, (1, ), generator=generator))
        siblings = torch.nonzero(hop[label] == 2).flatten()
        num_clips = 3 if v < 12 else 1
        scores = torch.randn(num_clips, 101, generator=generator)
        for c in range(num_clips):
            target = label if (v + c) % 3 else int(siblings[v % len(siblings)])
            scores[c, target] += 3.0
        sample = ActionDataSample()
        sample.set_gt_label(label)
        sample.set_pred_score(scores if v < 12 else scores[0])
        sample.set_metainfo(dict(filename=f'video_{v:02d}.avi'))
        samples.append(sample)
    return samples


def _metric_output(samples):
    init_default_scope('mmaction')
    evaluator = Evaluator(
        dict(
            type='HierarchicalAccuracy',
            hierarchy_file=TREE,
            label_map_file=LABELS))
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


def _write_dump(samples, path):
    # what DumpResults writes: the data-sample dicts, tensors on the CPU
    with open(path, 'wb') as f:
        pickle.dump([s.to_dict() for s in samples], f)


def test_dump_gives_the_metric_numbers_twice(tmp_path, ucf):
    samples = _samples(ucf)
    dump = str(tmp_path / 'results.pkl')
    _write_dump(samples, dump)
    args = [dump, '--hierarchy', TREE, '--label-map', LABELS]
    first = analyze_results.main(args + ['--out', str(tmp_path / 'a.json')])
    second = analyze_results.main(args + ['--out', str(tmp_path / 'b.json')])
    assert first == second
    assert (tmp_path / 'a.json').read_text() == (tmp_path /
                                                 'b.json').read_text()
    metric = _metric_output(samples)
    assert first == metric
    assert metric['hier/clip/num_samples'] == 12 * 3 + 2
    assert metric['hier/video_vote/num_samples'] == 14
    # the constructed clips are mostly right or a sibling
    assert 0 < metric['hier/clip/class_acc'] < 1
    assert metric['hier/clip/sibling_acc'] > metric['hier/clip/class_acc']

    written = json.loads((tmp_path / 'a.json').read_text())
    assert written.keys() == metric.keys()
    for key, value in metric.items():
        if np.isnan(value):
            assert written[key] is None
        else:
            assert written[key] == value


def test_default_json_path_and_command_line(tmp_path, ucf):
    dump = str(tmp_path / 'run.pkl')
    _write_dump(_samples(ucf), dump)
    png = tmp_path / 'confusion.png'
    proc = subprocess.run([
        sys.executable, TOOL, dump, '--hierarchy', TREE, '--label-map', LABELS,
        '--confusion',
        str(png)
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert 'hier/video_vote' in proc.stdout
    assert 'sibling_acc' in proc.stdout
    assert (tmp_path / 'run_hier_metrics.json').is_file()
    assert png.stat().st_size > 10_000
    import matplotlib.image as mpimg
    image = mpimg.imread(str(png))
    assert image.shape[0] > 400 and image.shape[1] > 400


def test_level_confusion_matrix_by_hand(ucf):
    node = ucf.node_id
    leaf = {
        n: node(n, level=0)
        for n in ('ApplyEyeMakeup', 'ApplyLipstick', 'Hammering', 'Archery')
    }
    # true ApplyEyeMakeup predicted as itself, a sibling, a cousin
    # (Working) and Archery (Target Sports)
    labels = np.array([leaf['ApplyEyeMakeup']] * 4 + [leaf['Archery']])
    pred = np.array([
        leaf['ApplyEyeMakeup'], leaf['ApplyLipstick'], leaf['Hammering'],
        leaf['Archery'], leaf['Archery']
    ])
    counts, names, node_ids = analyze_results.level_confusion_matrix(
        pred, labels, ucf, level=1)
    assert counts.shape == (20, 20) and len(names) == 20
    assert names == [ucf.node_names[i] for i in node_ids]
    # parents under one grandparent are adjacent
    grandparents = ucf.parent[node_ids].tolist()
    blocks = [
        g for i, g in enumerate(grandparents)
        if i == 0 or g != grandparents[i - 1]
    ]
    assert sorted(blocks) == sorted(set(grandparents)) and len(blocks) == 5
    assert counts.sum() == 5
    col = {
        n: names.index(n)
        for n in ('Self-grooming', 'Working', 'Target Sports')
    }
    assert counts[col['Self-grooming'], col['Self-grooming']] == 2
    assert counts[col['Self-grooming'], col['Working']] == 1
    assert counts[col['Self-grooming'], col['Target Sports']] == 1
    assert counts[col['Target Sports'], col['Target Sports']] == 1

    counts2, names2, _ = analyze_results.level_confusion_matrix(
        pred, labels, ucf, level=2)
    assert counts2.shape == (5, 5)
    hoi = names2.index('Human-Object Interaction')
    sports = names2.index('Sports')
    assert counts2[hoi, hoi] == 3
    assert counts2[hoi, sports] == 1
    assert counts2[sports, sports] == 1
    with pytest.raises(ValueError, match='level must lie in'):
        analyze_results.level_confusion_matrix(pred, labels, ucf, level=0)


def test_bad_dumps(tmp_path, ucf):
    bad = tmp_path / 'bad.pkl'
    with open(bad, 'wb') as f:
        pickle.dump({'not': 'a list'}, f)
    with pytest.raises(TypeError, match='bad.pkl: expected a list'):
        analyze_results.main(
            [str(bad), '--hierarchy', TREE, '--label-map', LABELS])

    empty = tmp_path / 'empty.pkl'
    with open(empty, 'wb') as f:
        pickle.dump([], f)
    with pytest.raises(ValueError, match='no samples to evaluate'):
        analyze_results.main(
            [str(empty), '--hierarchy', TREE, '--label-map', LABELS])

    wrong = tmp_path / 'wrong.pkl'
    sample = ActionDataSample()
    sample.set_gt_label(0)
    sample.set_pred_score(torch.zeros(3, 400))
    with open(wrong, 'wb') as f:
        pickle.dump([sample.to_dict()], f)
    with pytest.raises(
            ValueError, match=r'wrong.pkl: data sample 0.*400 classes'):
        analyze_results.main(
            [str(wrong), '--hierarchy', TREE, '--label-map', LABELS])
    with pytest.raises(ValueError, match='--confusion-level'):
        analyze_results.main([
            str(wrong), '--hierarchy', TREE, '--label-map', LABELS,
            '--confusion-level', 'leaf'
        ])


def test_format_metrics_table():
    table = format_metrics_table({
        'hier/clip/num_samples':
        12,
        'hier/clip/class_acc':
        0.5,
        'hier/video_vote/class_acc':
        np.float64(0.25),
        'hier/video_vote/mean_mistake_hops':
        float('nan'),
        'acc/top1':
        torch.tensor(0.125),
    })
    lines = table.splitlines()
    assert [c.strip() for c in lines[0].split(' | ')
            ] == ['metric', 'hier/clip', 'hier/video_vote', 'acc']
    assert len({len(line) for line in lines}) == 1
    rows = {
        line.split(' | ')[0].strip():
        [c.strip() for c in line.split(' | ')[1:]]
        for line in lines[2:]
    }
    assert rows['num_samples'] == ['12', '', '']
    assert rows['class_acc'] == ['0.5000', '0.2500', '']
    assert rows['mean_mistake_hops'] == ['', 'nan', '']
    assert rows['top1'] == ['', '', '0.1250']
