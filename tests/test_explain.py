"""Explanations: activation maps peak where a planted feature is, prototype
contributions, the explainer on a real (untrained) recognizer, and videos
that are short, of another size, or unreadable."""
import copy
import math
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

import conftest
from conftest import REPO_ROOT, decode_clip
from hprotopnet_mm.datasets import write_video
from hprotopnet_mm.explain import (PrototypeExplainer, VideoReadError,
                                   cell_footprint, check_video,
                                   clip_activation_maps, find_test_pipeline,
                                   frame_boxes, high_activation_mask,
                                   load_clips, node_logits, preprocess,
                                   prototype_contributions, render_html,
                                   spread_to_feature_grid, upsample_activation)
from hprotopnet_mm.hierarchy import (ClassHierarchy, HyperbolicEmbedding,
                                     save_embedding,
                                     train_hyperbolic_embedding)
from hprotopnet_mm.models.layers import PrototypeLayer
from mmaction.registry import MODELS

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')
TOOL = osp.join(REPO_ROOT, 'tools', 'explain.py')


def tiny_model_options(toy, embedding_file):
    """Config overrides: the test data and a tiny network."""
    return {
        **conftest.tiny_model_options(toy, embedding_file),
        'test_dataloader.dataset.ann_file':
        toy.val_list,
        'test_dataloader.dataset.data_prefix.video':
        toy.video_root,
        'projection_dataloader.dataset.ann_file':
        toy.train_list,
        'projection_dataloader.dataset.data_prefix.video':
        toy.video_root,
    }


def make_embedding(toy, path):
    hierarchy = ClassHierarchy.from_files(toy.hierarchy, toy.label_map)
    points = train_hyperbolic_embedding(
        hierarchy, dim=4, curvature=1.0, epochs=30)
    save_embedding(path,
                   HyperbolicEmbedding.from_hierarchy(hierarchy, points, 1.0))
    return path


@pytest.fixture(scope='module')
def tiny(toy_data, tmp_path_factory):
    """Config and untrained tiny recognizer (seeded) on the test data."""
    folder = tmp_path_factory.mktemp('explain')
    options = tiny_model_options(
        toy_data, make_embedding(toy_data, str(folder / 'embedding.pth')))
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model)).eval()
    return cfg, model, options, folder


# ----------------------------------------------------------------------
# activation maps
# ----------------------------------------------------------------------
def test_upsampled_map_peaks_at_planted_feature():
    generator = torch.Generator().manual_seed(0)
    z = torch.rand((1, 8, 4, 7, 7), generator=generator)
    planted = torch.full((8, ), 3.0)
    t, h, w = 2, 5, 1
    z[0, :, t, h, w] = planted
    layer = PrototypeLayer(1, 8, (1, 1, 1), epsilon=1e-4)
    with torch.no_grad():
        layer.prototype_vectors[0] = planted[:, None, None, None]
    distance_maps, _, similarities = layer(z)
    clip_size = (16, 56, 56)
    maps = clip_activation_maps(distance_maps[0], layer.epsilon,
                                layer.prototype_shape, clip_size)
    assert maps.shape == (1, ) + clip_size
    # interpolation between cell centres never exceeds the cell values
    assert maps.max().item() <= similarities[0, 0].item() + 1e-5
    (t0, t1), (y0, y1), (x0, x1) = cell_footprint((t, h, w), (1, 1, 1),
                                                  (4, 7, 7), clip_size)
    assert (t0, t1, y0, y1, x0, x1) == (8, 12, 40, 48, 8, 16)
    peak = np.unravel_index(int(maps[0].argmax()), clip_size)
    assert t0 <= peak[0] < t1 and y0 <= peak[1] < y1 and x0 <= peak[2] < x1
    # interpolated over time, not replicated: frames far from the planted
    # cell are much less active than its frames
    per_frame = maps[0].flatten(1).amax(dim=1)
    assert per_frame[t0:t1].min() > per_frame[0] + 1
    assert per_frame[t0:t1].min() > per_frame[-1] + 1
    assert len(set(per_frame.tolist())) > 4
    # the high-activation region is boxed on the planted cell
    mask = high_activation_mask(maps[0], 95)
    assert mask.sum() >= 0.05 * mask.numel()
    bx0, by0, bx1, by1 = frame_boxes(mask)[(t0 + t1) // 2]
    assert bx0 <= (x0 + x1) // 2 < bx1 and by0 <= (y0 + y1) // 2 < by1
    # its strongest 0.5% (fewer voxels than the cell) lies within half a
    # cell of the planted cell
    top = torch.nonzero(high_activation_mask(maps[0], 99.5))
    assert 0 < len(top) <= 256
    for axis, (low, high), half in zip(
            range(3), ((t0, t1), (y0, y1), (x0, x1)), (2, 4, 4)):
        assert low - half <= top[:, axis].min()
        assert top[:, axis].max() < high + half


def test_larger_prototypes_light_up_their_whole_patch():
    z = torch.zeros((1, 4, 4, 6, 6))
    patch = torch.randn(4, 2, 2, 2, generator=torch.Generator().manual_seed(1))
    z[0, :, 1:3, 3:5, 2:4] = patch
    layer = PrototypeLayer(1, 4, (2, 2, 2), epsilon=1e-4)
    with torch.no_grad():
        layer.prototype_vectors[0] = patch
    distance_maps = layer.distance_maps(z)
    assert distance_maps.shape == (1, 1, 3, 5, 5)
    spread = spread_to_feature_grid(-distance_maps[0], (2, 2, 2))
    assert spread.shape == (1, 4, 6, 6)
    # the 8 cells of the matched patch all hold the best value
    best = spread.max()
    assert (spread[0, 1:3, 3:5, 2:4] == best).all()
    assert (spread == best).sum() == 8
    maps = clip_activation_maps(distance_maps[0], 1e-4, (2, 2, 2),
                                (16, 48, 48))
    footprint = cell_footprint((1, 3, 2), (2, 2, 2), (4, 6, 6), (16, 48, 48))
    assert footprint == ((4, 12), (24, 40), (16, 32))
    peak = np.unravel_index(int(maps[0].argmax()), (16, 48, 48))
    for value, (low, high) in zip(peak, footprint):
        assert low <= value < high


def test_upsampling_is_trilinear():
    maps = torch.tensor([[[[0.0]], [[1.0]]]])  # (1, T=2, 1, 1)
    up = upsample_activation(maps, (4, 2, 2))
    # align_corners=False: frame centres at 0.25, 0.75 of each input cell
    assert up[0, :, 0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]


# ----------------------------------------------------------------------
# contributions
# ----------------------------------------------------------------------
def test_contributions_of_a_linear_head_are_similarity_times_weight():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    sims = torch.rand(5, generator=generator, dtype=torch.float64)
    membership = torch.eye(3, dtype=torch.bool)
    log_probs, result = prototype_contributions(sims, lambda s: s @ weight.t(),
                                                membership)
    assert torch.allclose(result, sims[:, None] * weight.t())
    # log-probabilities: the logit's change minus that of the log-sum-exp
    removed = sims[None].repeat(5, 1)
    removed[range(5), range(5)] = 0
    shift = torch.logsumexp(sims @ weight.t(), -1) - torch.logsumexp(
        removed @ weight.t(), -1)
    assert torch.allclose(log_probs, result - shift[:, None])


def test_node_logits_sum_probabilities_under_a_node():
    logits = torch.tensor([[1.0, 2.0, 0.5, -1.0]])
    membership = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                               [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]],
                              dtype=torch.bool)
    nodes = node_logits(logits, membership)
    assert torch.equal(nodes[0, :4], logits[0])
    probs = torch.softmax(logits, -1)[0]
    assert torch.softmax(nodes[0, 4:], -1)[0].item() == pytest.approx(
        (probs[0] + probs[1]).item())


# ----------------------------------------------------------------------
# the explainer on a real recognizer
# ----------------------------------------------------------------------
def test_explainer_rows_contributions_and_planted_prototype(tiny, toy_data):
    cfg, model, _, _ = tiny
    model = copy.deepcopy(model)
    head = model.cls_head
    pipeline = list(cfg.single_clip_pipeline)
    explainer = PrototypeExplainer(model, pipeline)
    video = osp.join(toy_data.video_root, 'val',
                     'red_square_slide_vertical_0.mp4')
    first = explainer.explain(
        video, topk_classes=11, topk_prototypes=2, render=False)
    leaf = first.data['prediction']['leaf']
    prototype = int(torch.nonzero(head.prototype_node == leaf)[0])

    # plant: the prototype becomes the feature of cell (1, 0, 1) of the clip
    raw, inputs = preprocess(model, load_clips(pipeline, video))
    z = explainer.head_outputs(inputs)['z'][0]
    cell = (1, 0, 1)
    with torch.no_grad():
        head.prototype_vectors[prototype] = z[:, cell[0], cell[1], cell[2],
                                              None, None, None]
    data = explainer.explain(
        video, topk_classes=11, topk_prototypes=2, render=False).data

    hierarchy = head.hierarchy
    predicted = data['prediction']['leaf']
    assert [level['level_name']
            for level in data['levels']] == ['grandparent', 'parent', 'leaf']
    assert [level['node'] for level in data['levels']
            ] == hierarchy.ancestor_path(predicted)[::-1]
    leaf_probs = torch.tensor(data['prediction']['leaf_probabilities'])
    for level in data['levels']:
        under = hierarchy.leaves_under(level['node'])
        assert level['probability'] == pytest.approx(
            leaf_probs[under].sum().item(), abs=1e-6)
        assert all(row['node'] == level['node'] for row in level['prototypes'])
    rows = {
        entry['node']: entry
        for entry in data['levels'][-1:] + data['alternatives']
    }
    assert set(rows) == set(range(12))
    row = rows[leaf]['prototypes'][0]
    assert row['prototype'] == prototype
    assert row['best_cell'] == list(cell)
    # distance 0 up to the rounding of ||z||^2 - 2 z.p + ||p||^2
    assert row['min_distance'] < 1e-3
    assert row['similarity'] > math.log(1.001 / 1.1e-3)
    assert row['source'] is None and 'not projected' in row['source_status']

    # contributions == change of the class log-probability and of the
    # class logit when the prototype's last-layer column is zeroed (the same
    # as zeroing its similarity)
    feats, _ = model.extract_feat(inputs[None], test_mode=True)
    with torch.no_grad():
        full = head.forward_explain(feats)['cls_score'][0]
        head.last_layer.weight[:, prototype] = 0
        without = head.forward_explain(feats)['cls_score'][0]
    assert row['logit_contribution'] == pytest.approx(
        (full[leaf] - without[leaf]).item(), abs=1e-4)
    log_prob_change = (full.log_softmax(-1) - without.log_softmax(-1))[leaf]
    assert row['contribution'] == pytest.approx(
        log_prob_change.item(), abs=1e-4)

    # the activation map of the planted prototype peaks in its cell
    out = explainer.head_outputs(inputs)
    maps = clip_activation_maps(
        out['distance_maps'][0][prototype:prototype + 1], 1e-4, (1, 1, 1),
        raw.shape[2:])
    footprint = cell_footprint(cell, (1, 1, 1), out['z'].shape[2:],
                               raw.shape[2:])
    peak = np.unravel_index(int(maps[0].argmax()), tuple(raw.shape[2:]))
    for value, (low, high) in zip(peak, footprint):
        assert low <= value < high


def test_unprojected_model_report_says_so(tiny, toy_data, tmp_path):
    cfg, model, _, _ = tiny
    pipeline, where = find_test_pipeline(cfg)
    assert where == 'test_dataloader.dataset.pipeline'
    explainer = PrototypeExplainer(model, pipeline,
                                   list(cfg.single_clip_pipeline))
    video = osp.join(toy_data.video_root, 'val', 'blue_disk_circle_'
                     'clockwise_0.mp4')
    explanation = explainer.explain(
        video, topk_classes=1, topk_prototypes=1, min_confidence=0.9)
    data = explanation.data
    assert data['num_clips'] == 3
    clip = data['explained_clip']
    predicted = data['prediction']['leaf']
    clip_probs = torch.tensor(data['prediction']['clip_leaf_probabilities'])
    assert clip == int(clip_probs[:, predicted].argmax())
    assert data['projection'] == dict(projected=False)
    assert data['abstain']['min_confidence'] == 0.9
    html = render_html(explanation)
    assert 'have not been projected' in html
    assert 'not projected: the model holds no provenance' in html
    for row in (r for level in data['levels'] for r in level['prototypes']):
        name = row['activation_clip']
        frames = decode_clip(explanation.images[name], tmp_path / 'c.webm')
        assert frames.shape == (16, 224, 224, 3)


# ----------------------------------------------------------------------
# videos
# ----------------------------------------------------------------------
def test_short_and_other_size_videos(tiny, tmp_path):
    cfg, model, _, _ = tiny
    pipeline, _ = find_test_pipeline(cfg)
    explainer = PrototypeExplainer(model, pipeline)
    rng = np.random.default_rng(0)
    short = str(tmp_path / 'short.mp4')
    write_video(short, rng.integers(0, 255, (5, 64, 64, 3), dtype=np.uint8))
    wide = str(tmp_path / 'wide.mp4')
    write_video(
        wide, rng.integers(0, 255, (40, 90, 160, 3), dtype=np.uint8), fps=25)
    assert check_video(short) == 5
    for video, frames in ((short, 5), (wide, 40)):
        data = explainer.explain(video, topk_classes=0, topk_prototypes=1).data
        assert data['video_frames'] == frames
        assert data['clip_size'] == [16, 56, 56]
        assert len(data['frame_inds']) == 16
        assert max(data['frame_inds']) < frames
    # the 5-frame video is looped to fill the 16-frame clip
    assert len(set(data['frame_inds'])) == 16
    short_data = explainer.explain(
        short, topk_classes=0, topk_prototypes=1, render=False).data
    assert sorted(set(short_data['frame_inds'])) == [0, 1, 2, 3, 4]


def test_unreadable_video_is_named(tiny, tmp_path):
    cfg, model, options, folder = tiny
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'this is not a video' * 100)
    with pytest.raises(VideoReadError, match=str(broken)):
        check_video(str(broken))
    with pytest.raises(VideoReadError, match='not found'):
        check_video(str(tmp_path / 'missing.mp4'))

    checkpoint = str(folder / 'untrained.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    cmd = [
        sys.executable, TOOL, CONFIG, checkpoint,
        str(broken), '--out',
        str(tmp_path / 'out'), '--cfg-options'
    ] + [f'{k}={v}' for k, v in options.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr
    assert 'explain.py: error:' in proc.stderr
    assert f'cannot decode video file {broken}' in proc.stderr
