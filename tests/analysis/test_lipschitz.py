"""Certificates against brute force and PGD; the orthogonality error against known spectra."""

import math

import pytest
import torch

from icml22dl.analysis.lipschitz import (
    certificate_violations,
    certified_radius,
    certify,
    certify_model,
    logit_margin,
    orthogonality_error,
)
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


def test_certify_model_matches_the_radius_of_the_full_logits_in_any_batch_size():
    g = torch.Generator().manual_seed(1)
    w = torch.linalg.qr(torch.randn(5, 5, generator=g))[0][:3]  # 3 x 5 row-orthonormal: 1-Lipschitz
    model = lambda x: x @ w.T  # noqa: E731
    x = torch.randn(23, 5, generator=g)
    y = torch.randint(0, 3, (23,), generator=g)
    logits = model(x)
    for batch_size in (1, 4, 23, 100):
        cert = certify_model(model, x, y, batch_size=batch_size)
        assert torch.equal(cert.radius, certified_radius(logits, y))
        assert cert.accuracy == pytest.approx(float((logits.argmax(1) == y).float().mean()))
        assert cert.certified_accuracy(0.1) == pytest.approx(float(certify(logits, y, 0.1).float().mean()))
    with pytest.raises(ValueError, match="non-empty"):
        certify_model(model, x[:0], y[:0])


def test_certificate_violations_counts_flips_and_catches_a_wrong_lipschitz_constant():
    # f(x) = 100 x is 100-Lipschitz: certified radii computed with L = 1 are 100 times too large,
    # and PGD-l2 at those radii flips the points; with the true L it flips none.
    model = lambda x: 100 * x  # noqa: E731
    x = torch.tensor([[0.02, 0.0], [0.0, 0.03]])
    y = torch.tensor([0, 1])
    wrong = certify_model(model, x, y, lipschitz=1.0)
    eps = 0.5 * float(wrong.radius.min())
    attack = lambda a, b: pgd_l2(model, a, b, eps, steps=50)  # noqa: E731
    assert certificate_violations(model, x, y, attack) == 2
    right = certify_model(model, x, y, lipschitz=100.0)
    eps = 0.99 * float(right.radius.min())
    assert certificate_violations(model, x, y, lambda a, b: pgd_l2(model, a, b, eps, steps=50)) == 0
