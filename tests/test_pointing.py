"""Pointing test on the toy dataset: the object centres redrawn from the
dataset's seed land on the object in the decoded clip, planted prototypes
point where they were planted, and the tool summarizes a split."""
import copy
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint
from test_explain import CONFIG, REPO_ROOT, make_embedding, tiny_model_options

from hprotopnet_mm.datasets import toy_object_track
from hprotopnet_mm.explain import PrototypeExplainer, load_clips, preprocess
from hprotopnet_mm.explain.loading import frame_indices
from hprotopnet_mm.explain.pointing import (check_pointing_pipeline,
                                            object_grid, pointing_pipeline,
                                            pointing_rows, to_clip_pixels)
from mmaction.registry import MODELS

sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
import toy_pointing  # noqa: E402

VIDEO = osp.join('val', 'red_square_slide_vertical_0.mp4')
RED = np.array([220, 40, 40])  # the red square's colour, roughly


@pytest.fixture(scope='module')
def setup(toy_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp('pointing')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        tiny_model_options(toy_data,
                           make_embedding(toy_data, str(folder / 'emb.pth'))))
    cfg.test_dataloader.dataset.data_prefix.video = toy_data.video_root
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model)).eval()
    pipeline = pointing_pipeline(cfg)
    return cfg, model, pipeline, folder


def test_object_track_of_a_listed_clip(toy_data):
    label, track = toy_object_track(osp.join(toy_data.video_root, VIDEO))
    assert label == 1 and track.shape == (32, 2)
    # siblings share the clip's random draws but not the motion
    _, sibling = toy_object_track(
        osp.join('videos', 'val', 'red_square_slide_horizontal_0.mp4'))
    assert not np.allclose(track, sibling)
    for bad in ('val/red_square_slide_vertical.mp4', 'test/x_0.mp4',
                'ambiguous/red_square_slide_horizontal_vs_slide_vertical_0'
                '.mp4', 'val/no_such_leaf_0.mp4'):
        with pytest.raises(ValueError, match='not a labelled clip'):
            toy_object_track(bad)


def test_centres_land_on_the_object_in_the_clip(setup, toy_data):
    _, model, pipeline, _ = setup
    path = osp.join(toy_data.video_root, VIDEO)
    sample = load_clips(pipeline, path)
    raw, _ = preprocess(model, sample)
    _, track = toy_object_track(path)
    metainfo = sample['data_samples'].metainfo
    assert metainfo['crop_bbox'].tolist() == [4, 4, 60, 60]
    for clip in range(raw.shape[0]):
        inds = frame_indices(sample, clip)
        centres = np.round(to_clip_pixels(track[inds], metainfo)).astype(int)
        colours = np.stack([
            raw[clip, :, t, y, x].numpy() for t, (x, y) in enumerate(centres)
        ])
        assert np.abs(colours - RED).max() < 40, colours


def test_planted_prototypes_point_where_they_were_planted(setup, toy_data):
    _, model, pipeline, _ = setup
    model = copy.deepcopy(model)
    path = osp.join(toy_data.video_root, VIDEO)
    sample = load_clips(pipeline, path)
    raw, inputs = preprocess(model, sample)
    explainer = PrototypeExplainer(model, pipeline)
    z = explainer.head_outputs(inputs)['z'][0]
    _, track = toy_object_track(path)
    centres = to_clip_pixels(track[frame_indices(sample, 0)],
                             sample['data_samples'].metainfo)
    T, H, W = z.shape[1:]
    # the cell under the object's mean centre in the first time cell
    x, y = centres[:raw.shape[2] // T].mean(axis=0)
    object_cell = (0, int(y * H // raw.shape[3]), int(x * W // raw.shape[4]))
    corner = (T - 1, H - 1, 0)
    with torch.no_grad():
        for p, cell in ((0, object_cell), (1, corner)):
            model.cls_head.prototype_vectors[p] = z[:, cell[0], cell[1],
                                                    cell[2], None, None, None]
    out = explainer.head_outputs(inputs)
    holds = object_grid(centres, (T, H, W), raw.shape[2:], (1, 1, 1))
    # one cell per time step holds the object, the planted one among them
    assert holds.shape == (T, H, W) and holds.sum(axis=(1, 2)).tolist() == \
        [1] * T and holds[object_cell]
    rows = pointing_rows(out['distance_maps'][0], [0, 1], holds,
                         model.cls_head.prototype_layer.epsilon)
    assert [r['cell'] for r in rows] == [list(object_cell), list(corner)]
    assert [r['hit'] for r in rows] == [True, False]
    assert [r['border'] for r in rows] == [False, True]
    # the activation of a prototype planted on the object lies on it more
    # than a flat map's 1 / (H * W) and than the corner prototype's
    assert rows[0]['object_mass'] > max(1 / (H * W), rows[1]['object_mass'])
    # a flat map spreads its mass evenly: the share of object cells
    flat = pointing_rows(
        torch.ones_like(out['distance_maps'][0]), [0], holds, 1e-4)
    assert flat[0]['object_mass'] == pytest.approx(1 / (H * W))


def test_pipeline_check():
    check_pointing_pipeline([
        dict(type='DecordInit'),
        dict(type='Resize', scale=(-1, 64)),
        dict(type='CenterCrop', crop_size=56)
    ])
    for bad in ([dict(type='ThreeCrop', crop_size=56)], [
            dict(type='CenterCrop', crop_size=56),
            dict(type='Resize', scale=(-1, 64))
    ]):
        with pytest.raises(ValueError, match='resizes, then crops once'):
            check_pointing_pipeline(bad)


def test_tool_summarizes_the_split(setup, toy_data):
    cfg, model, _, folder = setup
    config = str(folder / 'config.py')
    cfg.dump(config)
    checkpoint = str(folder / 'tiny.pth')
    save_checkpoint(dict(state_dict=model.state_dict()), checkpoint)
    summary = toy_pointing.main([
        config, checkpoint, '--split-list', toy_data.val_list,
        '--topk-prototypes', '2', '--out',
        str(folder / 'out')
    ])
    assert list(summary) == ['leaf', 'parent', 'grandparent']
    results = json.load(open(folder / 'out' / 'pointing.json'))
    # 12 videos x 3 test clips x 2 prototypes per level
    for level, s in summary.items():
        assert s['prototypes'] == 72
        rows = [r for r in results['rows'] if r['level'] == level]
        assert s['object_hit_rate'] == pytest.approx(
            np.mean([r['hit'] for r in rows]))
        # the 8x7x7 map: one of 49 cells per time step holds the object's
        # centre, 24 of 49 touch the border
        assert s['random_cell_hit_rate'] == pytest.approx(1 / 49)
        assert s['random_cell_border_rate'] == pytest.approx(24 / 49)
        assert s['random_object_mass'] == pytest.approx(1 / 49)
        assert s['object_mass'] == pytest.approx(
            np.mean([r['object_mass'] for r in rows]))
        # the object stays near the middle: one middle cell holds it more
        # often than a random cell does
        assert 1 / 49 < s['best_fixed_cell_hit_rate'] <= 1
    assert summary['grandparent']['background_hit_rate'] == pytest.approx(
        1 - summary['grandparent']['object_hit_rate'])
    assert 'background_hit_rate' not in summary['leaf']
