"""Prototype projection on real toy clips: every prototype becomes exactly
the nearest candidate patch of its own node (Eq. 12), with provenance that
reproduces the patch, for hierarchical and Euclidean heads; pruning."""
import copy
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch.utils.data import DataLoader, RandomSampler

import hprotopnet_mm  # noqa: F401
import hprotopnet_mm.engine.hooks  # noqa: F401
import hprotopnet_mm.evaluation  # noqa: F401
import hprotopnet_mm.models  # noqa: F401
from conftest import REPO_ROOT, tiny_model_options
from hprotopnet_mm.engine.projection import (apply_projection, log_missing,
                                             nearest_clips, patches_at,
                                             project_prototypes,
                                             projection_candidates,
                                             prune_decision)
from hprotopnet_mm.hierarchy import (ClassHierarchy, HyperbolicEmbedding,
                                     save_embedding,
                                     train_hyperbolic_embedding)
from mmaction.registry import DATASETS, MODELS

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')


@pytest.fixture(scope='module')
def embedding_file(toy_data, tmp_path_factory):
    hierarchy = ClassHierarchy.from_files(toy_data.hierarchy,
                                          toy_data.label_map)
    points = train_hyperbolic_embedding(
        hierarchy, dim=4, curvature=1.0, epochs=30)
    path = str(tmp_path_factory.mktemp('embedding') / 'toy_d4.pth')
    save_embedding(path,
                   HyperbolicEmbedding.from_hierarchy(hierarchy, points, 1.0))
    return path


def small_config(toy, embedding_file, work_dir, **options):
    """The toy CPG config on the test data with a tiny network, no
    validation, and ``options`` merged last."""
    cfg = Config.fromfile(CONFIG)
    data = dict(
        ann_file=toy.train_list, data_prefix=dict(video=toy.video_root))
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'train_dataloader.dataset': data,
        'train_dataloader.batch_size': 8,
        'train_dataloader.num_workers': 0,
        'projection_dataloader.dataset': data,
        'projection_dataloader.batch_size': 5,
        'projection_dataloader.num_workers': 0,
        **tiny_model_options(toy, embedding_file),
        'val_cfg': None,
        'val_dataloader': None,
        'val_evaluator': None,
        'default_hooks.logger.interval': 1,
        **options
    })
    return cfg


def clip_patch(model, dataset, record, shape):
    """Decode the recorded clip again, run it through the model alone and
    cut the recorded patch out of its feature map."""
    sample = dataset[record['dataset_index']]
    assert sample['data_samples'].metainfo['filename'] == record['filename']
    assert sample['data_samples'].metainfo['frame_inds'].tolist() == \
        record['frame_inds']
    data = model.data_preprocessor(pseudo_collate([sample]), False)
    with torch.no_grad():
        feats, _ = model.extract_feat(data['inputs'], test_mode=True)
        z = model.cls_head.forward_explain(feats)['z'][record['view']]
    assert list(z.shape[1:]) == record['feature_size']
    grid = record['grid']
    cell = (record['cell'][0] * grid[1] + record['cell'][1]) * grid[2] + \
        record['cell'][2]
    return patches_at(z, torch.tensor([cell]), shape, grid)[0]


def test_runner_projection_gives_training_patches(toy_data, embedding_file,
                                                  tmp_path):
    """A Runner trains one epoch and projects: every prototype equals
    (torch.equal) the patch its provenance names, of a clip of its node or
    a node under it; the checkpoint keeps prototypes and provenance."""
    cfg = small_config(
        toy_data, embedding_file, str(tmp_path / 'work'), **{
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
    assert sources['epoch'] == 1
    assert sources['prototype_shape'] == [1, 1, 1]
    membership = head.hierarchy.leaf_membership
    dataset = DATASETS.build(copy.deepcopy(cfg.projection_dataloader.dataset))
    assert len(sources['prototypes']) == head.num_prototypes == 12 * 2 + 9 * 2
    for p, record in enumerate(sources['prototypes']):
        node = int(head.prototype_node[p])
        assert record['node'] == node
        assert record['node_name'] == head.hierarchy.node_names[node]
        assert membership[node, record['label']], (p, record)
        assert toy_data.train_list and record['filename'].startswith(
            toy_data.video_root)
        patch = clip_patch(model, dataset, record, (1, 1, 1))
        assert torch.equal(patch, head.prototype_vectors[p]), p

    # pruning: columns of pruned prototypes are zero, the others are not,
    # and the pruned set is what the k nearest clips say
    _, _, labels = nearest_clips(
        model,
        runner.build_dataloader(cfg.projection_dataloader),
        k=3,
        progress=False)
    expected = prune_decision(labels, projection_candidates(head), 2)
    assert sources['pruned'] == expected.nonzero().flatten().tolist()
    weight = head.last_layer.weight
    assert (weight[:, expected] == 0).all()
    assert (weight[:, ~expected] != 0).any(dim=0).all()

    # the epoch checkpoint (written after the hook) holds the same state
    checkpoint = torch.load(
        osp.join(cfg.work_dir, 'epoch_1.pth'), weights_only=True)
    state = checkpoint['state_dict']
    assert torch.equal(state['cls_head.prototype_layer.prototype_vectors'],
                       head.prototype_vectors)
    assert state['cls_head._extra_state']['prototype_sources'] == sources
    assert checkpoint['prototype_projection'] == dict(pending=None)
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1_projected.pth'))
    assert not osp.exists(
        osp.join(cfg.work_dir, 'epoch_1_before_projection.pth'))


def brute_force_nearest(model, dataset, candidates):
    """For every prototype, (distance, index, cell) of the nearest candidate
    patch, by computing every clip's distance maps one by one."""
    head = model.cls_head
    best = [None] * head.num_prototypes
    for index in range(len(dataset)):
        sample = dataset[index]
        label = int(sample['data_samples'].gt_label)
        data = model.data_preprocessor(pseudo_collate([sample]), False)
        with torch.no_grad():
            feats, _ = model.extract_feat(data['inputs'], test_mode=True)
            maps = head.forward_explain(feats)['distance_maps'][0]
        for p in range(head.num_prototypes):
            if not candidates[p, label]:
                continue
            flat = maps[p].flatten()
            for cell, distance in enumerate(flat.tolist()):
                key = (distance, index, cell)
                if best[p] is None or key < best[p]:
                    best[p] = key
    return best


@pytest.mark.parametrize('head_type',
                         ['HierarchicalProtoHead', 'ProtoPNetHead'])
def test_search_is_exact_nearest_candidate(toy_data, embedding_file, tmp_path,
                                           head_type):
    """The streaming search equals a brute-force search over all candidate
    patches, for the hierarchical and the Euclidean (flat) head."""
    cfg = small_config(toy_data, embedding_file, str(tmp_path))
    if head_type == 'ProtoPNetHead':
        cfg.model.cls_head = dict(
            type='ProtoPNetHead',
            num_classes=12,
            in_channels=32,
            proto_channels=16,
            num_prototypes_per_class=2,
            prototype_shape=(1, 2, 2),
            loss_cls=dict(type='ProtoPNetLoss'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.eval()
    head = model.cls_head
    candidates = projection_candidates(head)
    if head_type == 'ProtoPNetHead':
        assert torch.equal(
            candidates,
            torch.eye(12, dtype=torch.bool).repeat_interleave(2, dim=0))
    else:
        # a prototype of node k takes clips of k or of the leaves under k
        assert torch.equal(candidates,
                           head.hierarchy.leaf_membership[head.prototype_node])
    dataloader = Runner.build_dataloader(cfg.projection_dataloader, seed=0)
    result = project_prototypes(model, dataloader, progress=False)
    dataset = dataloader.dataset
    best = brute_force_nearest(model, dataset, candidates)
    for p, (distance, index, cell) in enumerate(best):
        record = result.records[p]
        grid = record['grid']
        flat = (record['cell'][0] * grid[1] + record['cell'][1]) * grid[2] \
            + record['cell'][2]
        assert (record['distance'], record['dataset_index'],
                flat) == (distance, index, cell), p
        assert candidates[p, record['label']]
    assert result.found.all() and result.missing == []

    before = head.prototype_vectors.detach().clone()
    apply_projection(head, result, epoch=0)
    shape = head.prototype_layer.prototype_shape
    for p, record in enumerate(head.prototype_sources['prototypes']):
        assert record['node'] == int(head.prototype_node[p])
        assert torch.equal(
            clip_patch(model, dataset, record, shape),
            head.prototype_vectors[p])
    assert not torch.equal(before, head.prototype_vectors)


def test_prototypes_without_candidates_are_reported(toy_data, embedding_file,
                                                    tmp_path, caplog):
    """A node without training clips leaves its prototypes unchanged, with
    a None record, and the hook's log names them."""
    kept = [
        line for line in open(toy_data.train_list).read().splitlines()
        if int(line.split()[1]) not in (0, 1)
    ]
    ann_file = tmp_path / 'train_without_first_parent.txt'
    ann_file.write_text('\n'.join(kept) + '\n')
    cfg = small_config(toy_data, embedding_file, str(tmp_path / 'work'))
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
    records = head.prototype_sources['prototypes']
    for p in range(head.num_prototypes):
        if p in missing:
            assert records[p] is None
            assert torch.equal(head.prototype_vectors[p], before[p])
        else:
            assert records[p]['label'] not in (0, 1)

    with caplog.at_level(logging.WARNING):
        log_missing(head, result, logging.getLogger('test_projection'))
    assert f'{len(missing)} prototype(s) had no candidate clip' in caplog.text
    name = head.hierarchy.node_names[parent]
    assert f"(node '{name}')" in caplog.text


def test_visiting_order_does_not_matter(toy_data, embedding_file, tmp_path):
    """A sampler with a fixed shuffled order gives the same result (ties go
    by dataset index, not by order); one that reshuffles on every pass is
    refused, because clips could not be matched to dataset indices."""
    cfg = small_config(toy_data, embedding_file, str(tmp_path))
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


def test_head_without_prototypes_is_refused(toy_data, embedding_file,
                                            tmp_path):
    cfg = small_config(toy_data, embedding_file, str(tmp_path))
    cfg.model.cls_head = dict(type='I3DHead', num_classes=12, in_channels=32)
    model = MODELS.build(cfg.model)
    dataloader = Runner.build_dataloader(cfg.projection_dataloader, seed=0)
    with pytest.raises(TypeError, match='I3DHead.*prototype_layer'):
        project_prototypes(model, dataloader, progress=False)
