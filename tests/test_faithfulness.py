"""Deletion test: occluding the region a prototype points at lowers its
similarity more than occluding random regions of the same size."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from test_explain import CONFIG, make_embedding, tiny_model_options

from hprotopnet_mm.datasets import write_video
from hprotopnet_mm.explain import (PrototypeExplainer, clip_activation_maps,
                                   deletion_faithfulness, explain_split,
                                   high_activation_mask, load_clips,
                                   node_logits, occlude, preprocess,
                                   random_region_masks, read_split_list)
from hprotopnet_mm.models.layers import PrototypeLayer
from mmaction.registry import MODELS


def test_random_regions_keep_shape_and_size():
    mask = torch.zeros(8, 10, 12, dtype=torch.bool)
    mask[2:5, 1:4, 6:11] = True
    masks = random_region_masks(mask, 6, torch.Generator().manual_seed(3))
    again = random_region_masks(mask, 6, torch.Generator().manual_seed(3))
    assert torch.equal(masks, again)
    assert masks.shape == (6, 8, 10, 12)
    assert (masks.flatten(1).sum(1) == mask.sum()).all()
    assert not any(torch.equal(m, mask) for m in masks)


def test_occlusion_fills_only_the_mask():
    clip = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(2, 4, 5, 6, dtype=torch.bool)
    masks[0, 1, 2, 3] = True
    masks[1, :, :2] = True
    mean = occlude(clip, masks, 'mean')
    zero = occlude(clip, masks, 'zero')
    for out, fill in ((mean, clip.mean(dim=(1, 2, 3))), (zero,
                                                         torch.zeros(3))):
        assert torch.equal(out[0][:, 1, 2, 3], fill)
        assert torch.equal(out[1][:, :, :2],
                           fill.view(3, 1, 1, 1).expand(3, 4, 2, 6))
        keep = ~masks[:, None].expand_as(out)
        assert torch.equal(out[keep], clip[None].expand_as(out)[keep])
    with pytest.raises(ValueError, match='fill'):
        occlude(clip, masks, 'noise')


def test_deletion_on_local_features_with_a_planted_object():
    """Features are 4x8x8 average pools of the clip, so every feature cell
    sees only its own voxels; the prototype is the cell of an object."""
    generator = torch.Generator().manual_seed(0)
    clip = 0.1 * torch.randn(3, 16, 64, 64, generator=generator)
    clip[0, 8:12, 16:24, 40:48] += 3.0  # the object: cell (2, 2, 5)
    layer = PrototypeLayer(2, 3, (1, 1, 1), epsilon=1e-4)

    def features(clips):
        return F.avg_pool3d(clips, (4, 8, 8))

    with torch.no_grad():
        z = features(clip[None])[0]
        layer.prototype_vectors[0] = z[:, 2, 2, 5, None, None, None]
        layer.prototype_vectors[1] = z[:, 0, 7, 0, None, None, None]
    membership = torch.eye(2, dtype=torch.bool)

    def score_fn(clips):
        _, _, sims = layer(features(clips))
        return sims, dict(node_logit=node_logits(sims, membership))

    distance_maps = layer.distance_maps(features(clip[None]))[0]
    activations = clip_activation_maps(distance_maps[:1], 1e-4, (1, 1, 1),
                                       (16, 64, 64))
    top = high_activation_mask(activations[0], 95)
    assert top[8:12, 16:24, 40:48].all()  # the object is in the top region
    result = deletion_faithfulness(
        score_fn, clip, [(0, 0)], activations, num_random=5, seed=0)
    again = deletion_faithfulness(
        score_fn, clip, [(0, 0)], activations, num_random=5, seed=0)
    assert result == again
    row = result['prototypes'][0]
    assert row['voxels'] == int(top.sum())
    assert len(row['similarity_drops_random']) == 5
    # the object is gone: the similarity falls from its maximum
    assert row['similarity_drop_top'] > 8
    assert result['similarity_ratio'] > 1
    assert result['similarity_ratio'] == pytest.approx(
        result['similarity_drop_top'] / result['similarity_drop_random'])
    # the logit of the prototype's node is its similarity here
    assert row['node_logit_drop_top'] == pytest.approx(
        row['similarity_drop_top'], abs=1e-4)
    with pytest.raises(ValueError, match='no prototype'):
        deletion_faithfulness(score_fn, clip, [], activations[:0])


@pytest.fixture(scope='module')
def planted(toy_data, tmp_path_factory):
    """An untrained tiny recognizer whose prototypes are all projected onto
    the feature cell of a red square planted in a noise clip, as prototype
    projection would do for a training clip."""
    folder = tmp_path_factory.mktemp('faithfulness')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        tiny_model_options(
            toy_data, make_embedding(toy_data, str(folder / 'embedding.pth'))))
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model)).eval()
    rng = np.random.default_rng(0)
    frames = np.clip(rng.normal(100, 10, (16, 64, 64, 3)), 0,
                     255).astype(np.uint8)
    frames[0:8, 8:22, 36:50] = (230, 30, 30)  # in cell (0, 0, 1) of z
    video = str(folder / 'planted.mp4')
    write_video(video, frames)
    pipeline = list(cfg.single_clip_pipeline)
    explainer = PrototypeExplainer(model, pipeline)
    _, inputs = preprocess(model, load_clips(pipeline, video))
    z = explainer.head_outputs(inputs)['z'][0]
    with torch.no_grad():
        model.cls_head.prototype_vectors[:] = z[None, :, 0, 0, 1, None, None,
                                                None]
    return explainer, video


def test_deletion_on_a_recognizer_projected_onto_the_object(planted):
    explainer, video = planted
    data = explainer.explain(
        video,
        topk_classes=0,
        topk_prototypes=1,
        faithfulness=True,
        faithfulness_options=dict(num_random=5, seed=0),
        render=False).data
    faith = data['faithfulness']
    assert [
        r['best_cell'] for level in data['levels'] for r in level['prototypes']
    ] == [[0, 0, 1]] * 3
    assert len(faith['prototypes']) == 3
    assert faith['scores'] == ['similarity', 'node_log_prob', 'node_logit']
    assert faith['fill'] == 'mean' and faith['total_voxels'] == 16 * 56 * 56
    assert faith['similarity_drop_top'] > faith['similarity_drop_random'] > 0
    assert faith['similarity_ratio'] > 1


def test_batch_mode_summarizes_the_split(planted, toy_data):
    explainer, _ = planted
    entries = read_split_list(toy_data.ambiguous_list, toy_data.video_root)
    assert all(len(labels) == 2 for _, labels in entries)
    results = explain_split(
        explainer,
        entries[:2],
        topk_prototypes=1,
        min_confidence=0.6,
        faithfulness=True,
        faithfulness_options=dict(num_random=2, seed=0),
        progress=False)
    videos, summary = results['videos'], results['summary']
    assert summary['num_videos'] == 2
    hierarchy = explainer.hierarchy
    for video, (path, labels) in zip(videos, entries[:2]):
        assert video['video'] == path and video['labels'] == labels
        answer = video['abstain']['node']
        assert video['abstain_covers_labels'] == (
            answer >= 0 and all(
                bool(hierarchy.leaf_membership[answer, label])
                for label in labels))
    ratios = [
        v['faithfulness']['similarity_ratio'] for v in videos
        if v['faithfulness']['similarity_ratio'] is not None
    ]
    assert summary['similarity_ratio_undefined'] == 2 - len(ratios)
    if ratios:
        assert summary['similarity_ratio_mean'] == pytest.approx(
            np.mean(ratios))
    top = np.mean([v['faithfulness']['similarity_drop_top'] for v in videos])
    assert summary['similarity_drop_top_mean'] == pytest.approx(top)
    # per level: one reported prototype per node of the predicted path
    for video in videos:
        by_level = video['faithfulness']['by_level']
        assert list(by_level) == ['grandparent', 'parent', 'leaf']
        assert set(
            by_level['leaf']) == {'similarity', 'node_log_prob', 'node_logit'}
    leaf = [
        v['faithfulness']['by_level']['leaf']['node_log_prob'] for v in videos
    ]
    random = np.mean([d['drop_random'] for d in leaf])
    expected = np.mean([d['drop_top'] for d in leaf]) / random \
        if random > 0 else None
    assert summary['node_log_prob_ratio_pooled_by_level']['leaf'] == (
        pytest.approx(expected) if expected is not None else None)
    assert sum(summary['abstain']['level_fractions'].values()) == \
        pytest.approx(1)
    with pytest.raises(FileNotFoundError, match='nowhere.txt'):
        read_split_list(osp.join(toy_data.root, 'nowhere.txt'), '.')
