"""Loss terms of HyperbolicProtoLoss and ProtoPNetLoss on hand-computed
examples."""
import math

import pytest
import torch

import hprotopnet_mm  # noqa: F401
from hprotopnet_mm.models.losses import (HyperbolicProtoLoss, ProtoPNetLoss,
                                         cluster_cost, last_layer_l1,
                                         level_prototype_masks,
                                         separation_cost)
from mmaction.registry import MODELS

# Leaves 0-3; parent 4 = {0, 1}, parent 5 = {2, 3}.
# Prototypes: two of leaf 0, one of each other leaf, one of each parent.
PROTOTYPE_NODE = torch.tensor([0, 0, 1, 2, 3, 4, 5])
PROTOTYPE_LEVEL = torch.tensor([0, 0, 0, 0, 0, 1, 1])
LABELS = torch.tensor([0, 3])
LABEL_NODES = torch.tensor([[0, 4], [3, 5]])
# Clip 0 is closest to the prototype of its own parent (index 5).
MIN_DISTANCES = torch.tensor([[3.0, 2.0, 5.0, 7.0, 6.0, 0.5, 4.0],
                              [1.0, 9.0, 8.0, 2.5, 3.5, 6.0, 1.5]])
LOGITS = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.0, 1.0, 0.5, 1.5]])


def hand_cross_entropy(logits, labels):
    total = 0.0
    for row, label in zip(logits.tolist(), labels.tolist()):
        total += -row[label] + math.log(sum(math.exp(v) for v in row))
    return total / len(labels)


def test_registered():
    assert MODELS.get('HyperbolicProtoLoss') is HyperbolicProtoLoss
    assert MODELS.get('ProtoPNetLoss') is ProtoPNetLoss
    loss = MODELS.build(dict(type='HyperbolicProtoLoss'))
    assert loss.cluster_coefs == (0.8, 0.5, 0.3)
    assert loss.separation_coefs == (0.08, 0.11, 0.13)
    assert loss.l1_coef == 0


def test_masks_exclude_own_ancestors():
    own, other = level_prototype_masks(PROTOTYPE_NODE, PROTOTYPE_LEVEL,
                                       LABEL_NODES, 0)
    assert own.tolist() == [[1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0]]
    # Leaf level: other leaves only; never the parents' prototypes.
    assert other.tolist() == [[0, 0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0, 0]]
    own, other = level_prototype_masks(PROTOTYPE_NODE, PROTOTYPE_LEVEL,
                                       LABEL_NODES, 1)
    assert own.tolist() == [[0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1]]
    assert other.tolist() == [[0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0]]


def test_costs_by_hand():
    own, other = level_prototype_masks(PROTOTYPE_NODE, PROTOTYPE_LEVEL,
                                       LABEL_NODES, 0)
    assert cluster_cost(MIN_DISTANCES, own).item() == (2.0 + 3.5) / 2
    # Clip 0's closest prototype (0.5) is its own parent's: not separated.
    assert separation_cost(MIN_DISTANCES, other).item() == (5.0 + 1.0) / 2
    own, other = level_prototype_masks(PROTOTYPE_NODE, PROTOTYPE_LEVEL,
                                       LABEL_NODES, 1)
    assert cluster_cost(MIN_DISTANCES, own).item() == (0.5 + 1.5) / 2
    assert separation_cost(MIN_DISTANCES, other).item() == (4.0 + 6.0) / 2


def test_total_loss_by_hand():
    loss = HyperbolicProtoLoss(
        cluster_coefs=(0.8, 0.5), separation_coefs=(0.08, 0.11), l1_coef=0.01)
    weight = torch.tensor([[1.0, -2.0, 0.0, 0.5, 0.0, 0.0, -1.0],
                           [0.0, 0.0, 3.0, 0.0, -0.5, 1.0, 0.0]])
    losses = loss(
        LOGITS,
        LABELS,
        MIN_DISTANCES,
        prototype_node=PROTOTYPE_NODE,
        prototype_level=PROTOTYPE_LEVEL,
        label_nodes=LABEL_NODES,
        last_layer_weight=weight,
        level_names=('leaf', 'parent'))
    expected = dict(
        loss_cls=hand_cross_entropy(LOGITS, LABELS),
        loss_cluster_leaf=0.8 * 2.75,
        loss_separation_leaf=-0.08 * 3.0,
        loss_cluster_parent=0.5 * 1.0,
        loss_separation_parent=-0.11 * 5.0,
        loss_l1=0.01 * 9.0,
        cluster_leaf=2.75,
        separation_leaf=3.0,
        cluster_parent=1.0,
        separation_parent=5.0)
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert math.isclose(losses[key].item(), value, rel_tol=1e-6), key
    assert not losses['cluster_leaf'].requires_grad


def test_separation_gradient_spares_own_parent():
    distances = MIN_DISTANCES.clone().requires_grad_()
    loss = HyperbolicProtoLoss(
        cluster_coefs=(0.0, 0.0), separation_coefs=(0.08, 0.0))
    losses = loss(LOGITS, LABELS, distances, PROTOTYPE_NODE, PROTOTYPE_LEVEL,
                  LABEL_NODES)
    losses['loss_separation_level0'].backward()
    expected = torch.zeros_like(MIN_DISTANCES)
    expected[0, 2] = expected[1, 0] = -0.08 / 2
    torch.testing.assert_close(distances.grad, expected)


def protopnet_costs(min_distances, prototype_class, labels, num_classes):
    """ProtoPNet's published formulation with the max-distance trick."""
    identity = torch.nn.functional.one_hot(prototype_class,
                                           num_classes).float()
    max_dist = min_distances.max() + 1
    correct = identity[:, labels].t()
    inverted = ((max_dist - min_distances) * correct).max(dim=1).values
    cluster = (max_dist - inverted).mean()
    inverted = ((max_dist - min_distances) * (1 - correct)).max(dim=1).values
    separation = (max_dist - inverted).mean()
    return cluster, separation


def test_plain_variant_is_protopnet():
    torch.manual_seed(0)
    num_classes, per_class = 5, 3
    prototype_class = torch.arange(num_classes).repeat_interleave(per_class)
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    min_distances = torch.rand(6, num_classes * per_class) * 10
    logits = torch.randn(6, num_classes)
    cluster, separation = protopnet_costs(min_distances, prototype_class,
                                          labels, num_classes)
    # A three-level hierarchy with prototypes for leaves only.
    parents = torch.tensor([5, 5, 6, 6, 6])
    label_nodes = torch.stack([labels, parents[labels], labels * 0 + 7], 1)
    losses = HyperbolicProtoLoss()(
        logits,
        labels,
        min_distances,
        prototype_class,
        torch.zeros_like(prototype_class),
        label_nodes,
        level_names=('leaf', 'parent', 'grandparent'))
    assert set(losses) == {
        'loss_cls', 'loss_cluster_leaf', 'loss_separation_leaf',
        'cluster_leaf', 'separation_leaf'
    }
    torch.testing.assert_close(losses['cluster_leaf'], cluster)
    torch.testing.assert_close(losses['separation_leaf'], separation)
    # ProtoPNetLoss: the same costs with ProtoPNet's coefficients.
    weight = torch.randn(num_classes, num_classes * per_class)
    mask = 1 - torch.nn.functional.one_hot(prototype_class,
                                           num_classes).float().t()
    losses = ProtoPNetLoss()(
        logits,
        labels,
        min_distances,
        prototype_class,
        torch.zeros_like(prototype_class),
        labels[:, None],
        last_layer_weight=weight,
        last_layer_mask=mask)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    expected = (
        torch.nn.functional.cross_entropy(logits, labels) + 0.8 * cluster -
        0.08 * separation + 1e-4 * (weight * mask).abs().sum())
    torch.testing.assert_close(total, expected)


def test_single_node_level_has_no_separation():
    # Every clip shares the top node 2, which has a prototype.
    prototype_node = torch.tensor([0, 1, 2])
    prototype_level = torch.tensor([0, 0, 1])
    label_nodes = torch.tensor([[0, 2], [1, 2]])
    distances = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    losses = HyperbolicProtoLoss((1.0, 1.0),
                                 (1.0, 1.0))(torch.zeros(2, 2),
                                             torch.tensor([0, 1]), distances,
                                             prototype_node, prototype_level,
                                             label_nodes)
    assert losses['cluster_level1'].item() == 4.5
    assert 'loss_separation_level1' not in losses
    assert losses['separation_level0'].item() == 3.0


def test_last_layer_l1():
    weight = torch.tensor([[1.0, -2.0], [3.0, -4.0]])
    assert last_layer_l1(weight).item() == 10.0
    mask = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert last_layer_l1(weight, mask).item() == 5.0
    assert last_layer_l1(weight, mask.bool()).item() == 5.0


def test_errors():
    with pytest.raises(ValueError, match='one entry per hierarchy level'):
        HyperbolicProtoLoss(cluster_coefs=(1, 2), separation_coefs=(1, ))
    with pytest.raises(ValueError, match='non-negative'):
        HyperbolicProtoLoss(cluster_coefs=(1, -2, 3))
    with pytest.raises(ValueError, match='l1_coef'):
        HyperbolicProtoLoss(l1_coef=-1)
    loss = HyperbolicProtoLoss()
    with pytest.raises(ValueError, match=r'tree.csv has 2 levels'):
        loss.check_num_levels(2, 'tree.csv')
    with pytest.raises(ValueError, match='has 2 levels'):
        loss(LOGITS, LABELS, MIN_DISTANCES, PROTOTYPE_NODE, PROTOTYPE_LEVEL,
             LABEL_NODES)
    loss = HyperbolicProtoLoss((1, 1), (1, 1), l1_coef=1.0)
    with pytest.raises(ValueError, match='needs the last-layer weight'):
        loss(LOGITS, LABELS, MIN_DISTANCES, PROTOTYPE_NODE, PROTOTYPE_LEVEL,
             LABEL_NODES)
    with pytest.raises(ValueError, match='level names'):
        loss(
            LOGITS,
            LABELS,
            MIN_DISTANCES,
            PROTOTYPE_NODE,
            PROTOTYPE_LEVEL,
            LABEL_NODES,
            level_names=('leaf', ))
