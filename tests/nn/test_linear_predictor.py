"""LinearPredictor: zero start and the score <w, x>."""

import pytest
import torch

from icml22dl.nn import LinearPredictor, get_model


def test_scores_are_inner_products_from_zero():
    model = get_model("linear_predictor", in_features=4)
    assert isinstance(model, LinearPredictor) and torch.equal(model.weight, torch.zeros(4, dtype=torch.float64))
    w = torch.randn(4, dtype=torch.float64)
    x = torch.randn(3, 4, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(w)
    expected = torch.tensor(
        [sum(float(x[i, j]) * float(w[j]) for j in range(4)) for i in range(3)], dtype=torch.float64
    )
    torch.testing.assert_close(model(x), expected)


def test_gradient_descent_reaches_the_minimum_norm_interpolant():
    # From w = 0, GD on least squares stays in the row space: the limit is pinv(X) y.
    # Seeded data and a step below 2 / ||X||^2, so GD converges whatever ran before (the global
    # RNG state depends on the order of the tests, e.g. under pytest-xdist).
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 8, dtype=torch.float64, generator=g), torch.randn(3, dtype=torch.float64, generator=g)
    model = LinearPredictor(8)
    opt = torch.optim.SGD(model.parameters(), lr=1.0 / float(torch.linalg.matrix_norm(x, 2)) ** 2)
    for _ in range(3000):
        opt.zero_grad()
        (0.5 * ((model(x) - y) ** 2).sum()).backward()
        opt.step()
    torch.testing.assert_close(model.weight.detach(), torch.linalg.pinv(x) @ y, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="in_features"):
        LinearPredictor(0)
