import importlib.util
import math
import os.path as osp
import zipfile

import geoopt
import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from hprotopnet_mm.hierarchy import (HIERARCHY_FILES_DIR, ClassHierarchy,
                                     HierarchyError, HyperbolicEmbedding,
                                     embedding_quality, hop_distance_spearman,
                                     load_embedding, parent_reconstruction,
                                     save_embedding)
from hprotopnet_mm.hierarchy.embedding_plot import radial_rescale, recentred
from hprotopnet_mm.hierarchy.hyperbolic_embedding import (
    embed_hierarchy, fan_layout, leaf_separation_loss, parent_ranking_loss,
    poincare_pairwise_distance, sibling_separation_loss,
    train_hyperbolic_embedding)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FILES = HIERARCHY_FILES_DIR


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'embed_hierarchy', osp.join(REPO, 'tools', 'embed_hierarchy.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toy_rows():
    """3 top-level nodes, 6 parents, 15 leaves (1 to 4 per parent)."""
    shape = dict(X=dict(A=4, B=2), Y=dict(C=3, D=1), Z=dict(E=3, F=2))
    return [(f'{p.lower()}{i}', p, g) for g, parents in shape.items()
            for p, n in parents.items() for i in range(n)]


@pytest.fixture(scope='module')
def toy():
    rows = toy_rows()
    labels = [r[0] for r in rows][::-1]  # label order != row order
    return ClassHierarchy(('leaf', 'parent', 'grandparent'), rows, labels)


# ----------------------------------------------------------------------
# the equations
# ----------------------------------------------------------------------
def test_pairwise_distance_is_eq3():
    generator = torch.Generator().manual_seed(0)
    ball = geoopt.PoincareBall(c=1.0)
    x = ball.expmap0(
        torch.randn(5, 4, generator=generator, dtype=torch.float64))
    y = ball.expmap0(
        torch.randn(3, 4, generator=generator, dtype=torch.float64))
    d = poincare_pairwise_distance(ball, x, y)
    assert d.shape == (5, 3)
    for i in range(5):
        for j in range(3):
            u, v = x[i], y[j]
            eq3 = torch.acosh(1 + 2 * (u - v).pow(2).sum() /
                              ((1 - u.pow(2).sum()) * (1 - v.pow(2).sum())))
            assert d[i, j].item() == pytest.approx(eq3.item(), rel=1e-9)
    # curvature c: the ball of radius 1/sqrt(c), distances scaled alike
    small = geoopt.PoincareBall(c=0.25)
    assert torch.allclose(
        poincare_pairwise_distance(small, 2 * x, 2 * y), 2 * d)


def test_parent_ranking_loss_is_eq2():
    dist = torch.tensor([[0.0, 1.0, 2.0, 4.0], [1.0, 0.0, 3.0, 0.5]])
    parent = torch.tensor([1, 3])
    mask = torch.tensor([[False, True, True, True], [True, False, True, True]])
    loss = parent_ranking_loss(dist, parent, mask)
    edge0 = -math.log(
        math.exp(-1) / (math.exp(-1) + math.exp(-2) + math.exp(-4)))
    edge1 = -math.log(
        math.exp(-0.5) / (math.exp(-1) + math.exp(-3) + math.exp(-0.5)))
    assert loss.item() == pytest.approx((edge0 + edge1) / 2, rel=1e-6)


def test_leaf_separation_loss_is_eq4():
    """Eq. 4 as the paper writes it: 1^T (A A^T - I) 1 over the leaf
    embeddings scaled to unit length."""
    # leaves 0-2 at 0, 90 and 180 degrees (any norm), node 3 not a leaf
    points = torch.tensor([[0.3, 0.0], [0.0, 0.01], [-0.5, 0.0], [0.1, 0.2]],
                          requires_grad=True)
    loss = leaf_separation_loss(points, torch.tensor([0, 1, 2]))
    # cosines of the ordered pairs: (0, 1) 0, (0, 2) -1, (1, 2) 0, twice
    assert loss.item() == pytest.approx(-2.0)
    loss.backward()
    assert points.grad[3].abs().sum() == 0  # only leaves count
    a = torch.nn.functional.normalize(points[:3].detach(), dim=1)
    assert loss.item() == pytest.approx(
        (torch.ones(3) @ (a @ a.t() - torch.eye(3)) @ torch.ones(3)).item())


def test_embedding_with_eq4_records_its_loss(toy):
    emb = embed_hierarchy(toy, 4, epochs=20, separation_loss='eq4')
    assert emb.meta['settings']['separation_loss'] == 'eq4'
    # the last step's separation loss is Eq. 4 (of the points before it)
    assert -toy.num_leaves <= emb.meta['final_losses']['loss_sibling'] < \
        toy.num_leaves * (toy.num_leaves - 1)
    default = embed_hierarchy(toy, 4, epochs=20)
    assert default.meta['settings']['separation_loss'] == 'ranking'
    assert not torch.equal(emb.embeddings, default.embeddings)
    with pytest.raises(ValueError, match='separation_loss must be one of'):
        embed_hierarchy(toy, 4, epochs=1, separation_loss='paper')


def test_sibling_separation_loss_is_a_sibling_ranking():
    # nodes 0, 1 siblings; 2 a non-sibling of both; 3 has no siblings
    dist = torch.tensor([[0.0, 1.0, 3.0, 9.0], [1.0, 0.0, 2.0, 9.0],
                         [3.0, 2.0, 0.0, 9.0], [9.0, 9.0, 9.0, 0.0]])
    sib = torch.zeros(4, 4, dtype=torch.bool)
    sib[0, 1] = sib[1, 0] = True
    non = torch.zeros(4, 4, dtype=torch.bool)
    non[0, 2] = non[1, 2] = non[2, 0] = non[2, 1] = True
    loss = sibling_separation_loss(dist, sib, non)
    pair01 = -math.log(math.exp(-1) / (math.exp(-1) + math.exp(-3)))
    pair10 = -math.log(math.exp(-1) / (math.exp(-1) + math.exp(-2)))
    assert loss.item() == pytest.approx((pair01 + pair10) / 2, rel=1e-6)
    # no sibling pair with a non-sibling: zero, with a gradient path
    assert sibling_separation_loss(dist, sib, torch.zeros_like(non)) == 0


def test_losses_give_finite_gradients_through_geoopt(toy):
    ball = geoopt.PoincareBall(c=0.5)
    x = geoopt.ManifoldParameter(
        ball.expmap0(torch.randn(toy.num_nodes, 3) * 1e-3), manifold=ball)
    d = poincare_pairwise_distance(ball, x, x)  # zero diagonal included
    n = toy.num_nodes
    parent = toy.parent.clamp(min=0)
    mask = ~torch.eye(n, dtype=torch.bool)
    same = toy.parent[:, None] == toy.parent[None]
    level = toy.node_levels[:, None] == toy.node_levels[None]
    loss = parent_ranking_loss(d, parent, mask) + sibling_separation_loss(
        d, same & mask, level & ~same)
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ----------------------------------------------------------------------
# training, determinism, the file
# ----------------------------------------------------------------------
def test_toy_tree_embeds_perfectly(toy):
    emb = embed_hierarchy(toy, 8, epochs=150)
    quality = emb.meta['quality']
    assert quality['parent_map'] == 1.0
    assert quality['parent_mean_rank'] == 1.0
    assert quality['num_parent_queries'] == toy.num_nodes - 3
    assert quality['hop_spearman'] > 0.5
    norms = quality['mean_norm_per_level']
    assert norms['leaf'] > norms['parent'] > norms['grandparent']
    assert emb.embeddings.dtype == torch.float32
    assert emb.meta['settings']['init'] == 'random'


def test_same_seed_same_bytes_and_weights_only_load(toy, tmp_path):
    paths = [str(tmp_path / name) for name in ('a.pth', 'sub/b.pth')]
    for path in paths:
        save_embedding(path, embed_hierarchy(toy, 4, epochs=30, seed=3))
    with open(paths[0], 'rb') as f, open(paths[1], 'rb') as g:
        assert f.read() == g.read()
    save_embedding(paths[1], embed_hierarchy(toy, 4, epochs=30, seed=4))
    with open(paths[0], 'rb') as f, open(paths[1], 'rb') as g:
        assert f.read() != g.read()

    payload = torch.load(paths[0], weights_only=True)
    assert payload['node_names'] == toy.node_names
    assert payload['embeddings'].shape == (toy.num_nodes, 4)
    emb = load_embedding(paths[0])
    assert emb.node_levels == toy.node_levels.tolist()
    assert emb.level_names == list(toy.level_names)
    assert emb.node_parents == toy.parent.tolist()
    assert emb.meta['settings']['seed'] == 3
    assert emb.curvature == 0.02
    emb.check_matches(toy, paths[0])


def test_training_restores_torch_state(toy):
    threads = torch.get_num_threads()
    train_hyperbolic_embedding(toy, 3, epochs=2)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()


def test_check_matches_catches_other_trees(toy):
    emb = embed_hierarchy(toy, 3, epochs=1)
    rows = toy_rows()
    labels = toy.node_names[:toy.num_leaves]
    swapped = labels[:]
    swapped[2], swapped[5] = swapped[5], swapped[2]
    other_order = ClassHierarchy(toy.level_names, rows, swapped)
    with pytest.raises(HierarchyError) as info:
        emb.check_matches(other_order, 'emb.pth')
    assert f'emb.pth: node 2 is {labels[2]!r}' in str(info.value)
    assert f'but {labels[5]!r}' in str(info.value)

    moved = [(leaf, 'B' if leaf == 'a0' else p, g) for leaf, p, g in rows]
    other_parent = ClassHierarchy(toy.level_names, moved, labels)
    with pytest.raises(HierarchyError, match="'a0' has parent 'A'"):
        emb.check_matches(other_parent, 'emb.pth')

    fewer = ClassHierarchy(toy.level_names, rows[:-1],
                           [name for name in labels if name != rows[-1][0]])
    with pytest.raises(HierarchyError, match='emb.pth: node 0'):
        emb.check_matches(fewer, 'emb.pth')

    renamed = ClassHierarchy(('leaf', 'group', 'grandparent'), rows, labels)
    with pytest.raises(HierarchyError, match='embedding levels'):
        emb.check_matches(renamed, 'emb.pth')


def test_file_checks(toy, tmp_path):
    emb = embed_hierarchy(toy, 3, epochs=1)
    emb.meta['bad'] = np.float32(1.0)
    with pytest.raises(TypeError, match='meta.bad'):
        save_embedding(str(tmp_path / 'x.pth'), emb)
    torch.save({'x': 1}, str(tmp_path / 'other.pth'))
    with pytest.raises(HierarchyError, match='not a hyperbolic embedding'):
        load_embedding(str(tmp_path / 'other.pth'))
    with pytest.raises(ValueError, match='outside the Poincare ball'):
        HyperbolicEmbedding.from_hierarchy(toy, emb.embeddings * 100, 0.02)


# ----------------------------------------------------------------------
# the quality report
# ----------------------------------------------------------------------
def test_parent_reconstruction_counts_ranks(toy):
    n = toy.num_nodes
    dist = torch.full((n, n), 10.0)
    dist.fill_diagonal_(0)
    nodes = (toy.parent >= 0).nonzero().flatten()
    dist[nodes, toy.parent[nodes]] = 1.0
    report = parent_reconstruction(toy, dist)
    assert report == dict(
        parent_map=1.0, parent_mean_rank=1.0, num_parent_queries=len(nodes))
    # node 0: two other nodes closer than its parent, one tied with it
    others = [i for i in range(1, n) if i != toy.parent[0]][:3]
    dist[0, others[:2]] = 0.5
    dist[0, others[2]] = 1.0
    report = parent_reconstruction(toy, dist)
    q = len(nodes)
    assert report['parent_mean_rank'] == pytest.approx((q - 1 + 4) / q)
    assert report['parent_map'] == pytest.approx((q - 1 + 1 / 4) / q)


def test_hop_spearman_and_its_ceiling(toy):
    hop = toy.hop_distance.double()
    n = toy.num_nodes
    i, j = torch.triu_indices(toy.num_leaves, toy.num_leaves, offset=1)
    # distinct distances in perfect hop order reach exactly the ceiling
    dist = torch.zeros(n, n, dtype=torch.float64)
    jitter = torch.arange(len(i), dtype=torch.float64) * 1e-6
    order = torch.argsort(hop[i, j], stable=True)
    dist[i[order], j[order]] = hop[i[order], j[order]] + jitter
    result = hop_distance_spearman(toy, dist)
    assert result['hop_spearman'] == pytest.approx(result['hop_spearman_max'])
    assert result['hop_spearman_max'] < 1
    assert result['tied_leaf_pairs'] == 0
    # saturated (tied) distances can beat the ceiling; the report says so
    dist[i, j] = hop[i, j]
    tied = hop_distance_spearman(toy, dist)
    assert tied['hop_spearman'] == pytest.approx(1.0)
    assert tied['tied_leaf_pairs'] == 1.0
    # the ceiling is the Spearman score of tied hops against 0, 1, 2, ...
    hops = np.sort(hop[i, j].numpy())
    assert result['hop_spearman_max'] == pytest.approx(
        spearmanr(hops, np.arange(len(hops))).statistic)


def test_quality_report_on_fan_layout(toy):
    ball = geoopt.PoincareBall(c=1.0)
    points = fan_layout(toy, ball)
    assert points.shape == (toy.num_nodes, 2)
    assert points.norm(dim=1).max() < 1
    report = embedding_quality(toy, points, 1.0)
    assert report['ball_radius'] == 1.0
    norms = report['mean_norm_per_level']
    assert list(norms) == ['leaf', 'parent', 'grandparent']
    assert norms['leaf'] > norms['parent'] > norms['grandparent']
    assert 0 < report['parent_map'] <= 1


def test_disk_insets_show_every_leaf(toy):
    """In the 2-D disk the leaves of a parent sit almost on each other at
    the rim; in the parent's inset (the disk moved to the parent, radial
    rescale) they lie apart, away from the parent, at their true angles."""
    curvature = 0.02
    points = train_hyperbolic_embedding(toy, 2, curvature=curvature)
    ball = geoopt.PoincareBall(c=curvature)
    disk = points * math.sqrt(curvature)
    smallest_gap = []
    for parent in toy.level_node_ids(1).tolist():
        children = (toy.parent == parent).nonzero().flatten()
        inset = radial_rescale(
            recentred(points, points[parent], curvature), curvature)
        assert inset[parent].norm() < 1e-12  # the parent is the centre
        assert (inset[children].norm(dim=1) > 0.1).all()
        assert (inset.norm(dim=1) <= 1 + 1e-9).all()
        # the same angles as the disk moved to the parent (an isometry)
        moved = recentred(points, points[parent], curvature)
        torch.testing.assert_close(
            torch.nn.functional.normalize(inset[children], dim=1),
            torch.nn.functional.normalize(moved[children], dim=1))
        # radius = hyperbolic distance from the parent, scaled alike
        ratio = inset[children].norm(dim=1) / ball.dist(
            points[parent], points[children])
        torch.testing.assert_close(ratio, ratio[:1].expand_as(ratio))
        if len(children) > 1:
            smallest_gap.append((torch.pdist(disk[children]).min().item(),
                                 torch.pdist(inset[children]).min().item()))
    # in the disk, siblings are less than 1% of its radius apart (their
    # markers overlap); in the insets more than 20%, over 50 times farther
    assert smallest_gap and all(
        disk < 0.01 and inset > 0.2 and inset > 50 * disk
        for disk, inset in smallest_gap)


# ----------------------------------------------------------------------
# UCF-101 through the command-line tool
# ----------------------------------------------------------------------
def ucf_args(tmp_path, dim, *extra):
    return [
        osp.join(FILES, 'ucf101_hierarchy.csv'),
        osp.join(FILES, 'ucf101_label_map.txt'), '--dim',
        str(dim), '--out',
        str(tmp_path / f'ucf_d{dim}.pth'), *extra
    ]


def check_ucf_file(path, dim):
    hierarchy = ClassHierarchy.from_files(
        osp.join(FILES, 'ucf101_hierarchy.csv'),
        osp.join(FILES, 'ucf101_label_map.txt'))
    emb = load_embedding(path)
    emb.check_matches(hierarchy, path)
    assert emb.embeddings.shape == (126, dim)
    quality = emb.meta['quality']
    assert quality['parent_map'] == 1.0
    assert quality['parent_mean_rank'] == 1.0
    norms = quality['mean_norm_per_level']
    assert norms['leaf'] > norms['parent'] > norms['grandparent']
    # the stored report is the report of the stored points
    assert embedding_quality(hierarchy, emb.embeddings,
                             emb.curvature) == quality
    return emb


def test_tool_ucf101_dim2_with_plot(tmp_path, capsys):
    png = str(tmp_path / 'disk.png')
    load_tool().main(ucf_args(tmp_path, 2, '--plot', png))
    printed = capsys.readouterr().out
    assert 'parent reconstruction MAP: 1.0000 (mean rank 1.0000' in printed
    assert 'trained in' in printed
    emb = check_ucf_file(str(tmp_path / 'ucf_d2.pth'), 2)
    assert emb.meta['settings']['init'] == 'fan'
    # in 2-D the tree fills the disk up to the boundary, where many leaf
    # distances saturate; the report has to say so
    assert emb.meta['quality']['tied_leaf_pairs'] > 0
    assert emb.embeddings.dtype == torch.float64
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_tool_ucf101_dim300(tmp_path, capsys):
    # 120 of the default 200 epochs keep the test short; the shipped file
    # (default settings) is checked in test_shipped_embeddings
    load_tool().main(ucf_args(tmp_path, 300, '--epochs', '120'))
    assert 'MAP: 1.0000' in capsys.readouterr().out
    emb = check_ucf_file(str(tmp_path / 'ucf_d300.pth'), 300)
    quality = emb.meta['quality']
    assert quality['hop_spearman'] >= 0.9 * quality['hop_spearman_max']
    assert quality['tied_leaf_pairs'] == 0
    assert emb.meta['hierarchy_file'] == 'ucf101_hierarchy.csv'
    assert emb.embeddings.dtype == torch.float32


@pytest.mark.parametrize('name, num_nodes', [('ucf101', 126),
                                             ('activitynet', 244)])
def test_shipped_embeddings(name, num_nodes):
    path = osp.join(FILES, f'{name}_embedding_d300.pth')
    hierarchy = ClassHierarchy.from_files(
        osp.join(FILES, f'{name}_hierarchy.csv'),
        osp.join(FILES, f'{name}_label_map.txt'))
    emb = load_embedding(path)
    emb.check_matches(hierarchy, path)
    assert emb.embeddings.shape == (num_nodes, 300)
    assert emb.meta['settings']['dim'] == 300
    quality = emb.meta['quality']
    assert quality['parent_map'] == quality['parent_mean_rank'] == 1.0
    assert quality['hop_spearman'] >= 0.95 * quality['hop_spearman_max']
    assert quality['tied_leaf_pairs'] == 0
    norms = quality['mean_norm_per_level']
    assert norms['leaf'] > norms['parent'] > norms['grandparent']
    assert embedding_quality(hierarchy, emb.embeddings,
                             emb.curvature) == quality
    # the archive inside does not carry the file's name
    assert all(
        n.startswith('archive/') for n in zipfile.ZipFile(path).namelist())
