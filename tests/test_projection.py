"""Prototype projection on real toy clips: every prototype becomes exactly
the nearest candidate patch of its own node (Eq. 12), with provenance that
reproduces the patch, for hierarchical and Euclidean heads; pruning."""
import copy
import logging
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch.utils.data import DataLoader, RandomSampler

import hprotopnet_mm  # noqa: F401
import hprotopnet_mm.engine.hooks  # noqa: F401
import hprotopnet_mm.evaluation  # noqa: F401
import hprotopnet_mm.models  # noqa: F401
from conftest import REPO_ROOT, tiny_toy_config
from hprotopnet_mm.engine.projection import (apply_projection, log_missing,
                                             nearest_clips, patches_at,
                                             project_prototypes,
                                             projection_candidates,
                                             prune_decision)
from mmaction.registry import DATASETS, MODELS

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')


def small_config(toy, embedding_file, work_dir, **options):
    """The tiny toy config, projection batches of 5 clips."""
    return tiny_toy_config(toy, embedding_file, work_dir,
                           **{'projection_dataloader.batch_size':
                              5}, **options)


def clip_patch(model, dataset, record, shape, decoded=None):
    """Decode the recorded clip again, run it through the model alone and
    cut the recorded patch out of its feature map (``decoded`` keeps the
    feature maps of clips decoded before)."""
    decoded = {} if decoded is None else decoded
    if record.dataset_index not in decoded:
        sample = dataset[record.dataset_index]
        meta = sample['data_samples'].metainfo
        assert meta['filename'] == record.filename
        assert meta['frame_inds'].tolist() == record.frame_inds
        data = model.data_preprocessor(pseudo_collate([sample]), False)
        with torch.no_grad():
            feats, _ = model.extract_feat(data['inputs'], test_mode=True)
            decoded[record.dataset_index] = model.cls_head.forward_explain(
                feats)['z']
    z = decoded[record.dataset_index][record.view]
    assert list(z.shape[1:]) == record.feature_size
    return patches_at(z, torch.tensor([flat_cell(record)]), shape,
                      record.grid)[0]


def flat_cell(record):
    """The flat index of a record's cell over its grid."""
    (t, h, w), grid = record.cell, record.grid
    return (t * grid[1] + h) * grid[2] + w


def test_runner_projection_gives_training_patches(toy_data, toy_embedding_d4,
                                                  tmp_path):
    """A Runner trains one epoch and projects: every prototype equals
    (torch.equal) the patch its provenance names, of a clip of its node or
    a node under it; the checkpoint keeps prototypes and provenance."""
    cfg = small_config(
        toy_data, toy_embedding_d4, str(tmp_path / 'work'), **{
            'train_cfg.max_epochs': 1,
            'custom_hooks.2.last_layer': dict(iters=1),
            'custom_hooks.2.prune': dict(k=3, min_own=2),
        })
    runner = RUNNERS.build(cfg)
    runner.train()
    model = runner.model
    model.eval()
    head = model.cls_head
    sources = head.prototype_sources
    assert sources.epoch == 1
    assert sources.prototype_shape == [1, 1, 1]
    membership = head.hierarchy.leaf_membership
    dataset = DATASETS.build(copy.deepcopy(cfg.projection_dataloader.dataset))
    assert len(sources.prototypes) == head.num_prototypes == 12 * 2 + 9 * 2
    decoded = {}
    for p, record in enumerate(sources.prototypes):
        node = int(head.prototype_node[p])
        assert record.node == node
        assert record.node_name == head.hierarchy.node_names[node]
        assert record.label_name == head.hierarchy.node_names[record.label]
        assert membership[node, record.label], (p, record)
        assert record.filename.startswith(toy_data.video_root)
        patch = clip_patch(model, dataset, record, (1, 1, 1), decoded)
        assert torch.equal(patch, head.prototype_vectors[p]), p

    # pruning: columns of pruned prototypes are zero, the others are not,
    # and the pruned set is what the k nearest clips say
    _, _, labels = nearest_clips(
        model,
        runner.build_dataloader(cfg.projection_dataloader),
        k=3,
        progress=False)
    expected = prune_decision(labels, projection_candidates(head), 2)
    assert sources.pruned == expected.nonzero().flatten().tolist()
    weight = head.last_layer.weight
    assert (weight[:, expected] == 0).all()
    assert (weight[:, ~expected] != 0).any(dim=0).all()

    # the epoch checkpoint (written after the hook) holds the same state
    checkpoint = torch.load(
        osp.join(cfg.work_dir, 'epoch_1.pth'), weights_only=True)
    state = checkpoint['state_dict']
    assert torch.equal(state['cls_head.prototype_layer.prototype_vectors'],
                       head.prototype_vectors)
    assert state['cls_head._extra_state']['prototype_sources'] == \
        sources.to_plain()
    assert 'projection_step' not in checkpoint['meta']
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1_projected.pth'))
    assert not osp.exists(
        osp.join(cfg.work_dir, 'epoch_1_before_projection.pth'))


def brute_force_ranking(model, dataset, candidates, top=8):
    """For every prototype, the (distance, index, cell) of its ``top``
    nearest candidate patches, nearest first, from the distance maps of
    every clip computed one by one."""
    head = model.cls_head
    keys = [[] for _ in range(head.num_prototypes)]
    for index in range(len(dataset)):
        sample = dataset[index]
        label = int(sample['data_samples'].gt_label)
        data = model.data_preprocessor(pseudo_collate([sample]), False)
        with torch.no_grad():
            feats, _ = model.extract_feat(data['inputs'], test_mode=True)
            maps = head.forward_explain(feats)['distance_maps'][0].flatten(1)
        for p in candidates[:, label].nonzero().flatten().tolist():
            cells = np.arange(maps.shape[1])
            keys[p].append(
                (maps[p].double().numpy(), np.full_like(cells, index), cells))
    ranking = []
    for p_keys in keys:
        distance, index, cell = (np.concatenate(k) for k in zip(*p_keys))
        order = np.lexsort((cell, index, distance))[:top]
        ranking.append([(float(distance[i]), int(index[i]), int(cell[i]))
                        for i in order])
    return ranking


def tiny_model(toy, embedding_file, tmp_path, head_type):
    """An untrained (seeded) tiny recognizer, its projection dataloader and
    the candidates of its prototypes."""
    cfg = small_config(toy, embedding_file, str(tmp_path))
    if head_type == 'ProtoPNetHead':
        cfg.model.cls_head = dict(
            type='ProtoPNetHead',
            num_classes=12,
            in_channels=32,
            proto_channels=16,
            num_prototypes_per_class=2,
            prototype_shape=(1, 2, 2))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.eval()
    dataloader = Runner.build_dataloader(cfg.projection_dataloader, seed=0)
    return model, dataloader, projection_candidates(model.cls_head)


def check_exact_patches(model, dataset, result):
    """Apply the projection; every prototype must equal the patch its
    provenance names, decoded again."""
    head = model.cls_head
    apply_projection(head, result, epoch=0)
    shape = head.prototype_layer.prototype_shape
    decoded = {}
    for p, record in enumerate(head.prototype_sources.prototypes):
        assert record.node == int(head.prototype_node[p])
        assert torch.equal(
            clip_patch(model, dataset, record, shape, decoded),
            head.prototype_vectors[p]), p


@pytest.mark.parametrize('head_type',
                         ['HierarchicalProtoHead', 'ProtoPNetHead'])
def test_search_is_exact_nearest_candidate(toy_data, toy_embedding_d4,
                                           tmp_path, head_type):
    """Without the distinct-patch rule, the streaming search equals a
    brute-force search over all candidate patches, for the hierarchical and
    the Euclidean (flat) head."""
    model, dataloader, candidates = tiny_model(toy_data, toy_embedding_d4,
                                               tmp_path, head_type)
    head = model.cls_head
    if head_type == 'ProtoPNetHead':
        assert torch.equal(
            candidates,
            torch.eye(12, dtype=torch.bool).repeat_interleave(2, dim=0))
    else:
        # a prototype of node k takes clips of k or of the leaves under k
        assert torch.equal(candidates,
                           head.hierarchy.leaf_membership[head.prototype_node])
    result = project_prototypes(
        model, dataloader, progress=False, unique_patches=False)
    ranking = brute_force_ranking(model, dataloader.dataset, candidates)
    for p, keys in enumerate(ranking):
        record = result.records[p]
        assert (record.distance, record.dataset_index,
                flat_cell(record)) == keys[0], p
        assert candidates[p, record.label]
    assert result.found.all() and result.missing == []

    before = head.prototype_vectors.detach().clone()
    check_exact_patches(model, dataloader.dataset, result)
    assert not torch.equal(before, head.prototype_vectors)


@pytest.mark.parametrize('head_type',
                         ['HierarchicalProtoHead', 'ProtoPNetHead'])
def test_prototypes_of_a_node_take_distinct_patches(toy_data, toy_embedding_d4,
                                                    tmp_path, head_type):
    """Two identical prototypes planted in every node land on one patch
    without the distinct-patch rule and on two with it; the rule's result
    is the brute-force greedy choice, and stays exact."""
    model, dataloader, candidates = tiny_model(toy_data, toy_embedding_d4,
                                               tmp_path, head_type)
    head = model.cls_head
    nodes = head.prototype_node.tolist()
    first = {}
    with torch.no_grad():
        for p, node in enumerate(nodes):
            if node in first:  # every prototype of a node equals its first
                head.prototype_vectors[p] = head.prototype_vectors[first[node]]
            first.setdefault(node, p)

    def duplicates(result):
        locations = [(nodes[p], r.location)
                     for p, r in enumerate(result.records)]
        return len(locations) - len(set(locations))

    plain = project_prototypes(
        model, dataloader, progress=False, unique_patches=False)
    assert duplicates(plain) == len(nodes) - len(first)
    distinct = project_prototypes(model, dataloader, progress=False)
    assert duplicates(distinct) == 0

    # the rule: by nearest distance, each takes its nearest untaken patch
    ranking = brute_force_ranking(model, dataloader.dataset, candidates)
    taken = set()
    for p in sorted(range(len(nodes)), key=lambda p: (ranking[p][0][0], p)):
        key = next(k for k in ranking[p] if (nodes[p], k[1:]) not in taken)
        taken.add((nodes[p], key[1:]))
        record = distinct.records[p]
        assert (record.distance, record.dataset_index,
                flat_cell(record)) == key, p
    check_exact_patches(model, dataloader.dataset, distinct)


def test_prototypes_without_candidates_are_reported(toy_data, toy_embedding_d4,
                                                    tmp_path, caplog):
    """A node without training clips leaves its prototypes unchanged, with
    a None record, and the hook's log names them."""
    kept = [
        line for line in open(toy_data.train_list).read().splitlines()
        if int(line.split()[1]) not in (0, 1)
    ]
    ann_file = tmp_path / 'train_without_first_parent.txt'
    ann_file.write_text('\n'.join(kept) + '\n')
    cfg = small_config(toy_data, toy_embedding_d4, str(tmp_path / 'work'))
    cfg.projection_dataloader.dataset.ann_file = str(ann_file)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    head = model.cls_head
    before = head.prototype_vectors.detach().clone()
    dataloader = Runner.build_dataloader(cfg.projection_dataloader, seed=0)
    result = project_prototypes(model, dataloader, progress=False)
    # leaves 0 and 1 are the whole first parent (node 12): no clips for
    # their 2 + 2 prototypes nor for the parent's 2
    parent = head.hierarchy.parent[0].item()
    assert head.hierarchy.leaves_under(parent) == [0, 1]
    missing = [
        p for p in range(head.num_prototypes)
        if int(head.prototype_node[p]) in (0, 1, parent)
    ]
    assert result.missing == missing
    apply_projection(head, result, epoch=3)
    records = head.prototype_sources.prototypes
    for p in range(head.num_prototypes):
        if p in missing:
            assert records[p] is None
            assert torch.equal(head.prototype_vectors[p], before[p])
        else:
            assert records[p].label not in (0, 1)

    with caplog.at_level(logging.WARNING):
        log_missing(head, result, logging.getLogger('test_projection'))
    assert f'{len(missing)} prototype(s) had no candidate clip' in caplog.text
    name = head.hierarchy.node_names[parent]
    assert f"(node '{name}')" in caplog.text


def test_visiting_order_does_not_matter(toy_data, toy_embedding_d4, tmp_path):
    """A sampler with a fixed shuffled order gives the same result (ties go
    by dataset index, not by order); one that reshuffles on every pass is
    refused, because clips could not be matched to dataset indices."""
    cfg = small_config(toy_data, toy_embedding_d4, str(tmp_path))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ordered = project_prototypes(
        model,
        Runner.build_dataloader(cfg.projection_dataloader, seed=0),
        progress=False)
    cfg.projection_dataloader.sampler = dict(
        type='DefaultSampler', shuffle=True)
    shuffled_loader = Runner.build_dataloader(
        cfg.projection_dataloader, seed=0)
    assert [i for b in shuffled_loader.batch_sampler
            for i in b] != list(range(24))
    shuffled = project_prototypes(model, shuffled_loader, progress=False)
    assert torch.equal(ordered.patches, shuffled.patches)
    assert ordered.records == shuffled.records

    dataset = shuffled_loader.dataset
    reshuffling = DataLoader(
        dataset,
        batch_size=4,
        sampler=RandomSampler(dataset),
        collate_fn=pseudo_collate)
    with pytest.raises(ValueError, match='different order on every pass'):
        project_prototypes(model, reshuffling, progress=False)


def test_head_without_prototypes_is_refused(toy_data, toy_embedding_d4,
                                            tmp_path):
    cfg = small_config(toy_data, toy_embedding_d4, str(tmp_path))
    cfg.model.cls_head = dict(type='I3DHead', num_classes=12, in_channels=32)
    model = MODELS.build(cfg.model)
    dataloader = Runner.build_dataloader(cfg.projection_dataloader, seed=0)
    with pytest.raises(TypeError, match='I3DHead.*prototype_layer'):
        project_prototypes(model, dataloader, progress=False)
