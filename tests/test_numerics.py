"""Hyperbolic operations stay finite at the edges of their inputs, and a
training run whose loss does become non-finite stops with a clear message.

Every numerical test draws 10,000 random trials (as one batch) per setting:
random directions with norms spread log-uniformly over many orders of
magnitude, exact zeros, and points on or past the boundary of the ball.
"""
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from geoopt import PoincareBall
from mmengine.config import Config

from conftest import REPO_ROOT, retarget_toy_config
from hprotopnet_mm.engine.hooks.finite_loss_hook import nonfinite_terms
from hprotopnet_mm.models.layers.hyperbolic_logits import (HyperbolicLogits,
                                                           embed_in_ball,
                                                           hyperbolic_logits)

TRIALS = 10_000
DIM = 32
CURVATURES = (0.1, 1.0, 10.0)
CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')


def random_directions(generator, n, *shape):
    """n unit vectors (by their flattened norm) of the given shape."""
    d = torch.randn((n, ) + shape, generator=generator)
    return d / d.flatten(1).norm(dim=1).view((n, ) + (1, ) * len(shape))


def log_uniform_norms(generator, n, low, high, zeros_every=50):
    """n norms 10**U(low, high), every ``zeros_every``-th one exactly 0."""
    norms = 10**(
        torch.rand(n, generator=generator, dtype=torch.float64) *
        (high - low) + low)
    norms[::zeros_every] = 0
    return norms.float()


def ball_of(curvature):
    return PoincareBall(c=torch.tensor(curvature, dtype=torch.float64))


def leaf_points(generator, curvature, num=12):
    """num points inside the ball, up to 0.99 of its radius."""
    radius = curvature**-0.5
    return random_directions(generator, num, DIM) * torch.rand(
        num, 1, generator=generator) * 0.99 * radius


def assert_finite(name, tensor):
    bad = ~torch.isfinite(tensor)
    assert not bad.any(), f'{name}: {int(bad.sum())} non-finite entries'


def expmap0_trials(seed, curvature, low, high):
    """v (TRIALS, DIM) with norms 10**U(low, high) (and zeros), its norms,
    and h = embed_in_ball(v)."""
    generator = torch.Generator().manual_seed(seed)
    norms = log_uniform_norms(generator, TRIALS, low, high)
    v = (random_directions(generator, TRIALS, DIM) *
         norms[:, None]).requires_grad_()
    return v, norms, embed_in_ball(v, ball_of(curvature))


def assert_follows_eq6(v, norms, h, curvature):
    """|h| = tanh(sqrt(c) |v|) / sqrt(c) in the direction of v (Eq. 6), or
    the float32-safe radius where that is closer to the boundary."""
    radius = curvature**-0.5
    safe = radius * (1 - 4e-3)  # geoopt's float32 projection
    h, norms = h.detach().double(), norms.double()
    expected = (torch.tanh(curvature**0.5 * norms) /
                curvature**0.5).clamp(max=safe)
    assert torch.allclose(h.norm(dim=1), expected, rtol=1e-4, atol=1e-30)
    nonzero = norms > 0
    h, v = h[nonzero], v.detach()[nonzero].double()
    cosine = (h / h.norm(dim=1, keepdim=True) * v /
              v.norm(dim=1, keepdim=True)).sum(dim=1)
    assert (cosine > 1 - 1e-5).all()


@pytest.mark.parametrize('curvature', CURVATURES)
def test_expmap0_is_finite_and_inside_the_ball_for_any_norm(curvature):
    """Norms from 0 to 1e38, the whole float32 range."""
    v, _, h = expmap0_trials(0, curvature, -30, 38)
    assert_finite('expmap0', h)
    assert (h.detach().double().norm(dim=1) < curvature**-0.5).all()
    # gradients through expmap0 and the distance to points of the ball
    generator = torch.Generator().manual_seed(10)
    logits = hyperbolic_logits(h, leaf_points(generator, curvature),
                               ball_of(curvature), 1.0)
    assert_finite('logits', logits)
    (grad, ) = torch.autograd.grad(logits.sum(), v)
    assert_finite('gradient', grad)


@pytest.mark.parametrize('curvature', CURVATURES)
def test_expmap0_follows_eq6(curvature):
    """Norms from 0 to 1e18, where |v|^2 is a normal float32 number or
    underflows harmlessly."""
    assert_follows_eq6(*expmap0_trials(0, curvature, -30, 18), curvature)


def test_expmap0_follows_eq6_where_the_float32_norm_overflows():
    assert_follows_eq6(*expmap0_trials(0, 1.0, 19, 38), 1.0)


@pytest.mark.parametrize('curvature', CURVATURES)
def test_distance_is_finite_on_and_past_the_boundary(curvature):
    generator = torch.Generator().manual_seed(1)
    radius = curvature**-0.5
    # fractions of the radius: the origin, just inside, on, just past and
    # far past the boundary (|h|^2 stays representable in float32)
    fractions = torch.tensor(
        [0, 1 - 1e-7, 1 - 1e-12, 1, 1 + 1e-6, 1.5, 1e3,
         1e15]).repeat_interleave(TRIALS // 8)
    h = (random_directions(generator, TRIALS, DIM) * fractions[:, None] *
         radius).requires_grad_()
    logits = hyperbolic_logits(h, leaf_points(generator, curvature),
                               ball_of(curvature), 1.0)
    assert_finite('logits', logits)
    assert (logits <= 0).all()
    (grad, ) = torch.autograd.grad(logits.sum(), h)
    assert_finite('gradient', grad)


def test_class_embeddings_on_the_boundary_are_refused_or_moved_inside():
    generator = torch.Generator().manual_seed(2)
    points = torch.randn(12, DIM, generator=generator, dtype=torch.float64)
    points = points / points.norm(dim=1, keepdim=True)
    with pytest.raises(ValueError, match='outside the Poincare ball'):
        HyperbolicLogits(points, 12, curvature=1.0)
    # just inside in float64, on the boundary once rounded to float32
    module = HyperbolicLogits(points * (1 - 1e-12), 12, curvature=1.0)
    assert (module.node_embeddings.double().norm(dim=1) < 1).all()
    norms = log_uniform_norms(generator, TRIALS, -30, 30)
    v = (random_directions(generator, TRIALS, DIM) *
         norms[:, None]).requires_grad_()
    logits, _ = module(v)
    assert_finite('logits', logits)
    (grad, ) = torch.autograd.grad(logits.sum(), v)
    assert_finite('gradient', grad)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_hyperbolic_logits_under_autocast(dtype):
    generator = torch.Generator().manual_seed(3)
    module = HyperbolicLogits(leaf_points(generator, 1.0, 20), 12, 1.0)
    # half-precision vectors over their whole finite range
    high = 4 if dtype == torch.float16 else 30
    norms = log_uniform_norms(generator, TRIALS, -30, high)
    v = (random_directions(generator, TRIALS, DIM) *
         norms[:, None]).to(dtype).requires_grad_()
    assert torch.isfinite(v).all()
    with torch.autocast('cpu', dtype=dtype):
        logits, h = module(v)
    assert logits.dtype == torch.float32 and h.dtype == torch.float32
    assert_finite('logits', logits)
    (grad, ) = torch.autograd.grad(logits.sum(), v)
    assert_finite('gradient', grad)


@pytest.fixture(scope='module')
def head(toy_data):
    from mmaction.registry import MODELS
    return MODELS.build(
        dict(
            type='HierarchicalProtoHead',
            num_classes=12,
            in_channels=8,
            hierarchy_file=toy_data.hierarchy,
            label_map_file=toy_data.label_map,
            embedding_file=osp.join(toy_data.root, 'embedding_d32.pth'),
            proto_channels=16,
            num_prototypes_per_class=2,
            num_prototypes_per_ancestor=2,
            loss_cls=dict(type='HyperbolicProtoLoss', l1_coef=1e-4)))


@pytest.mark.parametrize('dtype, high', [(None, 15), (torch.bfloat16, 15),
                                         (torch.float16, 3)])
def test_head_logits_loss_and_gradients_stay_finite(head, dtype, high):
    """Backbone features from zero up to norm 10**high (float16: the range
    whose add-on convolutions do not overflow float16 itself)."""
    generator = torch.Generator().manual_seed(4)
    norms = log_uniform_norms(generator, TRIALS, -30, high)
    x = (random_directions(generator, TRIALS, 8, 1, 1, 2) *
         norms.view(-1, 1, 1, 1, 1)).requires_grad_()
    labels = torch.randint(0, 12, (TRIALS, ), generator=generator)
    head.zero_grad()
    with torch.autocast(
            'cpu', dtype=dtype or torch.float32, enabled=dtype is not None):
        out = head.forward_explain(x)
        losses = head.loss_cls(out['cls_score'], labels, out['min_distances'],
                               **head._loss_inputs(labels))
    assert out['cls_score'].dtype == torch.float32
    assert_finite('logits', out['cls_score'])
    assert_finite('ball points', out['embedding'])
    for name, value in losses.items():
        assert_finite(name, value)
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    loss.backward()
    assert_finite('feature gradient', x.grad)
    for name, parameter in head.named_parameters():
        if parameter.grad is not None:
            assert_finite(f'gradient of {name}', parameter.grad)


def test_nonfinite_terms_reads_only_loss_terms():
    outputs = dict(
        loss=torch.tensor(float('nan')),
        loss_cls=torch.tensor(1.0),
        loss_cluster_leaf=torch.tensor(float('inf')),
        top1_acc=torch.tensor(float('nan')))
    assert list(nonfinite_terms(outputs)) == ['loss', 'loss_cluster_leaf']
    assert nonfinite_terms(dict(loss=torch.tensor(2.0))) == {}


def test_training_with_a_nonfinite_loss_stops_naming_the_iteration(
        toy_data, tmp_path):
    """Adam's first step moves every weight by about lr: with lr=1e30 the
    prototype distances of iteration 2 overflow to NaN."""
    config = retarget_toy_config(CONFIG, toy_data, tmp_path, max_epochs=2)
    cfg = Config.fromfile(config)
    cfg.custom_imports.imports.append(
        'hprotopnet_mm.engine.hooks.finite_loss_hook')
    cfg.custom_hooks.append(dict(type='FiniteLossHook'))
    cfg.dump(config)
    work_dir = str(tmp_path / 'work')
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
        work_dir, '--no-validate', '--cfg-options',
        'model.backbone.base_channels=8', 'model.cls_head.in_channels=32',
        'model.cls_head.proto_channels=16', 'optim_wrapper.optimizer.lr=1e30'
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    log = out.stdout + out.stderr
    assert out.returncode != 0, log[-3000:]
    match = re.search(
            r'NonFiniteLossError: Non-finite loss at training iteration (\d+) '
            r'\(epoch (\d+), batch (\d+)/3\); training stopped\.', log)
    assert match, log[-3000:]
    assert match.groups() == ('2', '1', '2')
    assert re.search(r'Loss terms: loss=(nan|inf|-inf)', log)
    # the clips of the batch are named
    assert re.search(r'Clips of the batch: \S+/videos/train/\S+\.mp4', log)
    # iteration 1 trained and was logged with a finite loss; nothing after
    assert re.search(r'Epoch\(train\) +\[1\]\[1/3\].* loss: \d', log)
    assert 'Epoch(train) [1][2/3]' not in log
    assert not osp.exists(osp.join(work_dir, 'epoch_1.pth'))
