"""Sparse-regression and spectral-target generators."""

import pytest
import torch

from icml22dl.data import random_orthogonal, sparse_regression_data, spectral_target


def test_sparse_regression_shapes_support_and_centring():
    g = torch.Generator().manual_seed(0)
    p = sparse_regression_data(200, 40, 3, 1.0, g)
    assert p.X.shape == (40, 200) and p.y.shape == (40,)
    assert int((p.beta_star != 0).sum()) == 3 and torch.equal(
        p.beta_star[p.support], torch.ones(3, dtype=torch.float64)
    )
    assert torch.allclose(p.y, p.X @ p.beta_star)
    assert abs(float(p.X.mean()) - 1.0) < 0.05
    c = sparse_regression_data(50, 20, 2, 1.0, torch.Generator().manual_seed(1), center=True)
    assert float(c.X.mean(0).abs().max()) < 1e-12 and torch.allclose(c.y, c.X @ c.beta_star)
    again = sparse_regression_data(200, 40, 3, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(again.X, p.X)
    with pytest.raises(ValueError, match="s=6 is out of range"):
        sparse_regression_data(5, 3, 6)


def test_spectral_target_has_the_singular_values():
    g = torch.Generator().manual_seed(0)
    q = random_orthogonal(7, g)
    assert torch.allclose(q.T @ q, torch.eye(7, dtype=torch.float64), atol=1e-13)
    z = spectral_target((3.0, 2.0, 1.0), 4, 6, g)
    s = torch.linalg.svdvals(z)
    assert torch.allclose(s, torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64), atol=1e-12)
    with pytest.raises(ValueError, match="singular_values"):
        spectral_target((1.0,) * 5, 4, 6)
