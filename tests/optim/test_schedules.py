"""PiecewiseLinearLR against numpy's interpolation, and its argument checks."""

import numpy as np
import pytest
import torch

from icml22dl.optim import PiecewiseLinearLR


def _lrs(total, points, steps=None):
    opt = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=123.0)
    sched = PiecewiseLinearLR(opt, total, points)
    out = []
    for _ in range(steps or total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_matches_numpy_interp_at_k_over_total():
    points = [(0.0, 0.0), (0.4, 0.01), (0.8, 0.01 / 20), (1.0, 0.0)]
    total = 63
    expected = np.interp(np.arange(1, total + 1) / total, *zip(*points))
    assert np.allclose(_lrs(total, points), expected, rtol=0, atol=1e-15)


def test_equals_the_official_formula_bit_for_bit():
    # the official ortho_conv schedule as written there, evaluated at step / total
    peak, total = 5e-3, 252

    def official(step):
        t = step / total
        knots = ((0.0, 0.0), (0.4, peak), (0.8, peak / 20), (1.0, 0.0))
        for (t0, v0), (t1, v1) in zip(knots, knots[1:]):
            if t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return 0.0

    got = _lrs(total, [(0.0, 0.0), (0.4, peak), (0.8, peak / 20), (1.0, 0.0)])
    assert got == [official(step) for step in range(1, total + 1)]


def test_holds_the_last_value_past_the_end():
    assert _lrs(4, [(0.0, 1.0), (0.5, 2.0)], steps=6)[-3:] == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    "total, points, match",
    [
        (0, [(0.0, 0.0), (1.0, 1.0)], "total_steps"),
        (5, [(0.1, 0.0), (1.0, 1.0)], "points"),
        (5, [(0.0, 0.0), (0.5, 1.0), (0.5, 2.0)], "increasing"),
        (5, [(0.0, 0.0), (1.0, -1.0)], "lr"),
    ],
)
def test_bad_arguments_name_themselves(total, points, match):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match=match):
        PiecewiseLinearLR(opt, total, points)
