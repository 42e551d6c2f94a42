"""Position-wise centring of Z: the running mean per position, its use in
training and testing, and what it is for: a prototype fires where its
content is, not where its source patch sat."""
import pytest
import torch

from hprotopnet_mm.models.layers import PositionCentring, PrototypeLayer


def test_running_mean_cumulative_then_moving():
    torch.manual_seed(0)
    centring = PositionCentring(3, (2, 3, 3), momentum=0.25)
    assert centring.running_mean.shape == (3, 2, 3, 3)
    batches = [torch.randn(4, 3, 2, 3, 3) + 5 for _ in range(6)]
    centring.train()
    out = centring(batches[0])
    # the first batch sets the mean, and is centred on it
    torch.testing.assert_close(centring.running_mean, batches[0].mean(0))
    torch.testing.assert_close(
        out.mean(0), torch.zeros(3, 2, 3, 3), atol=1e-5, rtol=0)
    for batch in batches[1:4]:
        centring(batch)
    # cumulative mean over the first 1 / momentum = 4 batches
    torch.testing.assert_close(centring.running_mean,
                               torch.stack(batches[:4]).mean((0, 1)))
    expected = centring.running_mean.clone()
    for batch in batches[4:]:
        centring(batch)
        expected = 0.75 * expected + 0.25 * batch.mean(0)
    torch.testing.assert_close(centring.running_mean, expected)
    assert int(centring.num_batches_tracked) == 6

    # eval mode subtracts the running mean and leaves it alone
    centring.eval()
    z = torch.randn(2, 3, 2, 3, 3)
    torch.testing.assert_close(centring(z), z - expected)
    torch.testing.assert_close(centring.running_mean, expected)
    assert 'grid=(2, 3, 3)' in repr(centring)


def test_other_grids_are_interpolated():
    """A map of another size (another clip size) is centred on the mean
    resampled to its grid; a mean constant over positions is exact."""
    centring = PositionCentring(2, (4, 7, 7))
    with torch.no_grad():
        centring.running_mean.copy_(
            torch.tensor([1.5, -2.0]).view(2, 1, 1, 1).expand(2, 4, 7, 7))
    centring.eval()
    z = torch.randn(3, 2, 2, 5, 6)
    out = centring(z)
    assert out.shape == z.shape
    torch.testing.assert_close(
        out, z - torch.tensor([1.5, -2.0]).view(1, 2, 1, 1, 1))
    # training on another grid updates the kept grid
    centring.train()
    centring(torch.ones(2, 2, 2, 5, 6))
    assert centring.running_mean.shape == (2, 4, 7, 7)


@pytest.mark.parametrize('grid', [(4, 4), (4, 0, 4), (4, 4.0, 4), None, 'abc'])
def test_bad_grid(grid):
    with pytest.raises(
            ValueError,
            match='PositionCentring: the centring '
            'grid must be three positive ints'):
        PositionCentring(4, grid)


def test_bad_momentum():
    with pytest.raises(ValueError, match='momentum must lie in'):
        PositionCentring(4, (1, 2, 2), momentum=0)


def test_prototype_follows_its_content_not_its_position():
    """Every clip's features carry a strong code of each cell's position
    (as zero padding writes into a CNN's features) plus, at one cell, an
    object. A prototype projected onto the object's cell of one clip keeps
    that cell's position code: uncentred, it fires at that cell in every
    clip; centred on the mean over the clips, it fires where the object is.
    """
    torch.manual_seed(0)
    channels, grid = 16, (1, 4, 4)
    position_code = 3 * torch.randn(channels, *grid)
    obj = torch.randn(channels)
    clips = []
    places = [(h, w) for h in range(4) for w in range(4)]
    for h, w in places:
        z = position_code + 0.1 * torch.randn(channels, *grid)
        z[:, 0, h, w] += 2 * obj
        clips.append(z)
    z = torch.stack(clips)  # (16 clips, C, 1, 4, 4)
    centring = PositionCentring(channels, grid)
    centring.train()
    centring(z)
    centring.eval()
    layer = PrototypeLayer(1, channels, unit_norm=True)

    def peaks(features):
        """Peak cell (h, w) of the prototype in every clip."""
        maps = layer.distance_maps(features)[:, 0, 0]  # (16, 4, 4)
        flat = maps.flatten(1).argmin(dim=1)
        return [(int(i) // 4, int(i) % 4) for i in flat]

    def project(features):
        """The prototype onto the object in clip 0, at cell (0, 0)."""
        with torch.no_grad():
            layer.prototype_vectors[0, :, 0, 0, 0] = features[0, :, 0, 0, 0]

    project(z)
    assert peaks(z) == [(0, 0)] * len(places)
    project(centring(z))
    assert peaks(centring(z)) == places
