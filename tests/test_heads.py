"""The prototype and hyperbolic heads: structure, logits, numerical safety,
predictions, checkpoints, full recognizers and build-time errors."""
import math

import pytest
import torch
from geoopt import PoincareBall

import hprotopnet_mm  # noqa: F401
import hprotopnet_mm.models  # noqa: F401
from hprotopnet_mm.hierarchy import (ClassHierarchy, HyperbolicEmbedding,
                                     save_embedding)
from hprotopnet_mm.models import (BasePrototypeHead, HierarchicalProtoHead,
                                  HyperbolicLogits, PatchSource, ProtoPNetHead,
                                  PrototypeSources)
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import register_all_modules

register_all_modules()

LEAVES = ['run', 'walk', 'swim', 'dive', 'cook']
TREE = """# three levels
leaf,parent,grandparent
run,Legs,Sport
walk,Legs,Sport
swim,Water,Sport
dive,Water,Sport
cook,Kitchen,Home
"""
# leaves 0-4, parents Legs 5, Water 6, Kitchen 7, grandparents Sport 8,
# Home 9
NUM_NODES = 10
CURVATURE = 0.7
DIM = 6


def write_tree(folder, tree=TREE, leaves=LEAVES, name='tree'):
    hierarchy_file = folder / f'{name}.csv'
    hierarchy_file.write_text(tree)
    label_map_file = folder / f'{name}_labels.txt'
    label_map_file.write_text('\n'.join(leaves) + '\n')
    return str(hierarchy_file), str(label_map_file)


def write_embedding(path, hierarchy, curvature=CURVATURE, scale=0.4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    tangent = scale * torch.randn(
        hierarchy.num_nodes, DIM, generator=generator)
    points = PoincareBall(c=curvature).expmap0(tangent)
    save_embedding(
        str(path),
        HyperbolicEmbedding.from_hierarchy(hierarchy, points, curvature))
    return str(path)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('hierarchy')
    hierarchy_file, label_map_file = write_tree(folder)
    hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map_file)
    embedding_file = write_embedding(folder / 'emb.pth', hierarchy)
    return dict(
        folder=folder,
        hierarchy=hierarchy,
        hierarchy_file=hierarchy_file,
        label_map_file=label_map_file,
        embedding_file=embedding_file)


@pytest.fixture(scope='module')
def boundary_embedding_file(files):
    # Leaves and ancestors at 1 - 1e-5 of the radius of the ball.
    hierarchy = files['hierarchy']
    torch.manual_seed(8)
    directions = torch.nn.functional.normalize(
        torch.randn(hierarchy.num_nodes, DIM), dim=1)
    points = directions * (1 - 1e-5) / math.sqrt(CURVATURE)
    path = str(files['folder'] / 'boundary.pth')
    save_embedding(
        path, HyperbolicEmbedding.from_hierarchy(hierarchy, points, CURVATURE))
    return path


def head_cfg(files, **kwargs):
    cfg = dict(
        type='HierarchicalProtoHead',
        num_classes=len(LEAVES),
        in_channels=16,
        hierarchy_file=files['hierarchy_file'],
        label_map_file=files['label_map_file'],
        embedding_file=files['embedding_file'],
        proto_channels=8,
        num_prototypes_per_class=2)
    cfg.update(kwargs)
    return cfg


def samples(labels):
    return [ActionDataSample().set_gt_label(label) for label in labels]


# --------------------------------------------------------------- structure
def test_plain_and_cpg_prototypes(files):
    plain = MODELS.build(head_cfg(files))
    assert isinstance(plain, HierarchicalProtoHead)
    assert plain.num_prototypes == 10
    assert plain.prototype_node.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert plain.prototype_vectors.shape == (10, 8, 1, 1, 1)
    assert plain.last_layer.weight.shape == (DIM, 10)
    assert plain.last_layer.bias is None

    cpg = MODELS.build(
        head_cfg(
            files, num_prototypes_per_ancestor=3, prototype_shape=(2, 1, 2)))
    expected = [n for n in range(5) for _ in range(2)]
    expected += [n for n in range(5, NUM_NODES) for _ in range(3)]
    assert cpg.prototype_node.tolist() == expected
    assert cpg.prototype_vectors.shape == (25, 8, 2, 1, 2)
    assert isinstance(cpg.prototype_vectors, torch.nn.Parameter)
    identity = cpg.prototype_identity
    assert identity.shape == (25, NUM_NODES)
    assert identity.dtype == torch.float32
    assert (identity.argmax(1) == cpg.prototype_node).all()
    assert (identity.sum(1) == 1).all()
    assert cpg.prototype_level.tolist() == [0] * 10 + [1] * 9 + [2] * 6
    # The embeddings are buffers of the head, not parameters.
    names = {name for name, _ in cpg.named_parameters()}
    assert not any('embedding' in name for name in names)
    assert 'hyperbolic.node_embeddings' in dict(cpg.named_buffers())
    assert cpg.hyperbolic.leaf_embeddings.shape == (5, DIM)
    assert math.isclose(cpg.hyperbolic.curvature, CURVATURE, rel_tol=1e-9)


def test_forward_explain_shapes(files):
    torch.manual_seed(0)
    head = MODELS.build(
        head_cfg(
            files, num_prototypes_per_ancestor=1, prototype_shape=(2, 2, 1)))
    x = torch.randn(3, 16, 4, 3, 3)
    out = head.forward_explain(x)
    assert out['cls_score'].shape == (3, 5)
    assert out['z'].shape == (3, 8, 4, 3, 3)
    assert out['distance_maps'].shape == (3, 15, 3, 2, 3)
    assert out['min_distances'].shape == (3, 15)
    assert out['similarities'].shape == (3, 15)
    assert out['embedding'].shape == (3, DIM)
    torch.testing.assert_close(out['min_distances'],
                               out['distance_maps'].flatten(2).amin(2))
    torch.testing.assert_close(head(x), out['cls_score'])
    torch.testing.assert_close(head.forward_features(x), out['z'])
    torch.testing.assert_close(
        head.distance_maps(out['z']), out['distance_maps'])
    # A tuple of backbone stages: the last one is used.
    torch.testing.assert_close(
        head((torch.randn(3, 4, 1, 1, 1), x)), out['cls_score'])


@pytest.mark.parametrize('head_type',
                         ['HierarchicalProtoHead', 'ProtoPNetHead'])
def test_centring_grid(files, head_type):
    """``centring_grid`` centres Z on its running mean per position
    (trained in train mode, saved with the weights); without it Z is the
    add-on output, as in the paper."""
    torch.manual_seed(0)
    cfg = head_cfg(files) if head_type == 'HierarchicalProtoHead' else dict(
        type=head_type,
        num_classes=len(LEAVES),
        in_channels=16,
        proto_channels=8,
        num_prototypes_per_class=2)
    cfg = dict(cfg, centring_grid=(4, 3, 3))
    head = MODELS.build(cfg)
    x = torch.randn(6, 16, 4, 3, 3)
    head.train()
    z = head.forward_features(x)
    add_on = head.add_on_layers(x)
    torch.testing.assert_close(z, add_on - add_on.mean(0))
    state = head.state_dict()
    torch.testing.assert_close(state['position_centring.running_mean'],
                               add_on.mean(0).detach())
    head.eval()
    again = MODELS.build(cfg)
    again.load_state_dict(state)
    again.eval()
    torch.testing.assert_close(again(x), head(x))

    plain = MODELS.build(dict(cfg, centring_grid=None))
    assert plain.position_centring is None
    assert not any('position_centring' in k for k in plain.state_dict())
    torch.testing.assert_close(
        plain.forward_features(x), plain.add_on_layers(x))


def test_shipped_ucf101_hierarchy(tmp_path):
    # 101 leaves, 20 parents, 5 grandparents: 10 prototypes per node.
    from hprotopnet_mm.hierarchy import HIERARCHY_FILES_DIR
    hierarchy_file = f'{HIERARCHY_FILES_DIR}/ucf101_hierarchy.csv'
    label_map_file = f'{HIERARCHY_FILES_DIR}/ucf101_label_map.txt'
    hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map_file)
    head = MODELS.build(
        dict(
            type='HierarchicalProtoHead',
            num_classes=101,
            in_channels=32,
            hierarchy_file=hierarchy_file,
            label_map_file=label_map_file,
            embedding_file=write_embedding(tmp_path / 'ucf.pth', hierarchy),
            num_prototypes_per_ancestor=10))
    assert head.prototype_vectors.shape == (1260, 128, 1, 1, 1)
    assert head.prototype_identity.sum(0).tolist() == [10.0] * 126
    losses = head.loss(torch.randn(2, 32, 2, 2, 2), samples([0, 100]))
    assert 'loss_separation_grandparent' in losses


@pytest.mark.parametrize('per_ancestor', [0, 3])
def test_last_layer_starts_from_node_connections(per_ancestor):
    # Column p of the last layer is logmap0 of prototype p's node embedding,
    # shared among the node's prototypes and the levels that have any: a
    # clip that matches exactly the prototypes of one leaf and of its
    # ancestors (similarity 1) is classified as that leaf, for every leaf of
    # the shipped UCF-101 tree and embedding.
    from hprotopnet_mm.hierarchy import HIERARCHY_FILES_DIR
    files = dict(
        hierarchy_file=f'{HIERARCHY_FILES_DIR}/ucf101_hierarchy.csv',
        label_map_file=f'{HIERARCHY_FILES_DIR}/ucf101_label_map.txt',
        embedding_file=f'{HIERARCHY_FILES_DIR}/ucf101_embedding_d300.pth')
    head = MODELS.build(
        dict(
            head_cfg(files, num_classes=101, proto_channels=4),
            num_prototypes_per_ancestor=per_ancestor))
    hierarchy = head.hierarchy
    ball = head.hyperbolic.ball
    tangents = ball.logmap0(head.hyperbolic.node_embeddings.double()).float()
    levels = 1 if per_ancestor == 0 else hierarchy.num_levels
    weight = head.last_layer.weight.detach()
    for p in (0, 1, head.num_prototypes - 1):
        node = int(head.prototype_node[p])
        count = int((head.prototype_node == node).sum())
        assert torch.allclose(weight[:, p], tangents[node] / (count * levels))
    chains = hierarchy.leaf_ancestors  # (K, levels), leaf first
    similarities = torch.stack([
        torch.isin(head.prototype_node, chain).float() for chain in chains
    ])  # (K, P)
    logits = head.logits_from_similarities(similarities)
    assert logits.argmax(1).tolist() == list(range(101))
    # the normal initialisation starts near the origin instead
    normal = MODELS.build(
        dict(
            head_cfg(files, num_classes=101, proto_channels=4),
            last_layer_init='normal'))
    assert normal.last_layer.weight.abs().max() < 0.01
    with pytest.raises(ValueError, match='last_layer_init'):
        MODELS.build(head_cfg(files, last_layer_init='zeros'))


# ----------------------------------------------------------------- logits
def test_logits_are_geoopt_distances(files):
    torch.manual_seed(1)
    head = MODELS.build(head_cfg(files, temperature=0.3))
    out = head.forward_explain(torch.randn(4, 16, 2, 2, 2))
    # Same ball, built independently of the head.
    ball = PoincareBall(c=CURVATURE)
    h = ball.expmap0(head.last_layer(out['similarities']))
    torch.testing.assert_close(out['embedding'], h, rtol=1e-5, atol=1e-6)
    leaves = head.hyperbolic.leaf_embeddings
    for i in range(4):
        for k in range(5):
            expected = -ball.dist(h[i], leaves[k]) / 0.3
            torch.testing.assert_close(
                out['cls_score'][i, k], expected, rtol=1e-5, atol=1e-5)


def test_clipped_points_never_lie_beyond_the_leaves(files):
    from hprotopnet_mm.models.layers.hyperbolic_logits import clip_tangent
    torch.manual_seed(3)
    head = MODELS.build(head_cfg(files, clip_radius='leaves'))
    ball = head.hyperbolic.ball
    leaves = head.hyperbolic.leaf_embeddings.double()
    radius = ball.logmap0(leaves).norm(dim=1).max().item()
    assert head.hyperbolic.clip_radius == pytest.approx(radius)
    v = torch.randn(64, leaves.shape[1]) * torch.logspace(-2, 3, 64)[:, None]
    logits, h = head.hyperbolic(v)
    # |h| never beyond the farthest leaf; short vectors are left alone
    assert h.double().norm(dim=1).max() <= leaves.norm(dim=1).max() + 1e-6
    short = v.norm(dim=1) < radius
    torch.testing.assert_close(
        h[short], ball.expmap0(v[short]), rtol=1e-5, atol=1e-6)
    # a long vector keeps its direction and lands at the clip radius
    long = ~short
    torch.testing.assert_close(
        torch.nn.functional.normalize(ball.logmap0(h[long]), dim=1),
        torch.nn.functional.normalize(v[long], dim=1),
        rtol=1e-4,
        atol=1e-5)
    torch.testing.assert_close(
        ball.logmap0(h[long]).norm(dim=1),
        torch.full((int(long.sum()), ), radius, dtype=torch.float32),
        rtol=1e-4,
        atol=1e-4)
    torch.testing.assert_close(
        clip_tangent(v, 2.0).norm(dim=1),
        v.norm(dim=1).clamp(max=2.0))
    # gradients stay finite, at the origin too
    w = torch.cat([v[:3], torch.zeros(1, v.shape[1])]).requires_grad_()
    head.hyperbolic(w)[0].sum().backward()
    assert torch.isfinite(w.grad).all()
    for bad in ('far', 0.0, -1.0, True):
        with pytest.raises(ValueError, match='clip_radius must be None'):
            MODELS.build(head_cfg(files, clip_radius=bad))


def test_leaf_embeddings_are_the_files(files):
    head = MODELS.build(head_cfg(files))
    from hprotopnet_mm.hierarchy import load_embedding
    embedding = load_embedding(files['embedding_file'])
    torch.testing.assert_close(head.hyperbolic.node_embeddings,
                               embedding.embeddings.float())


# ---------------------------------------------------- numerical stability
def near_boundary_logits(curvature=1.3):
    torch.manual_seed(2)
    directions = torch.nn.functional.normalize(torch.randn(7, 5), dim=1)
    radius = (1 - 1e-6) / math.sqrt(curvature)
    return HyperbolicLogits(directions * radius, 4, curvature, 0.5)


@pytest.mark.parametrize('scale', [0.0, 1e-30, 1.0, 1e4, 1e12])
def test_finite_near_boundary_and_extreme_norms(scale):
    module = near_boundary_logits()
    v = (torch.randn(3, 5) * scale).requires_grad_()
    logits, h = module(v)
    assert torch.isfinite(logits).all() and torch.isfinite(h).all()
    assert (h.norm(dim=1) < 1 / math.sqrt(1.3)).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1,
                                                            3])).backward()
    assert torch.isfinite(v.grad).all()


def test_points_on_the_leaf_embeddings_are_finite():
    module = near_boundary_logits()
    ball = module.ball
    v = ball.logmap0(module.leaf_embeddings[:3].clone()).requires_grad_()
    logits, _ = module(v)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert torch.isfinite(v.grad).all()


def autocast_dtypes():
    dtypes = [torch.bfloat16]
    try:
        with torch.autocast('cpu', dtype=torch.float16):
            torch.nn.functional.linear(torch.ones(1, 2), torch.ones(2, 2))
        dtypes.append(torch.float16)
    except RuntimeError:
        pass
    return dtypes


@pytest.mark.parametrize('dtype', autocast_dtypes())
@pytest.mark.parametrize('scale', [0.0, 1.0, 1e6])
@pytest.mark.parametrize('boundary', [False, True])
def test_head_gradients_under_autocast(files, boundary_embedding_file, dtype,
                                       scale, boundary):
    torch.manual_seed(3)
    embedding_file = (
        boundary_embedding_file if boundary else files['embedding_file'])
    head = MODELS.build(
        head_cfg(
            files,
            embedding_file=embedding_file,
            num_prototypes_per_ancestor=1))
    with torch.no_grad():
        head.last_layer.weight.mul_(scale)
    x = torch.randn(4, 16, 2, 2, 2)
    with torch.autocast('cpu', dtype=dtype):
        losses = head.loss(x, samples([0, 1, 2, 4]))
        out = head.forward_explain(x)
    assert out['cls_score'].dtype == torch.float32
    assert out['min_distances'].dtype == torch.float32
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    for name, param in head.named_parameters():
        if param.grad is not None:
            assert torch.isfinite(param.grad).all(), name
    assert head.prototype_vectors.grad.abs().sum() > 0


def test_hyperbolic_head_under_autocast(files):
    head = MODELS.build(
        dict(
            type='HyperbolicHead',
            num_classes=5,
            in_channels=16,
            hierarchy_file=files['hierarchy_file'],
            label_map_file=files['label_map_file'],
            embedding_file=files['embedding_file']))
    x = torch.randn(2, 16, 2, 2, 2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = head.loss(x, samples([3, 4]))
    assert torch.isfinite(losses['loss_cls'])
    losses['loss_cls'].backward()
    assert torch.isfinite(head.fc_cls.weight.grad).all()


# -------------------------------------------------------------- loss head
def test_loss_terms(files):
    torch.manual_seed(4)
    head = MODELS.build(
        head_cfg(
            files,
            num_prototypes_per_ancestor=1,
            loss_cls=dict(type='HyperbolicProtoLoss', l1_coef=1e-3)))
    x = torch.randn(3, 16, 2, 2, 2)
    losses = head.loss(x, samples([0, 2, 4]))
    for level in ('leaf', 'parent', 'grandparent'):
        assert f'loss_cluster_{level}' in losses
        assert f'loss_separation_{level}' in losses
    assert {'loss_cls', 'loss_l1', 'top1_acc', 'top5_acc'} <= set(losses)
    out = head.forward_explain(x)
    labels = torch.tensor([0, 2, 4])
    torch.testing.assert_close(
        losses['loss_cls'],
        torch.nn.functional.cross_entropy(out['cls_score'], labels))
    # Grandparent level: clip 0 (Sport) vs Home's prototype (index 14).
    d = out['min_distances']
    sep = (d[0, 14] + d[1, 14] + d[2, 13]) / 3
    torch.testing.assert_close(losses['separation_grandparent'], sep)
    torch.testing.assert_close(losses['loss_l1'],
                               1e-3 * head.last_layer.weight.abs().sum())

    plain = MODELS.build(head_cfg(files))
    losses = plain.loss(x, samples([0, 2, 4]))
    assert not any('parent' in key for key in losses)


def test_protopnet_head(files):
    torch.manual_seed(5)
    head = MODELS.build(
        dict(
            type='ProtoPNetHead',
            num_classes=4,
            in_channels=16,
            proto_channels=8,
            num_prototypes_per_class=3,
            prototype_shape=(1, 2, 2)))
    assert isinstance(head, ProtoPNetHead)
    weight = head.last_layer.weight
    assert weight.shape == (4, 12) and head.last_layer.bias is None
    own = head.prototype_identity.t().bool()
    assert (weight[own] == 1).all() and (weight[~own] == -0.5).all()
    x = torch.randn(2, 16, 2, 3, 3)
    out = head.forward_explain(x)
    torch.testing.assert_close(out['cls_score'],
                               out['similarities'] @ weight.t())
    losses = head.loss(x, samples([1, 3]))
    assert set(k for k in losses if k.startswith('loss')) == {
        'loss_cls', 'loss_cluster_leaf', 'loss_separation_leaf', 'loss_l1'
    }
    # L1 on the off-class weights only: 4 * 12 - 12 entries of 0.5.
    assert math.isclose(
        losses['loss_l1'].item(), 1e-4 * 36 * 0.5, rel_tol=1e-6)
    torch.testing.assert_close(
        losses['loss_cls'],
        torch.nn.functional.cross_entropy(out['cls_score'],
                                          torch.tensor([1, 3])))


# ------------------------------------------------------------ predictions
@pytest.mark.parametrize('average_clips', ['prob', 'score', None])
def test_level_scores(files, average_clips):
    torch.manual_seed(6)
    head = MODELS.build(
        head_cfg(
            files, num_prototypes_per_ancestor=1, average_clips=average_clips))
    x = torch.randn(4, 16, 2, 2, 2)  # 2 samples x 2 clips
    results = head.predict(x, samples([0, 3]))
    logits = head(x).view(2, 2, 5)
    if average_clips == 'prob':
        leaf = logits.softmax(-1).mean(1)
    elif average_clips == 'score':
        leaf = logits.mean(1).softmax(-1)
    else:
        leaf = logits.softmax(-1)
    hierarchy = files['hierarchy']
    for i, sample in enumerate(results):
        scores = sample.pred_level_scores
        assert list(scores) == ['leaf', 'parent', 'grandparent']
        torch.testing.assert_close(scores['leaf'], leaf[i])
        # Legs = run + walk, Water = swim + dive, Kitchen = cook
        parent = torch.stack([
            leaf[i][..., 0] + leaf[i][..., 1],
            leaf[i][..., 2] + leaf[i][..., 3], leaf[i][..., 4]
        ], -1)
        torch.testing.assert_close(scores['parent'], parent)
        torch.testing.assert_close(
            scores['grandparent'],
            torch.stack([parent[..., :2].sum(-1), parent[..., 2]], -1))
        for level, score in scores.items():
            assert score.shape[-1] == len(
                hierarchy.level_node_ids(hierarchy.level_names.index(level)))
            torch.testing.assert_close(
                score.sum(-1), torch.ones(score.shape[:-1]))
        expected_shape = (5, ) if average_clips else (2, 5)
        assert sample.pred_score.shape == expected_shape


# ------------------------------------------------------------ checkpoints
def test_prototype_sources_round_trip(files, tmp_path):
    """Provenance is saved as plain types (weights-only loadable) and
    restored as dataclasses; the plain dicts of older checkpoints (records
    without node names) load too; anything else is refused, naming it."""
    head = MODELS.build(head_cfg(files))
    assert head.prototype_sources is None
    record = dict(
        dataset_index=4,
        filename='a.mp4',
        frame_inds=[3, 7],
        num_views=1,
        view=0,
        label=2,
        cell=[0, 1, 1],
        grid=[2, 3, 3],
        feature_size=[2, 3, 3],
        distance=0.25,
        node=2)  # as earlier versions wrote it
    old = dict(
        epoch=12,
        prototype_shape=[1, 1, 1],
        prototypes=[record, None],
        pruned=[1])
    head.set_extra_state(dict(prototype_sources=old))
    sources = head.prototype_sources
    assert isinstance(sources, PrototypeSources)
    assert sources.epoch == 12 and sources.pruned == [1]
    assert sources.prototypes[1] is None
    assert sources.prototypes[0] == PatchSource(**record)
    assert sources.prototypes[0].node_name is None
    assert sources.prototypes[0].location == (4, 0, 0, 1, 1)
    assert sources.to_plain() == dict(
        old, prototypes=[dict(record, node_name=None, label_name=None), None])

    path = tmp_path / 'head.pth'
    torch.save(head.state_dict(), path)
    fresh = MODELS.build(head_cfg(files))
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert fresh.prototype_sources == sources
    torch.testing.assert_close(fresh.prototype_vectors, head.prototype_vectors)

    # None is saved too and overwrites earlier provenance.
    torch.save(MODELS.build(head_cfg(files)).state_dict(), path)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert fresh.prototype_sources is None

    with pytest.raises(TypeError, match='must be a PrototypeSources'):
        head.prototype_sources = dict(old)
    with pytest.raises(ValueError, match='prototype_sources'):
        head.set_extra_state(['not', 'a', 'dict'])
    bad = dict(old, prototypes=[dict(record, box=[0, 1])])
    with pytest.raises(
            ValueError,
            match=r'prototype_sources\["prototypes"\]\[0\]: '
            r"missing keys \[\], unknown keys \['box'\]"):
        head.set_extra_state(dict(prototype_sources=bad))


def test_flat_head_is_a_one_level_hierarchy():
    """ProtoPNet's head offers the hierarchical heads' interface: its
    classes are a one-level hierarchy."""
    head = MODELS.build(
        dict(
            type='ProtoPNetHead',
            num_classes=3,
            in_channels=4,
            proto_channels=4,
            num_prototypes_per_class=2))
    assert isinstance(head, BasePrototypeHead)
    hierarchy = head.hierarchy
    assert hierarchy.level_names == ('leaf', )
    assert hierarchy.node_names == ['class 0', 'class 1', 'class 2']
    assert torch.equal(hierarchy.leaf_membership, torch.eye(3).bool())
    assert hierarchy.hop_distance.tolist() == [[0, 2, 2], [2, 0, 2], [2, 2, 0]]
    assert head.prototype_level.tolist() == [0] * 6
    assert 'prototype_level' not in head.state_dict()


# ------------------------------------------------------------ recognizers
def recognizer(files, backbone, in_channels, head=None):
    head = head or head_cfg(
        files,
        in_channels=in_channels,
        num_prototypes_per_ancestor=2,
        average_clips='prob')
    return MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=backbone,
            cls_head=head,
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCTHW')))


def random_batch(num_clips, size):
    """Two samples (labels 1 and 4) of ``num_clips`` random 8-frame
    clips."""
    return dict(
        inputs=[
            torch.randint(0, 255, (num_clips, 3, 8, size, size)).float()
            for _ in range(2)
        ],
        data_samples=samples([1, 4]))


def run_recognizer(model, size=32):
    torch.manual_seed(7)
    model.init_weights()
    train = random_batch(1, size)
    model.train()
    losses = model(**model.data_preprocessor(train, True), mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    head_grad = model.cls_head.last_layer.weight.grad if hasattr(
        model.cls_head, 'last_layer') else model.cls_head.fc_cls.weight.grad
    assert torch.isfinite(head_grad).all()
    model.eval()
    test = random_batch(2, size)
    with torch.no_grad():
        results = model.test_step(test)
    for sample in results:
        assert sample.pred_score.shape == (5, )
        assert 0 <= sample.pred_label.item() < 5
        if hasattr(sample, 'pred_level_scores'):
            for score in sample.pred_level_scores.values():
                torch.testing.assert_close(score.sum(), torch.tensor(1.0))
    return losses, results


def test_recognizer_resnet3d(files):
    backbone = dict(
        type='ResNet3d',
        depth=18,
        base_channels=16,
        pretrained=None,
        pretrained2d=False)
    model = recognizer(files, backbone, 128)
    losses, results = run_recognizer(model)
    assert 'loss_separation_grandparent' in losses
    assert set(
        results[0].pred_level_scores) == {'leaf', 'parent', 'grandparent'}


def test_recognizer_x3d(files):
    backbone = dict(type='X3D', gamma_w=0.5, gamma_b=1.0, gamma_d=1.0)
    model = recognizer(files, backbone, 128)
    losses, _ = run_recognizer(model)
    assert 'loss_cluster_parent' in losses


def test_recognizer_baselines(files):
    backbone = dict(
        type='ResNet3d',
        depth=18,
        base_channels=16,
        pretrained=None,
        pretrained2d=False)
    hyperbolic = dict(
        type='HyperbolicHead',
        num_classes=5,
        in_channels=128,
        hierarchy_file=files['hierarchy_file'],
        label_map_file=files['label_map_file'],
        embedding_file=files['embedding_file'],
        dropout_ratio=0.5,
        average_clips='prob')
    _, results = run_recognizer(recognizer(files, backbone, 128, hyperbolic))
    assert set(
        results[0].pred_level_scores) == {'leaf', 'parent', 'grandparent'}
    protopnet = dict(
        type='ProtoPNetHead',
        num_classes=5,
        in_channels=128,
        proto_channels=8,
        num_prototypes_per_class=2,
        prototype_shape=(2, 1, 1),
        average_clips='score')
    losses, _ = run_recognizer(recognizer(files, backbone, 128, protopnet))
    assert 'loss_l1' in losses


# ------------------------------------------------------- build-time errors
def test_error_num_classes(files):
    with pytest.raises(
            ValueError,
            match=r'num_classes=4 but .*tree.csv.* '
            r'has 5 leaf classes'):
        MODELS.build(head_cfg(files, num_classes=4))


def test_error_embedding_mismatch(files, tmp_path):
    # Same tree, other label order: the embedding's leaves are out of order.
    hierarchy_file, label_map_file = write_tree(
        tmp_path, leaves=['walk', 'run', 'swim', 'dive', 'cook'], name='other')
    with pytest.raises(ValueError, match=r'emb.pth: node 0'):
        MODELS.build(
            head_cfg(
                files,
                hierarchy_file=hierarchy_file,
                label_map_file=label_map_file))


def test_error_curvature(files):
    with pytest.raises(
            ValueError, match=r'curvature=1.0 differs from the '
            r'curvature 0.7'):
        MODELS.build(head_cfg(files, curvature=1.0))
    with pytest.raises(ValueError, match='curvature must be positive'):
        MODELS.build(head_cfg(files, curvature=-0.7))
    head = MODELS.build(head_cfg(files, curvature=0.7))
    assert math.isclose(head.hyperbolic.curvature, 0.7, rel_tol=1e-9)


@pytest.mark.parametrize('value', [0, -1, 2.5])
def test_error_prototypes_per_class(files, value):
    with pytest.raises(ValueError, match='num_prototypes_per_class'):
        MODELS.build(head_cfg(files, num_prototypes_per_class=value))
    with pytest.raises(ValueError, match='num_prototypes_per_class'):
        MODELS.build(
            dict(
                type='ProtoPNetHead',
                num_classes=3,
                in_channels=4,
                num_prototypes_per_class=value))


def test_error_prototypes_per_ancestor(files):
    with pytest.raises(ValueError, match='num_prototypes_per_ancestor'):
        MODELS.build(head_cfg(files, num_prototypes_per_ancestor=-1))


@pytest.mark.parametrize('shape', [(1, 1), (0, 1, 1), (1, 1, 1, 1),
                                   (1, 1.5, 1)])
def test_error_prototype_shape(files, shape):
    with pytest.raises(
            ValueError, match='HierarchicalProtoHead: prototype_shape'):
        MODELS.build(head_cfg(files, prototype_shape=shape))


def test_error_loss_levels(files, tmp_path):
    with pytest.raises(ValueError, match=r'tree.csv has 3 levels'):
        MODELS.build(
            head_cfg(
                files,
                loss_cls=dict(
                    type='HyperbolicProtoLoss',
                    cluster_coefs=(0.8, 0.5),
                    separation_coefs=(0.08, 0.11))))
    with pytest.raises(TypeError, match='loss_cls must be a'):
        MODELS.build(head_cfg(files, loss_cls=dict(type='CrossEntropyLoss')))
    # A deeper tree takes one coefficient per level.
    tree = 'leaf,l1,l2,l3\na,A,X,R\nb,B,X,R\nc,C,Y,R\n'
    hierarchy_file, label_map_file = write_tree(
        tmp_path, tree=tree, leaves=['a', 'b', 'c'], name='deep')
    hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map_file)
    embedding_file = write_embedding(tmp_path / 'deep.pth', hierarchy)
    head = MODELS.build(
        head_cfg(
            files,
            num_classes=3,
            hierarchy_file=hierarchy_file,
            label_map_file=label_map_file,
            embedding_file=embedding_file,
            num_prototypes_per_ancestor=1,
            loss_cls=dict(
                type='HyperbolicProtoLoss',
                cluster_coefs=(1, 1, 1, 1),
                separation_coefs=(1, 1, 1, 1))))
    losses = head.loss(torch.randn(2, 16, 1, 1, 1), samples([0, 2]))
    assert 'loss_cluster_l3' in losses
    # A single top node (R): no separation at that level.
    assert 'loss_separation_l3' not in losses
    assert 'loss_separation_l2' in losses


def test_error_features_too_small(files):
    head = MODELS.build(head_cfg(files, prototype_shape=(2, 2, 2)))
    with pytest.raises(ValueError, match='smaller than the prototype shape'):
        head(torch.randn(1, 16, 4, 1, 1))
