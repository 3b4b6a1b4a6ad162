"""Escape times from quadratic basins (icml22dl.analysis.escape)."""

import math

import pytest
import torch

from icml22dl.analysis.escape import basin_escape, log_escape_slope


def _plain_sgd_escapes(hs, barrier, noise_batch, lr, particles, steps, seed):
    """An independent re-implementation of SGD in the basins, drawing the same noise."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.tensor(hs, dtype=torch.float64)
    bound = torch.sqrt(2.0 * barrier / h)
    x = torch.zeros(particles, len(hs), dtype=torch.float64)
    counts = torch.zeros(len(hs), dtype=torch.int64)
    for _ in range(steps):
        xi = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        x = x - lr * (h * x + torch.sqrt(h / noise_batch) * xi)
        out = x.abs() > bound
        counts += out.sum(0)
        x = torch.where(out, torch.zeros_like(x), x)
    return tuple(int(c) for c in counts)


def test_sgd_counts_match_a_plain_reimplementation():
    hs, kwargs = [1.0, 3.0], dict(barrier=0.1, noise_batch=2.0, particles=300, steps=300)
    out = basin_escape(lambda p: torch.optim.SGD(p, lr=0.05), hs, generator=torch.Generator().manual_seed(3), **kwargs)
    # Same noise, same arithmetic (x - lr g in float64): the counts agree exactly.
    assert out.escapes == _plain_sgd_escapes(hs, lr=0.05, seed=3, **kwargs)
    assert out.exposure == 300 * 300
    assert out.mean_time == tuple(out.exposure / c for c in out.escapes)


def test_sgd_slope_is_near_the_diffusion_prediction():
    # log tau ~ 2 B dL / (eta h) + log(prefactor); the prefactor (a relaxation time ~ 1/(eta h))
    # adds a little slope, so the measured slope lies somewhat above 2 B dL / eta = 6.
    hs = [1.0, 2.0, 4.0]
    out = basin_escape(
        lambda p: torch.optim.SGD(p, lr=0.05),
        hs,
        barrier=0.15,
        noise_batch=1.0,
        particles=1000,
        steps=1500,
        generator=torch.Generator().manual_seed(0),
    )
    assert 6.0 * 0.9 <= log_escape_slope(hs, out.mean_time) <= 6.0 * 1.5


def test_adam_escape_depends_less_on_sharpness_than_sgd():
    # Adam's step lr / sqrt(v) with v ~ h / B: log tau ~ 1 / sqrt(h), a flatter slope than SGD's 1 / h.
    hs = [1.0, 2.0, 4.0]
    kwargs = dict(barrier=0.15, noise_batch=1.0, particles=1000, steps=1500)
    sgd = basin_escape(lambda p: torch.optim.SGD(p, lr=0.05), hs, generator=torch.Generator().manual_seed(1), **kwargs)
    adam = basin_escape(
        lambda p: torch.optim.Adam(p, lr=0.05 * math.sqrt(2.0)),
        hs,
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    assert log_escape_slope(hs, adam.mean_time) < 0.7 * log_escape_slope(hs, sgd.mean_time)


def test_an_escape_restarts_the_coordinate_with_zero_momentum():
    # lr so large that every coordinate leaves its basin at the first step.
    holder = {}

    def make(params):
        holder["opt"] = torch.optim.SGD(params, lr=100.0, momentum=0.9)
        return holder["opt"]

    out = basin_escape(
        make, [1.0, 2.0], barrier=1e-6, noise_batch=1.0, particles=5, steps=1, generator=torch.Generator()
    )
    assert out.escapes == (5, 5)
    (x,) = holder["opt"].param_groups[0]["params"]
    assert torch.equal(x.detach(), torch.zeros(5, 2, dtype=torch.float64))
    assert torch.equal(holder["opt"].state[x]["momentum_buffer"], torch.zeros(5, 2, dtype=torch.float64))


def test_no_escape_gives_an_infinite_mean_time():
    out = basin_escape(
        lambda p: torch.optim.SGD(p, lr=1e-6),
        [1.0],
        barrier=10.0,
        noise_batch=1.0,
        particles=10,
        steps=5,
        generator=torch.Generator(),
    )
    assert out.escapes == (0,) and out.mean_time == (math.inf,)


def test_log_escape_slope_recovers_a_line_and_rejects_bad_input():
    hs = [0.5, 1.0, 2.0, 8.0]
    assert log_escape_slope(hs, [math.exp(-2.0 + 1.5 / h) for h in hs]) == pytest.approx(1.5, rel=1e-12)
    with pytest.raises(ValueError, match="mean_time"):
        log_escape_slope([1.0, 2.0], [1.0, math.inf])
    with pytest.raises(ValueError, match="no spread"):
        log_escape_slope([2.0, 2.0], [1.0, 3.0])
    with pytest.raises(ValueError, match="lengths"):
        log_escape_slope([1.0], [1.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(barrier=0.0), "barrier"),
        (dict(noise_batch=-1.0), "noise_batch"),
        (dict(particles=0), "particles"),
        (dict(steps=0), "steps"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    args = dict(barrier=0.1, noise_batch=1.0, particles=2, steps=2, generator=torch.Generator()) | kwargs
    with pytest.raises(ValueError, match=match):
        basin_escape(lambda p: torch.optim.SGD(p, lr=0.1), [1.0], **args)
    with pytest.raises(ValueError, match="sharpness"):
        basin_escape(lambda p: torch.optim.SGD(p, lr=0.1), [1.0, -1.0], **(args | {match: 1}))
