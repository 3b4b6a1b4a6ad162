"""The 14 x 14 MNIST split: disjoint, centred, reproducible; the downsampling is an exact co-isometry."""

import pytest
import torch

from icml22dl.analysis.lipschitz import orthogonality_error
from icml22dl.data import lipschitz_downsample, mnist14_split


def test_downsampling_has_every_singular_value_one():
    err = orthogonality_error(lambda x: lipschitz_downsample(x, 2), (1, 4, 6))
    assert err["max_abs_dev"] < 1e-14
    with pytest.raises(ValueError, match="divisible"):
        lipschitz_downsample(torch.zeros(1, 1, 3, 4))


@pytest.mark.requires_data("mnist")
def test_split_is_disjoint_centred_and_seeded():
    a = mnist14_split(300, 200, torch.Generator().manual_seed(0))
    b = mnist14_split(300, 200, torch.Generator().manual_seed(0))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    x, y, xt, yt = a
    assert x.shape == (300, 1, 14, 14) and xt.shape == (200, 1, 14, 14) and y.dtype == torch.int64
    assert abs(float(x.mean())) < 1e-6
    # disjoint: no test image equals a training image (the t10k images are distinct)
    flat, flat_t = x.flatten(1), xt.flatten(1)
    assert not (torch.cdist(flat_t, flat).min(dim=1).values == 0).any()


@pytest.mark.requires_data("mnist")  # the bound is the number of t10k images read
def test_split_sizes_are_checked():
    with pytest.raises(ValueError, match="test_size"):
        mnist14_split(9000, 2000, torch.Generator().manual_seed(0))
