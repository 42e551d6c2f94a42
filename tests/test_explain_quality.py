"""Consistency, stability and duplicates of prototypes on the toy dataset:
planted prototypes score what they must, noise of sigma 0 changes no peak,
identical prototypes are found, and the report shows the numbers."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint
from test_explain import REPO_ROOT
from test_pointing import setup  # noqa: F401  (module fixture)

from hprotopnet_mm.explain import PrototypeExplainer, load_clips, preprocess
from hprotopnet_mm.explain.pointing import toy_object_grids
from hprotopnet_mm.explain.quality import (attach_quality, consistency,
                                           duplicate_pairs, stability)
from hprotopnet_mm.explain.report_html import render_html

sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
import explain_quality  # noqa: E402


def object_grids(setup, toy_data):  # noqa: F811
    """(label, clips' object grids) of every test video."""
    _, model, pipeline, _ = setup
    grids = []
    with open(toy_data.test_list) as f:
        for line in f:
            name, label = line.split()
            path = osp.join(toy_data.video_root, name)
            sample = load_clips(pipeline, path)
            raw, _ = preprocess(model, sample)
            grids.append(
                (int(label),
                 toy_object_grids(path, int(label), sample, raw.shape[2:],
                                  (8, 4, 4), (1, 1, 1))))
    return grids


def test_planted_prototypes_score_what_they_must(setup, toy_data):  # noqa
    hits_object, hits_corner, chance = [], [], []
    for _, holds in object_grids(setup, toy_data):
        flat = holds.reshape(len(holds), 1, -1)
        # planted on the object: distance 0 on its cells, 1 elsewhere;
        # planted on a corner: distance 0 on cell (t=0, h=3, w=0) only
        on_object = torch.from_numpy(np.where(holds, 0.0, 1.0))[:, None]
        corner = torch.ones_like(on_object)
        corner[:, :, 0, 3, 0] = 0
        maps = torch.cat([on_object, corner], dim=1)  # (V, 2, T', H', W')
        part = np.repeat(flat, 2, axis=1)
        cells, hits = explain_quality.peak_hits(maps, [0, 1], part)
        assert (cells[:, 1] == np.ravel_multi_index((0, 3, 0),
                                                    (8, 4, 4))).all()
        hits_object += hits[:, 0].tolist()
        hits_corner += hits[:, 1].tolist()
        chance += flat.mean(axis=2)[:, 0].tolist()
    chance = [np.array(chance)] * 2
    result = consistency([np.array(hits_object),
                          np.array(hits_corner)], chance)
    assert result['prototypes'] == 2
    # the object prototype is consistent, the corner one is not
    assert result['consistent'] == 0.5
    assert np.mean(hits_object) == 1.0
    # the corner prototype hits as often as the corner cell holds the
    # object: what any prototype pinned there would, and less than a
    # random cell (1 / 16; the object stays near the middle)
    corner_share = np.mean([
        holds[:, 0, 3, 0].mean() for _, holds in object_grids(setup, toy_data)
    ])
    assert np.mean(hits_corner) == pytest.approx(corner_share)
    assert result['random_hit_share'] == pytest.approx(1 / 16)
    assert np.mean(hits_corner) < result['random_hit_share']
    # a random peak almost never reaches 0.8 of 36 clips at p = 1/16
    assert result['random_consistent'] < 1e-6


def test_stability_and_duplicates_functions():
    clean = np.array([3, 5, 7, 7])
    noisy = np.array([[3, 5, 7, 1], [3, 4, 7, 7]])
    hits = np.array([True, False, True, True])
    noisy_hits = np.array([[True, False, True, False],
                           [True, False, True, True]])
    s = stability(clean, noisy, hits, noisy_hits, 128, np.full(4, 1 / 16))
    assert s['peak_unchanged'] == 6 / 8 and s['part_match_unchanged'] == 7 / 8
    assert s['random_peak_unchanged'] == 1 / 128
    assert s['random_part_match_unchanged'] == pytest.approx((1 / 16)**2 +
                                                             (15 / 16)**2)
    vectors = torch.randn(5, 4, 1, 1, 1)
    vectors[1] = vectors[0]  # same node
    vectors[3] = vectors[2]  # other nodes
    vectors[4] = vectors[0] * 1.001 + 1e-4  # near, other node
    d = duplicate_pairs(vectors, torch.tensor([0, 0, 1, 2, 3]))
    assert d['exact_within_node'] == [[0, 1]]
    assert d['exact_across_nodes'] == [[2, 3]]
    assert d['near_across_nodes'] == [[0, 4], [1, 4]]
    assert d['near_within_node'] == []
    assert d['prototypes_with_exact_duplicate'] == 4


def test_tool_with_zero_noise_and_report(setup, toy_data, tmp_path):  # noqa
    cfg, model, pipeline, folder = setup
    vectors = model.cls_head.prototype_vectors
    saved = vectors.detach().clone()
    try:
        with torch.no_grad():  # two prototypes of leaf 0, identical
            vectors[1] = vectors[0]
        config = str(tmp_path / 'config.py')
        cfg.dump(config)
        checkpoint = str(tmp_path / 'tiny.pth')
        save_checkpoint(dict(state_dict=model.state_dict()), checkpoint)
    finally:
        with torch.no_grad():
            vectors.copy_(saved)
    summary, duplicates = explain_quality.main([
        config, checkpoint, '--split-list', toy_data.test_list,
        '--noise-sigma', '0', '--noise-seeds', '2', '--out',
        str(tmp_path / 'out')
    ])
    assert list(summary) == ['leaf', 'parent', 'grandparent']
    for level, s in summary.items():
        # no noise, no change
        assert s['stability']['peak_unchanged'] == 1.0
        assert s['stability']['part_match_unchanged'] == 1.0
        assert s['stability']['draws'] == 2
        assert s['part'] == ('background'
                             if level == 'grandparent' else 'object')
    assert [0, 1] in duplicates['exact_within_node']
    with open(tmp_path / 'out' / 'quality.json') as f:
        quality = json.load(f)
    rows = {r['prototype']: r for r in quality['prototypes']}
    # every prototype of the 12 leaves, 6 parents and 3 grandparents,
    # each over its node's clips (3 test clips per video)
    assert len(rows) == model.cls_head.num_prototypes
    assert rows[0]['clips'] == 3 and rows[0]['level'] == 'leaf'
    parent_proto = int((model.cls_head.prototype_node == 12).nonzero()[0])
    assert rows[parent_proto]['clips'] == 6
    # the report shows them next to each prototype
    explainer = PrototypeExplainer(model, pipeline)
    video = osp.join(toy_data.video_root,
                     open(toy_data.test_list).readline().split()[0])
    explanation = explainer.explain(video, topk_prototypes=1, render=False)
    assert attach_quality(explanation.data, quality, 'q.json') == \
        sum(len(e['prototypes']) for e in explanation.data['levels'] +
            explanation.data['alternatives'])
    page = render_html(explanation)
    assert 'consistency (hit share)' in page and 'peak kept' in page
