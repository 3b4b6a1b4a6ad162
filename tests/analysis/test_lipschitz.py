"""Certificates against brute force and PGD; the orthogonality error against known spectra."""

import math

import pytest
import torch

from icml22dl.analysis.lipschitz import certified_radius, certify, logit_margin, orthogonality_error
from icml22dl.attacks.pgd import pgd_l2


def test_margin_and_radius_by_hand():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5]])
    y = torch.tensor([0, 1])
    assert torch.allclose(logit_margin(logits, y), torch.tensor([2.0, -0.5]))
    assert torch.allclose(certified_radius(logits, y, lipschitz=2.0), torch.tensor([2.0 / (math.sqrt(2) * 2), 0.0]))
    assert certify(logits, y, eps=0.7).tolist() == [True, False]
    assert certify(logits, y, eps=1.5).tolist() == [False, False]
    with pytest.raises(ValueError, match="lipschitz"):
        certified_radius(logits, y, lipschitz=0.0)


def test_certificate_is_tight_for_a_linear_orthogonal_model():
    # f(x) = Q x: the decision boundary between classes y and j is at distance
    # (f_y - f_j)/sqrt(2) exactly, so PGD at radius slightly above the certified one flips
    # the point and at radius below it cannot.
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(2, 2, generator=g, dtype=torch.float64))[0]
    model = lambda x: x @ q.T  # noqa: E731
    x = torch.tensor([[1.0, 0.2]], dtype=torch.float64) @ q
    y = torch.tensor([0])
    r = certified_radius(model(x), y).item()
    assert (model(pgd_l2(model, x, y, 0.99 * r, steps=100)).argmax(1) == y).all()
    assert (model(pgd_l2(model, x, y, 1.01 * r, steps=100)).argmax(1) != y).all()


def test_orthogonality_error_of_a_scaled_identity():
    layer = torch.nn.Linear(4, 4, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor([1.0, 1.0, 0.5, 2.0], dtype=torch.float64)))
    err = orthogonality_error(layer, (4,))
    assert err["sigma_min"] == pytest.approx(0.5) and err["sigma_max"] == pytest.approx(2.0)
    assert err["max_abs_dev"] == pytest.approx(1.0)
