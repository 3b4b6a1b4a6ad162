"""Forward operators: adjoints to 1e-10 and each operator against a dense matrix built here."""

import math

import pytest
import torch

from icml22dl.inverse import Downsampler, GaussianOperator, Inpainting, PartialCirculant

TOL = 1e-10


def _operators():
    g = torch.Generator().manual_seed(0)
    return {
        "gaussian": GaussianOperator(12, 64, g, dtype=torch.float64),
        "circulant": PartialCirculant(64, 20, g),
        "downsampler": Downsampler(4, (3, 16, 16)),
        "inpainting": Inpainting.random((8, 8), 0.3, g),
    }


@pytest.mark.parametrize("name", ["gaussian", "circulant", "downsampler", "inpainting"])
def test_adjoint_identity(name):
    A = _operators()[name]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, *A.in_shape, generator=g, dtype=torch.float64)
    y = torch.randn(5, *A.out_shape, generator=g, dtype=torch.float64)
    lhs = (A(x) * y).flatten(1).sum(1)
    rhs = (x * A.adjoint(y)).flatten(1).sum(1)
    assert torch.allclose(lhs, rhs, atol=TOL, rtol=0)


@pytest.mark.parametrize("name", ["gaussian", "circulant", "downsampler", "inpainting"])
def test_pinv_is_the_moore_penrose_inverse(name):
    A = _operators()[name]
    dense = A.matrix()
    g = torch.Generator().manual_seed(2)
    y = torch.randn(3, *A.out_shape, generator=g, dtype=torch.float64)
    expected = y.reshape(3, -1) @ torch.linalg.pinv(dense).T
    assert torch.allclose(A.pinv(y).reshape(3, -1), expected, atol=1e-8)


def test_partial_circulant_matches_a_dense_circulant_built_by_indexing():
    n, m = 32, 10
    A = PartialCirculant(n, m, torch.Generator().manual_seed(3))
    c = A.filter
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    C = c[(i - j) % n]  # C x = c (*) x, the circular convolution
    dense = C[A.rows] * A.signs[None, :]
    assert torch.allclose(A.matrix(), dense, atol=TOL)
    x = torch.randn(4, n, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(A(x), x @ dense.T, atol=TOL)
    assert torch.allclose(A(x.float()), (x @ dense.T).float(), atol=1e-5)  # float32 path, official tolerance


def test_gaussian_entries_have_variance_one_over_m():
    A = GaussianOperator(200, 500, torch.Generator().manual_seed(5), dtype=torch.float64)
    assert A.A.var().item() == pytest.approx(1 / 200, rel=0.02)


def test_downsampler_is_block_averaging():
    A = Downsampler(2, (4, 6))
    x = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    expected = torch.tensor(
        [[sum(x[2 * a + u, 2 * b + v] for u in range(2) for v in range(2)) / 4 for b in range(3)] for a in range(2)],
        dtype=torch.float64,
    )
    assert torch.allclose(A(x), expected, atol=TOL)


def test_inpainting_selects_the_kept_pixels():
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0, 1] = mask[2, 2] = True
    x = torch.arange(9.0).reshape(3, 3)
    assert torch.equal(Inpainting(mask)(x), torch.tensor([1.0, 8.0]))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="m=0"):
        GaussianOperator(0, 4)
    with pytest.raises(ValueError, match="m=5"):
        PartialCirculant(4, 5)
    with pytest.raises(ValueError, match="divisible"):
        Downsampler(3, (4, 4))
    with pytest.raises(ValueError, match="mask"):
        Inpainting(torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="x.shape"):
        GaussianOperator(2, 4)(torch.zeros(3, 5))
    assert math.isfinite(float(GaussianOperator(2, 4).m))
