"""Abstaining hierarchical prediction: exact answers on constructed
probabilities, the coverage / correctness sweep, and the sweep of
tools/analyze_results.py on a result dump."""
import importlib.util
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from hprotopnet_mm.explain import (ROOT, abstain_predict, abstain_sweep,
                                   answer_covers, answer_level,
                                   format_sweep_table, node_probabilities)
from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.structures import ActionDataSample

# leaf, parent, grandparent; two grandparents with two parents of two
# leaves each (node ids: leaves 0-7, parents 8-11, grandparents 12-13)
TREE = """leaf,parent,grandparent
a1,a,g
a2,a,g
b1,b,g
b2,b,g
c1,c,h
c2,c,h
d1,d,h
d2,d,h
"""


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    folder = tmp_path_factory.mktemp('tree')
    (folder / 'tree.csv').write_text(TREE)
    names = [line.split(',')[0] for line in TREE.splitlines()[1:]]
    (folder / 'labels.txt').write_text('\n'.join(names) + '\n')
    hierarchy = ClassHierarchy.from_files(
        str(folder / 'tree.csv'), str(folder / 'labels.txt'))
    return hierarchy, str(folder / 'tree.csv'), str(folder / 'labels.txt')


def probs(*values):
    # probabilities that are exact binary fractions, so sums are exact
    vector = torch.zeros(8, dtype=torch.float64)
    vector[:len(values)] = torch.tensor(values, dtype=torch.float64)
    return vector


def test_node_ids_of_the_tree(tree):
    hierarchy = tree[0]
    assert hierarchy.node_id('a') == 8 and hierarchy.node_id('g') == 12
    assert hierarchy.ancestor_path(1) == [1, 8, 12]


def test_ambiguous_siblings_give_their_parent(tree):
    hierarchy = tree[0]
    # a clip split between the siblings a1 and a2
    p = probs(0.375, 0.375, 0.125, 0.125)
    assert abstain_predict(p, hierarchy, 0.6) == hierarchy.node_id('a')
    assert node_probabilities(p, hierarchy)[0, 8].item() == 0.75
    # confident enough for a leaf: the first of the tied leaves
    assert abstain_predict(p, hierarchy, 0.375) == 0
    # only the grandparent reaches 0.8 (0.75 < 0.8 <= 1)
    assert abstain_predict(p, hierarchy, 0.8) == hierarchy.node_id('g')
    # a confident leaf is answered as the leaf
    assert abstain_predict(probs(0.875, 0.125), hierarchy, 0.6) == 0


def test_answers_the_most_likely_node_of_a_level(tree):
    hierarchy = tree[0]
    # the top leaf is b1, but parent a is more likely than b
    p = probs(0.3125, 0.3125, 0.375)
    assert abstain_predict(p, hierarchy, 0.5) == hierarchy.node_id('a')
    assert abstain_predict(p, hierarchy, 0.375) == 2


def test_root_when_no_top_level_node_is_confident(tree):
    hierarchy = tree[0]
    p = probs(0.25, 0.25, 0, 0, 0.25, 0.25)
    assert abstain_predict(p, hierarchy, 0.75) == ROOT
    # parents a and c tie at 0.5: the lower node id
    assert abstain_predict(p, hierarchy, 0.5) == hierarchy.node_id('a')


def test_batches_and_levels(tree):
    hierarchy = tree[0]
    batch = torch.stack([
        probs(0.375, 0.375, 0.125, 0.125),
        probs(0.875, 0.125),
        probs(0.25, 0.25, 0, 0, 0.25, 0.25),
        probs(0, 0, 0, 0, 0, 0, 0.5, 0.5),
    ])
    answers = abstain_predict(batch, hierarchy, 0.6)
    assert answers.tolist() == [8, 0, ROOT, 11]
    assert answer_level(answers, hierarchy).tolist() == [1, 0, 3, 1]
    labels = torch.tensor([1, 1, 0, 7])
    assert answer_covers(answers, labels,
                         hierarchy).tolist() == [True, False, False, True]
    # numpy input gives the same
    assert torch.equal(abstain_predict(batch.numpy(), hierarchy, 0.6), answers)


def test_bad_inputs_are_refused(tree):
    hierarchy = tree[0]
    with pytest.raises(ValueError, match='not a probability vector'):
        abstain_predict(torch.ones(8), hierarchy, 0.5)
    with pytest.raises(ValueError, match='C = 8 leaves'):
        abstain_predict(torch.ones(5) / 5, hierarchy, 0.5)
    with pytest.raises(ValueError, match='min_confidence'):
        abstain_predict(probs(1.0), hierarchy, 1.5)


def test_sweep_counts_coverage_and_correctness(tree):
    hierarchy = tree[0]
    batch = torch.stack([
        probs(0.875, 0.125),  # confident and right
        probs(0.375, 0.375, 0.125, 0.125),  # ambiguous, label a2
        probs(0.875, 0.125),  # confident and wrong (label b1)
        probs(0.25, 0.25, 0, 0, 0.25, 0.25),  # unsure at every level
    ])
    labels = [0, 1, 2, 4]
    sweep = abstain_sweep(batch, labels, hierarchy, [0.0, 0.6, 0.9, 1.0])
    # 0: every sample answered with its top leaf (ties: lower id)
    # 0.6: leaf 0, parent a, leaf 0, root
    # 0.9 and 1.0: parent a, grandparent g, parent a, root
    assert sweep['coverage'].tolist() == [1.0, 0.5, 0.0, 0.0]
    assert sweep['correctness'].tolist() == [0.25, 0.5, 0.5, 0.5]
    assert sweep['leaf_accuracy'][:2].tolist() == [0.25, 0.5]
    assert np.isnan(sweep['leaf_accuracy'][2:]).all()
    assert sweep['level_fractions'].tolist() == [
        [1.0, 0.0, 0.0, 0.0],
        [0.5, 0.25, 0.0, 0.25],
        [0.0, 0.5, 0.25, 0.25],
        [0.0, 0.5, 0.25, 0.25],
    ]
    table = format_sweep_table(sweep, hierarchy.level_names)
    assert table.splitlines()[0].split()[:3] == [
        'min_conf', 'coverage', 'correct'
    ]
    assert len(table.splitlines()) == 5


def _load_tool():
    path = osp.join(REPO_ROOT, 'tools', 'analyze_results.py')
    spec = importlib.util.spec_from_file_location('analyze_results', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_analyze_results_abstain_sweep(tree, tmp_path, capsys):
    hierarchy, tree_file, labels_file = tree
    samples = []
    # video 0: 3 clips, averaged probabilities favour leaf 0 (label 0)
    # video 1: 1 clip, ambiguous between a1 and a2 (label 1)
    videos = ((
        'v0.mp4', 0,
        torch.log(
            torch.stack(
                [probs(0.75, 0.25),
                 probs(0.75, 0.25),
                 probs(0.75, 0.25)]).float() + 1e-12)),
              ('v1.mp4', 1, torch.log(probs(0.5, 0.5).float() + 1e-12)))
    for name, label, scores in videos:
        sample = ActionDataSample()
        sample.set_gt_label(label)
        sample.set_pred_score(scores)
        sample.set_metainfo(dict(filename=name))
        samples.append(sample.to_dict())
    dump = str(tmp_path / 'results.pkl')
    with open(dump, 'wb') as f:
        pickle.dump(samples, f)
    png = str(tmp_path / 'sweep.png')
    _load_tool().main([
        dump, '--hierarchy', tree_file, '--label-map', labels_file, '--topk',
        '1', '--hop-map-k', '1', '--abstain-sweep', png,
        '--abstain-thresholds', '0.45', '0.7', '0.99'
    ])
    out = capsys.readouterr().out
    assert 'min_conf' in out and 'abstain sweep written' in out
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    result = json.loads((tmp_path / 'sweep.json').read_text())
    assert result['num_videos'] == 2
    # 0.45: v0 -> leaf 0 (right), v1 -> leaf 0 (tie, wrong)
    # 0.7: v0 -> leaf 0, v1 -> parent a (covers its label)
    # 0.99: both -> parent a
    assert result['coverage'] == pytest.approx([1.0, 0.5, 0.0])
    assert result['correctness'] == pytest.approx([0.5, 1.0, 1.0])
    assert result['level_names'] == ['leaf', 'parent', 'grandparent', 'root']
