"""PGD-l2 stays in the ball and finds the closed-form adversary of a linear model."""

import pytest
import torch

from icml22dl.attacks.pgd import pgd_l2


def test_pgd_stays_in_the_ball_and_reaches_the_boundary_of_a_linear_classifier():
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    model = lambda x: x @ w.T  # noqa: E731
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    adv = pgd_l2(model, x, y, eps=1.0, steps=200, restarts=2, generator=torch.Generator().manual_seed(0))
    assert ((adv - x).norm(dim=1) <= 1.0 + 1e-9).all()
    # the closest boundary point of (1, 0) is (0.5, 0.5) at distance 0.707 < 1: flipped
    assert model(adv)[0].argmax().item() == 1
    # (2, 0) is 1.414 away: not flipped
    assert model(adv)[1].argmax().item() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="eps"):
        pgd_l2(lambda x: x, torch.zeros(1, 2), torch.tensor([0]), eps=0.0)
