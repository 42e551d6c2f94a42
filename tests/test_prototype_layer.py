"""PrototypeLayer against a direct evaluation of its definition."""
import math

import pytest
import torch

import hprotopnet_mm  # noqa: F401
from hprotopnet_mm.models.layers import (PrototypeLayer, log_similarity,
                                         patch_squared_distances)


def naive_distance_maps(z, prototypes):
    """Squared L2 distance of every prototype to every patch, by loops."""
    batch, _, size_t, size_h, size_w = z.shape
    num, _, t, h, w = prototypes.shape
    out = torch.empty(
        batch,
        num,
        size_t - t + 1,
        size_h - h + 1,
        size_w - w + 1,
        dtype=torch.float64)
    for b in range(batch):
        for p in range(num):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    for k in range(out.shape[4]):
                        patch = z[b, :, i:i + t, j:j + h, k:k + w]
                        out[b, p, i, j,
                            k] = ((patch.double() -
                                   prototypes[p].double())**2).sum()
    return out


@pytest.mark.parametrize('shape', [(1, 1, 1), (2, 1, 1), (1, 2, 3), (2, 2, 2),
                                   (3, 3, 3)])
def test_distances_match_loops(shape):
    torch.manual_seed(0)
    layer = PrototypeLayer(5, 4, prototype_shape=shape, epsilon=1e-4)
    z = torch.rand(2, 4, 3, 4, 5)
    maps, min_distances, similarities = layer(z)
    expected = naive_distance_maps(z, layer.prototype_vectors.detach())
    assert maps.shape == expected.shape
    assert maps.dtype == torch.float32
    torch.testing.assert_close(maps.double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        layer.distance_maps(z).double(), expected, rtol=1e-5, atol=1e-5)
    expected_min = expected.flatten(2).min(dim=2).values
    torch.testing.assert_close(
        min_distances.double(), expected_min, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        similarities.double(),
        torch.log((expected_min + 1) / (expected_min + 1e-4)),
        rtol=1e-5,
        atol=1e-5)


@pytest.mark.parametrize('shape', [(1, 1, 1), (2, 1, 2)])
def test_unit_norm_distances_are_cosine_distances_per_cell(shape):
    """With unit_norm every cell of z and of a prototype is scaled to norm
    1, so the distance is the sum over the patch's cells of 2 - 2 cos, and
    scaling the features changes nothing."""
    torch.manual_seed(0)
    layer = PrototypeLayer(4, 6, prototype_shape=shape, unit_norm=True)
    z = torch.randn(2, 6, 3, 4, 4)
    maps = layer.distance_maps(z)

    def unit(x):
        return x / x.norm(dim=1, keepdim=True)

    expected = naive_distance_maps(unit(z), unit(layer.prototype_vectors))
    torch.testing.assert_close(maps.double(), expected, rtol=1e-5, atol=1e-5)
    cells = shape[0] * shape[1] * shape[2]
    assert maps.min() >= 0 and maps.max() <= 4 * cells + 1e-5
    # how much a patch looks like a prototype ignores the feature's norm
    scale = torch.rand(2, 1, 3, 4, 4) * 10 + 0.1
    torch.testing.assert_close(
        layer.distance_maps(z * scale), maps, rtol=1e-4, atol=1e-4)
    # a prototype copied from a patch (projection) is at distance 0 from it
    with torch.no_grad():
        layer.prototype_vectors[1] = 5 * z[1, :, 1:1 + shape[0],
                                           2:2 + shape[1], 0:shape[2]]
    assert layer.distance_maps(z)[1, 1, 1, 2, 0] < 1e-5
    assert 'unit_norm=True' in repr(layer)


def test_min_is_over_time_and_space():
    # A prototype equal to one patch at a late time step and off-centre
    # position has distance 0 there, and only there.
    torch.manual_seed(1)
    z = torch.rand(1, 3, 4, 5, 5)
    layer = PrototypeLayer(2, 3, prototype_shape=(2, 2, 1))
    with torch.no_grad():
        layer.prototype_vectors[1] = z[0, :, 2:4, 1:3, 4:5]
    maps, min_distances, similarities = layer(z)
    assert maps.shape == (1, 2, 3, 4, 5)
    assert (maps >= 0).all()
    assert min_distances[0, 1] == 0
    assert maps[0, 1].flatten().argmin() == (2 * 4 + 1) * 5 + 4
    assert math.isclose(
        similarities[0, 1].item(), math.log(1 / 1e-4), rel_tol=1e-6)


def test_log_similarity_values():
    d = torch.tensor([0.0, 1.0, 1e6])
    torch.testing.assert_close(
        log_similarity(d, 1e-2),
        torch.tensor([math.log(100.0),
                      math.log(2 / 1.01), 0.0]),
        atol=1e-5,
        rtol=1e-6)


def test_gradients_reach_features_and_prototypes():
    torch.manual_seed(2)
    layer = PrototypeLayer(3, 4, prototype_shape=(1, 2, 2))
    z = torch.rand(2, 4, 2, 3, 3, requires_grad=True)
    _, _, similarities = layer(z)
    similarities.sum().backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    grad = layer.prototype_vectors.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_float32_under_autocast():
    torch.manual_seed(3)
    layer = PrototypeLayer(3, 8, prototype_shape=(1, 1, 1))
    z = torch.rand(2, 8, 2, 3, 3)
    reference = layer.distance_maps(z)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        maps = layer.distance_maps(z.bfloat16())
    assert maps.dtype == torch.float32
    # Only the rounding of the input to bf16 remains.
    torch.testing.assert_close(maps, reference, rtol=2e-2, atol=2e-2)


def test_patch_squared_distances_function():
    torch.manual_seed(4)
    z = torch.rand(1, 2, 2, 2, 3)
    prototypes = torch.rand(4, 2, 1, 2, 2)
    torch.testing.assert_close(
        patch_squared_distances(z, prototypes).double(),
        naive_distance_maps(z, prototypes),
        rtol=1e-5,
        atol=1e-5)


@pytest.mark.parametrize('shape', [(1, 1), (1, 0, 1), (1, 1, 1, 1),
                                   (1.0, 1, 1), 'abc'])
def test_bad_prototype_shape(shape):
    with pytest.raises(ValueError, match='PrototypeLayer: prototype_shape'):
        PrototypeLayer(2, 3, prototype_shape=shape)


def test_bad_inputs():
    layer = PrototypeLayer(2, 3, prototype_shape=(2, 2, 2))
    with pytest.raises(ValueError, match=r'expected features of shape'):
        layer(torch.rand(1, 4, 2, 2, 2))
    with pytest.raises(ValueError, match=r'smaller than the prototype'):
        layer(torch.rand(1, 3, 1, 4, 4))
    with pytest.raises(ValueError, match='epsilon'):
        PrototypeLayer(2, 3, epsilon=0)
    with pytest.raises(ValueError, match='num_prototypes'):
        PrototypeLayer(0, 3)
