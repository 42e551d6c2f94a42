"""Hierarchical accuracy on hand-made predictions over the UCF-101 tree.

UCF-101 tree facts used below (hprotopnet_mm/hierarchy/files):
ApplyEyeMakeup, ApplyLipstick, BlowDryHair: Self-grooming; Hammering, Typing:
Working; both parents under Human-Object Interaction. Archery, Bowling:
Target Sports; CricketBowling, Basketball: Ball Sports; both under Sports.
Drumming: Percussion under Playing Musical Instruments.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

import hprotopnet_mm  # noqa: F401
from hprotopnet_mm.evaluation import (HierarchicalAccuracy, group_by_video,
                                      hierarchical_accuracy, prediction_record,
                                      rank_predictions)
from hprotopnet_mm.hierarchy import HIERARCHY_FILES_DIR, ClassHierarchy
from mmaction.registry import METRICS
from mmaction.structures import ActionDataSample

TREE = osp.join(HIERARCHY_FILES_DIR, 'ucf101_hierarchy.csv')
LABELS = osp.join(HIERARCHY_FILES_DIR, 'ucf101_label_map.txt')
C = 101


@pytest.fixture(scope='module')
def ucf():
    return ClassHierarchy.from_files(TREE, LABELS)


@pytest.fixture(scope='module')
def ids(ucf):
    names = [
        'ApplyEyeMakeup', 'ApplyLipstick', 'BlowDryHair', 'Hammering',
        'Typing', 'Archery', 'Bowling', 'CricketBowling', 'Basketball',
        'Drumming', 'Knitting'
    ]
    return {name: ucf.node_id(name, level=0) for name in names}


def ranked_logits(*ranked):
    """Logits of one clip ranking the given labels first, in that order."""
    logits = np.zeros(C)
    logits[list(ranked)] = np.arange(len(ranked), 0, -1) + 5.0
    return logits


def probs_row(**named):
    """A probability vector: given class probabilities (by label index
    ``p<label>=value``), the rest spread evenly over the other classes."""
    row = np.zeros(C)
    for key, value in named.items():
        row[int(key[1:])] = value
    rest = [i for i in range(C) if row[i] == 0]
    row[rest] = (1.0 - row.sum()) / len(rest)
    return row


def test_tree_facts(ucf, ids):
    hop = ucf.hop_distance
    aem = ids['ApplyEyeMakeup']
    assert ucf.level_names == ('leaf', 'parent', 'grandparent')
    assert hop[aem, ids['ApplyLipstick']] == 2
    assert hop[aem, ids['Hammering']] == 4
    assert hop[aem, ids['Archery']] == 6
    assert hop[ids['Typing'], ids['Hammering']] == 2
    assert hop[ids['Archery'], ids['Bowling']] == 2


def test_class_sibling_cousin_by_hand(ucf, ids):
    aem = ids['ApplyEyeMakeup']
    preds = ['ApplyEyeMakeup', 'ApplyLipstick', 'Hammering', 'Archery']
    clip_scores = [ranked_logits(ids[p]) for p in preds]
    metrics = hierarchical_accuracy(
        clip_scores, [aem] * 4, ucf, topk=1, hop_map_k=1)
    for mode in ('clip', 'video_vote', 'video_avg'):
        assert metrics[f'{mode}/num_samples'] == 4
        assert metrics[f'{mode}/class_acc'] == pytest.approx(1 / 4)
        assert metrics[f'{mode}/sibling_acc'] == pytest.approx(2 / 4)
        assert metrics[f'{mode}/cousin_acc'] == pytest.approx(3 / 4)
        assert metrics[f'{mode}/mean_mistake_hops'] == pytest.approx(
            (2 + 4 + 6) / 3)
        assert metrics[f'{mode}/parent_level_acc'] == pytest.approx(2 / 4)
        assert metrics[f'{mode}/grandparent_level_acc'] == pytest.approx(3 / 4)
        assert metrics[f'{mode}/class_map@1'] == pytest.approx(1 / 4)
    assert 'clip/leaf_level_acc' not in metrics
    assert not any('top1_' in key for key in metrics)


def test_per_level_accuracy_differs_by_level(ucf, ids):
    # truths and predictions under different parents of one grandparent
    # (Typing -> BlowDryHair), same parent (Archery -> Bowling), different
    # grandparents (Drumming -> Basketball).
    pairs = [('Typing', 'BlowDryHair'), ('Archery', 'Bowling'),
             ('Drumming', 'Basketball')]
    clip_scores = [ranked_logits(ids[p]) for _, p in pairs]
    labels = [ids[t] for t, _ in pairs]
    metrics = hierarchical_accuracy(
        clip_scores, labels, ucf, topk=1, hop_map_k=1)
    assert metrics['clip/class_acc'] == 0.0
    assert metrics['clip/parent_level_acc'] == pytest.approx(1 / 3)
    assert metrics['clip/grandparent_level_acc'] == pytest.approx(2 / 3)
    assert metrics['clip/mean_mistake_hops'] == pytest.approx((4 + 2 + 6) / 3)


def test_mean_mistake_hops_undefined_without_mistakes(ucf, ids):
    metrics = hierarchical_accuracy([ranked_logits(ids['Typing'])],
                                    [ids['Typing']],
                                    ucf,
                                    topk=1,
                                    hop_map_k=1)
    assert metrics['clip/class_acc'] == 1.0
    assert np.isnan(metrics['clip/mean_mistake_hops'])


def test_topk_by_hand(ucf, ids):
    i = ids
    clip_scores = [
        # truth ApplyEyeMakeup at rank 3
        ranked_logits(i['Archery'], i['Hammering'], i['ApplyEyeMakeup'],
                      i['Bowling'], i['Drumming']),
        # truth Typing; top 5 all in other grandparents, Knitting (a
        # sibling) only at rank 6
        ranked_logits(i['Archery'], i['Bowling'], i['Drumming'],
                      i['CricketBowling'], i['Basketball'], i['Knitting']),
        # truth Typing; a sibling first, the truth outside the top 5
        ranked_logits(i['Hammering'], i['Archery'], i['Bowling'],
                      i['Drumming'], i['CricketBowling']),
    ]
    labels = [i['ApplyEyeMakeup'], i['Typing'], i['Typing']]
    metrics = hierarchical_accuracy(
        clip_scores, labels, ucf, topk=(1, 5), hop_map_k=1)
    assert metrics['clip/class_acc'] == 0.0
    assert metrics['clip/sibling_acc'] == pytest.approx(1 / 3)
    assert metrics['clip/cousin_acc'] == pytest.approx(1 / 3)
    assert metrics['clip/top5_class_acc'] == pytest.approx(1 / 3)
    assert metrics['clip/top5_sibling_acc'] == pytest.approx(2 / 3)
    assert metrics['clip/top5_cousin_acc'] == pytest.approx(2 / 3)
    # with k = 6 Knitting counts as a sibling of Typing
    metrics6 = hierarchical_accuracy(
        clip_scores, labels, ucf, topk=6, hop_map_k=1)
    assert metrics6['clip/top6_sibling_acc'] == pytest.approx(3 / 3)


def test_hop_map_by_hand(ucf, ids):
    i = ids
    # hops of the ranked predictions from the truth ApplyEyeMakeup:
    # sample 1: 2, 0, 6, 4, 6    sample 2: 0, 2, 2, 4, 6
    clip_scores = [
        ranked_logits(i['ApplyLipstick'], i['ApplyEyeMakeup'], i['Archery'],
                      i['Hammering'], i['Bowling']),
        ranked_logits(i['ApplyEyeMakeup'], i['ApplyLipstick'],
                      i['BlowDryHair'], i['Hammering'], i['Archery']),
    ]
    labels = [i['ApplyEyeMakeup']] * 2
    metrics = hierarchical_accuracy(
        clip_scores, labels, ucf, topk=1, hop_map_k=(1, 5))
    # precision at ranks 1..5, averaged over the ranks, then the samples
    class_ap = [(0 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 5,
                (1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 5]
    sibling_ap = [(1 + 2 / 2 + 2 / 3 + 2 / 4 + 2 / 5) / 5,
                  (1 + 2 / 2 + 3 / 3 + 3 / 4 + 3 / 5) / 5]
    cousin_ap = [(1 + 2 / 2 + 2 / 3 + 3 / 4 + 3 / 5) / 5,
                 (1 + 2 / 2 + 3 / 3 + 4 / 4 + 4 / 5) / 5]
    assert metrics['clip/class_map@5'] == pytest.approx(np.mean(class_ap))
    assert metrics['clip/sibling_map@5'] == pytest.approx(np.mean(sibling_ap))
    assert metrics['clip/cousin_map@5'] == pytest.approx(np.mean(cousin_ap))
    assert metrics['clip/class_map@1'] == pytest.approx(1 / 2)
    assert metrics['clip/sibling_map@1'] == pytest.approx(1.0)


def _vote_vs_average_video(ids):
    """3 clips: ApplyEyeMakeup wins 2 clips narrowly, Archery 1 clearly."""
    a, b = ids['ApplyEyeMakeup'], ids['Archery']
    close = probs_row(**{f'p{a}': 0.40, f'p{b}': 0.35})
    clear = probs_row(**{f'p{a}': 0.01, f'p{b}': 0.90})
    return np.stack([close, close, clear]), a


def test_majority_vote_and_averaging_disagree(ucf, ids):
    clips, truth = _vote_vs_average_video(ids)
    # mean probabilities: ApplyEyeMakeup (0.4 + 0.4 + 0.01) / 3 = 0.27,
    # Archery (0.35 + 0.35 + 0.9) / 3 = 0.53
    rankings = rank_predictions([clips], np.array([truth]), 'probs')
    assert rankings['video_vote'][0][0, 0] == truth
    assert rankings['video_avg'][0][0, 0] == ids['Archery']
    assert list(rankings['clip'][0][:, 0]) == [truth, truth, ids['Archery']]

    metrics = hierarchical_accuracy([clips], [truth],
                                    ucf,
                                    topk=1,
                                    hop_map_k=1,
                                    score_type='probs')
    assert metrics['clip/num_samples'] == 3
    assert metrics['video_vote/num_samples'] == 1
    assert metrics['clip/class_acc'] == pytest.approx(2 / 3)
    assert metrics['clip/mean_mistake_hops'] == 6.0
    assert metrics['video_vote/class_acc'] == 1.0
    assert metrics['video_avg/class_acc'] == 0.0
    assert metrics['video_avg/cousin_acc'] == 0.0
    assert metrics['video_avg/mean_mistake_hops'] == 6.0

    # the same probabilities given as logits: softmax(log p) = p
    from_logits = hierarchical_accuracy([np.log(clips)], [truth],
                                        ucf,
                                        topk=1,
                                        hop_map_k=1)
    assert from_logits.keys() == metrics.keys()
    for key, value in metrics.items():
        assert from_logits[key] == pytest.approx(value, nan_ok=True), key


def test_average_mode_averages_probabilities_not_logits(ids):
    a, b = ids['ApplyEyeMakeup'], ids['Archery']
    clip1, clip2 = np.zeros(C), np.zeros(C)
    clip1[a] = 10.0
    clip2[a], clip2[b] = -10.0, 2.0
    # mean logits favour Archery (0 vs 1); mean probabilities favour
    # ApplyEyeMakeup (about 0.50 vs 0.04)
    rankings = rank_predictions([np.stack([clip1, clip2])], np.array([a]))
    assert rankings['video_avg'][0][0, 0] == a
    assert list(rankings['clip'][0][:, 0]) == [a, b]


def test_vote_tie_broken_by_mean_probability(ucf, ids):
    a, b = ids['ApplyEyeMakeup'], ids['Archery']
    assert a < b
    # one vote each; Archery has the higher mean probability (0.425 vs
    # 0.375) so it wins although ApplyEyeMakeup has the lower index
    video1 = np.stack([
        probs_row(**{
            f'p{b}': 0.50,
            f'p{a}': 0.30
        }),
        probs_row(**{
            f'p{a}': 0.45,
            f'p{b}': 0.35
        }),
    ])
    # one vote each; ApplyEyeMakeup has the higher mean (0.425 vs 0.35)
    video2 = np.stack([
        probs_row(**{
            f'p{b}': 0.40,
            f'p{a}': 0.35
        }),
        probs_row(**{
            f'p{a}': 0.50,
            f'p{b}': 0.30
        }),
    ])
    rankings = rank_predictions([video1, video2], np.array([a, a]), 'probs')
    assert list(rankings['video_vote'][0][:, 0]) == [b, a]
    metrics = hierarchical_accuracy([video1, video2], [a, a],
                                    ucf,
                                    topk=1,
                                    hop_map_k=1,
                                    score_type='probs')
    assert metrics['video_vote/class_acc'] == pytest.approx(1 / 2)


def test_vote_tie_in_votes_and_mean_goes_to_lower_index(ucf, ids):
    a, b = ids['ApplyEyeMakeup'], ids['Archery']
    # one vote each and equal means (0.45): the lower label index wins,
    # whatever the clip order
    first_b = np.stack([
        probs_row(**{
            f'p{b}': 0.6,
            f'p{a}': 0.3
        }),
        probs_row(**{
            f'p{a}': 0.6,
            f'p{b}': 0.3
        }),
    ])
    first_a = first_b[::-1].copy()
    rankings = rank_predictions([first_b, first_a], np.array([b, a]), 'probs')
    assert list(rankings['video_vote'][0][:, 0]) == [a, a]
    assert list(rankings['video_avg'][0][:, 0]) == [a, a]
    metrics = hierarchical_accuracy([first_b, first_a], [b, a],
                                    ucf,
                                    topk=1,
                                    hop_map_k=1,
                                    score_type='probs')
    assert metrics['video_vote/class_acc'] == pytest.approx(1 / 2)


def test_group_by_video_pools_clips_of_one_filename():
    scores = [np.full((2, C), float(i)) for i in range(3)]
    records = [
        dict(scores=scores[0], label=4, video_id='a.mp4'),
        dict(scores=scores[1], label=7, video_id=None),
        dict(scores=scores[2], label=4, video_id='a.mp4'),
    ]
    clip_scores, labels, video_ids = group_by_video(records)
    assert video_ids == ['a.mp4', 1]
    assert labels.tolist() == [4, 7]
    assert clip_scores[0].shape == (4, C)
    np.testing.assert_array_equal(clip_scores[0][2:], scores[2])
    records[2]['label'] = 5
    with pytest.raises(ValueError, match="'a.mp4' has clips labelled 4 and"):
        group_by_video(records)


def test_empty_split(ucf):
    with pytest.raises(ValueError, match='no samples to evaluate'):
        hierarchical_accuracy([], [], ucf)
    metric = HierarchicalAccuracy(TREE, LABELS)
    with pytest.raises(ValueError, match='no samples to evaluate'):
        metric.evaluate(0)


def _sample(label, scores, filename=None):
    sample = ActionDataSample()
    sample.set_gt_label(label)
    sample.set_pred_score(torch.as_tensor(scores, dtype=torch.float32))
    if filename is not None:
        sample.set_metainfo(dict(filename=filename))
    return sample


def test_bad_input_errors(ucf, ids):
    metric = HierarchicalAccuracy(TREE, LABELS)
    with pytest.raises(ValueError, match=r'100 classes .*101 leaves'):
        metric.process([],
                       [_sample(0, torch.zeros(4, 100), 'x.mp4').to_dict()])
    with pytest.raises(ValueError, match='ucf101_hierarchy.csv'):
        metric.process([], [_sample(0, torch.zeros(4, 100)).to_dict()])
    with pytest.raises(ValueError, match=r'shape \(C,\) or \(num_clips, C\)'):
        metric.process([], [_sample(0, torch.zeros(2, 2, C)).to_dict()])
    multi = _sample(0, torch.zeros(C)).to_dict()
    multi['gt_label'] = torch.tensor([1, 2])
    with pytest.raises(ValueError, match='multi-label'):
        metric.process([], [multi])
    no_score = _sample(0, torch.zeros(C)).to_dict()
    del no_score['pred_score']
    with pytest.raises(KeyError, match='pred_score'):
        metric.process([], [no_score])
    with pytest.raises(
            ValueError, match=r'topk values must lie in \[1, 101\]'):
        HierarchicalAccuracy(TREE, LABELS, topk=(1, 102))
    with pytest.raises(ValueError, match='score_type'):
        HierarchicalAccuracy(TREE, LABELS, score_type='scores')
    with pytest.raises(ValueError, match="use score_type='logits'"):
        hierarchical_accuracy([ranked_logits(0)], [0], ucf, score_type='probs')
    with pytest.raises(ValueError, match=r'101 leaves'):
        hierarchical_accuracy([np.zeros((2, 5))], [0], ucf)
    with pytest.raises(ValueError, match='not all finite'):
        prediction_record(
            _sample(0, torch.full((C, ), float('nan'))).to_dict(), C)


def test_metric_through_mmengine_evaluator(ucf, ids):
    i = ids
    init_default_scope('mmaction')
    assert METRICS.get('HierarchicalAccuracy') is HierarchicalAccuracy
    evaluator = Evaluator(
        dict(
            type='HierarchicalAccuracy',
            hierarchy_file=TREE,
            label_map_file=LABELS,
            topk=(1, 5),
            hop_map_k=(1, 5, 10)))

    def clips(*top1):
        return np.stack([ranked_logits(t) for t in top1])

    # per-clip scores, as heads give them with average_clips=None
    v1 = clips(i['ApplyEyeMakeup'], i['ApplyEyeMakeup'], i['ApplyLipstick'],
               i['Archery'])
    v2 = clips(i['Hammering'], i['Hammering'], i['Typing'], i['Archery'])
    # one score vector and no file name (a video of its own)
    v3 = ranked_logits(i['Bowling'])
    batch1 = [
        _sample(i['ApplyEyeMakeup'], v1, 'v1.mp4'),
        _sample(i['Typing'], v2, 'v2.mp4')
    ]
    batch2 = [_sample(i['Archery'], v3)]
    evaluator.process(batch1)
    evaluator.process(batch2)
    metrics = evaluator.evaluate(3)

    assert metrics['hier/clip/num_samples'] == 9
    assert metrics['hier/clip/class_acc'] == pytest.approx(3 / 9)
    assert metrics['hier/clip/sibling_acc'] == pytest.approx(7 / 9)
    assert metrics['hier/clip/cousin_acc'] == pytest.approx(7 / 9)
    assert metrics['hier/clip/mean_mistake_hops'] == pytest.approx(
        (4 * 2 + 2 * 6) / 6)
    for mode in ('video_vote', 'video_avg'):
        assert metrics[f'hier/{mode}/num_samples'] == 3
        assert metrics[f'hier/{mode}/class_acc'] == pytest.approx(1 / 3)
        assert metrics[f'hier/{mode}/sibling_acc'] == pytest.approx(1.0)
        assert metrics[f'hier/{mode}/parent_level_acc'] == pytest.approx(1.0)
        assert metrics[f'hier/{mode}/top5_class_acc'] == pytest.approx(1.0)

    offline = hierarchical_accuracy(
        [v1, v2, v3], [i['ApplyEyeMakeup'], i['Typing'], i['Archery']],
        ucf,
        topk=(1, 5),
        hop_map_k=(1, 5, 10))
    assert {f'hier/{k}': v for k, v in offline.items()} == metrics
    expected_names = (
        ['num_samples', 'class_acc', 'sibling_acc', 'cousin_acc'] +
        [f'top5_{h}_acc' for h in ('class', 'sibling', 'cousin')] +
        ['mean_mistake_hops', 'parent_level_acc', 'grandparent_level_acc'] + [
            f'{h}_map@{k}' for k in (1, 5, 10)
            for h in ('class', 'sibling', 'cousin')
        ])
    assert list(metrics) == [
        f'hier/{mode}/{name}' for mode in ('clip', 'video_vote', 'video_avg')
        for name in expected_names
    ]
