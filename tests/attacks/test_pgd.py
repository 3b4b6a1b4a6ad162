"""PGD-l2 and L-inf PGD stay in their balls and find the closed-form adversaries of linear models."""

import pytest
import torch

from icml22dl.attacks.pgd import pgd_l2, pgd_linf


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


def test_pgd_linf_reaches_the_closed_form_corner_of_a_linear_model():
    # logits = W x, two classes: the cross-entropy gradient's sign is sign(w_1 - w_0) for
    # label 0 everywhere, so PGD ends at clip(x + eps sign(w_1 - w_0)) from any start.
    w = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]])
    model = lambda x: x @ w.T  # noqa: E731
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, generator=g) * 0.8 + 0.1
    y = torch.zeros(8, dtype=torch.long)
    adv = pgd_linf(model, x, y, eps=0.05, steps=3, generator=g)
    expected = (x + 0.05 * torch.sign(w[1] - w[0])).clamp(0, 1)
    assert torch.allclose(adv, expected, atol=1e-6)


def test_pgd_linf_stays_in_the_ball_and_box_and_is_seeded():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    x[0] = 0.0  # at the box's corner
    y = torch.tensor([0, 1, 2, 0, 1])
    a = pgd_linf(model, x, y, 0.1, steps=4, step_size=0.03, generator=torch.Generator().manual_seed(2))
    b = pgd_linf(model, x, y, 0.1, steps=4, step_size=0.03, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert (a - x).abs().max() <= 0.1 + 1e-6 and a.min() >= 0 and a.max() <= 1


def test_pgd_linf_random_start_is_one_uniform_draw_of_the_input_shape():
    # steps of size 0 leave the start: x + U[-eps, eps] drawn as torch.rand(x.shape) * 2 - 1
    x = torch.full((2, 3), 0.5)
    start = pgd_linf(
        lambda z: z, x, torch.tensor([0, 1]), 0.2, steps=1, step_size=1e-12, generator=torch.Generator().manual_seed(3)
    )
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(start, x + (u * 2 - 1) * 0.2, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(eps=0.0), "eps"), (dict(eps=0.1, steps=0), "steps"), (dict(eps=0.1, step_size=-1.0), "step_size")],
)
def test_pgd_linf_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pgd_linf(lambda z: z, torch.zeros(1, 2), torch.tensor([0]), **kwargs)
