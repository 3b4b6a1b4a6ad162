r"""Escape times of an optimiser from quadratic basins of several sharpnesses (Xie et al., ICML 2022).

The diffusion model of the paper's escape analysis: near a minimum of sharpness (Hessian
eigenvalue) :math:`h` the loss is :math:`L(x) = \tfrac{h}{2} x^2` and a minibatch gradient is
:math:`g = h x + \sqrt{h/B}\,\xi`, :math:`\xi \sim N(0, 1)`: gradient noise whose variance is
proportional to the Hessian, :math:`C = H/B`. The basin ends where the loss reaches the barrier
:math:`\Delta L`, at :math:`|x| = b(h) = \sqrt{2\Delta L/h}`. For SGD with learning rate :math:`\eta`
the stationary variance of :math:`x` is about :math:`\eta/(2B)` whatever :math:`h`, so the mean
escape time grows like :math:`\log\tau \approx 2B\Delta L/(\eta h)`: exponentially in
:math:`1/h`. An adaptive learning rate :math:`\eta/\sqrt{v}` with :math:`v \approx h/B` gives
:math:`\log\tau \approx 2\Delta L\sqrt{B}/(\eta\sqrt{h})`: only in :math:`1/\sqrt{h}`.

:func:`basin_escape` simulates many independent particles at once: a parameter of shape
``(particles, len(sharpness))`` whose column ``s`` sits in the basin of sharpness
``sharpness[s]``, stepped by one real optimiser. A coordinate that leaves its basin counts one
escape and restarts at the minimum with its first moment (momentum buffer) set to zero, so
each column is a renewal process and its mean escape time is the number of coordinate-steps
divided by the number of escapes (the maximum-likelihood estimate for exponential waiting
times). :func:`log_escape_slope` fits :math:`\log\tau` against :math:`1/h`.

References:
    Z. Xie, X. Wang, H. Zhang, I. Sato, M. Sugiyama. Adaptive Inertia: Disentangling the
    Effects of Adaptive Learning Rate and Momentum. ICML 2022, the escape-time analysis
    (SGD and Adai: log escape time proportional to 1/H; Adam: to 1/sqrt(H)), with the
    minibatch-noise model C = H/B of Xie et al., ICLR 2021.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_positive

__all__ = ["BasinEscape", "basin_escape", "log_escape_slope"]

# Optimiser state entries holding a first moment (torch SGD, torch Adam/AdamW, Adai).
_FIRST_MOMENTS = ("momentum_buffer", "exp_avg")


@dataclass(frozen=True)
class BasinEscape:
    """What :func:`basin_escape` measured, one entry per sharpness.

    Attributes:
        sharpness: the basins' Hessian eigenvalues :math:`h`.
        escapes: escapes counted per basin (over all particles).
        exposure: coordinate-steps simulated per basin (particles x steps).
        mean_time: ``exposure / escapes`` (``inf`` where nothing escaped).

    References:
        Xie et al., ICML 2022, Sec. 3 (mean escape time from a basin against its sharpness);
        :func:`basin_escape` fills it.

    Example:
        >>> record = BasinEscape(sharpness=(1.0, 4.0), escapes=(2, 8), exposure=100, mean_time=(50.0, 12.5))
        >>> record.mean_time[0] > record.mean_time[1]  # the flat basin holds particles longer
        True
    """

    sharpness: tuple[float, ...]
    escapes: tuple[int, ...]
    exposure: int
    mean_time: tuple[float, ...]


def basin_escape(
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    sharpness: Sequence[float],
    *,
    barrier: float,
    noise_batch: float,
    particles: int,
    steps: int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> BasinEscape:
    r"""Mean escape time of an optimiser from quadratic basins with Hessian-shaped gradient noise.

    Each step: :math:`g = h x + \sqrt{h/B}\,\xi` for every coordinate (``xi`` from
    ``generator``), one optimiser step on the whole ``(particles, S)`` parameter, then every
    coordinate with :math:`|x| > \sqrt{2\Delta L/h}` counts an escape and restarts at 0 with its
    first moment zeroed (second moments and step counts are kept).

    Args:
        make_optimizer: builds the optimiser for a list of parameters (e.g. ``lambda p: Adai(p, lr=0.05)``).
        sharpness: the basins' Hessian eigenvalues :math:`h > 0`, one column each.
        barrier: the loss barrier :math:`\Delta L > 0`, the same for every basin.
        noise_batch: :math:`B > 0` of the noise covariance :math:`h/B`.
        particles: independent particles per basin (>= 1).
        steps: optimiser steps (>= 1).
        generator: the seeded generator of the gradient noise.
        dtype: the parameter's dtype.

    Returns:
        A :class:`BasinEscape` with the escape counts and mean escape times per sharpness.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> out = basin_escape(lambda p: torch.optim.SGD(p, lr=0.1), [1.0, 4.0], barrier=0.2,
        ...                    noise_batch=1.0, particles=200, steps=400, generator=gen)
        >>> out.mean_time[0] > out.mean_time[1]  # the flat basin holds the particles longer
        True

    References:
        Xie et al., ICML 2022, the escape-time analysis (module docstring); the noise model
        C = H/B of Xie et al., ICLR 2021 (A Diffusion Theory for Deep Learning Dynamics).
    """
    hs = [float(v) for v in sharpness]
    for i, v in enumerate(hs):
        check_positive(f"sharpness[{i}]", v)
    if not hs:
        raise ValueError("sharpness=[] is empty: give at least one basin")
    check_positive("barrier", barrier)
    check_positive("noise_batch", noise_batch)
    check_int("particles", particles, low=1)
    check_int("steps", steps, low=1)
    h = torch.tensor(hs, dtype=dtype)
    noise_std = torch.sqrt(h / noise_batch)
    bound = torch.sqrt(2.0 * barrier / h)
    x = torch.zeros(particles, len(hs), dtype=dtype, requires_grad=True)
    optimizer = make_optimizer([x])
    escapes = torch.zeros(len(hs), dtype=torch.int64)
    for _ in range(steps):
        xi = torch.randn(x.shape, generator=generator, dtype=dtype)
        x.grad = h * x.detach() + noise_std * xi
        optimizer.step()
        with torch.no_grad():
            out = x.abs() > bound
            escapes += out.sum(dim=0)
            x.masked_fill_(out, 0.0)
            for key in _FIRST_MOMENTS:
                moment = optimizer.state[x].get(key)
                if isinstance(moment, Tensor):
                    moment.masked_fill_(out, 0.0)
    exposure = particles * steps
    counts = tuple(int(c) for c in escapes)
    times = tuple(exposure / c if c > 0 else math.inf for c in counts)
    return BasinEscape(sharpness=tuple(hs), escapes=counts, exposure=exposure, mean_time=times)


def log_escape_slope(sharpness: Sequence[float], mean_time: Sequence[float]) -> float:
    r"""Least-squares slope of :math:`\log\tau` against :math:`1/h`.

    Args:
        sharpness: Hessian eigenvalues :math:`h > 0` (at least two distinct ones).
        mean_time: the mean escape times :math:`\tau > 0` (finite) at those sharpnesses.

    Returns:
        The slope :math:`d\log\tau / d(1/h)`; about :math:`2B\Delta L/\eta` for SGD.

    Example:
        >>> hs = [1.0, 2.0, 4.0]
        >>> round(log_escape_slope(hs, [math.exp(3.0 / h + 1.0) for h in hs]), 6)
        3.0

    References:
        Xie et al., ICML 2022, the escape-time analysis: :math:`\log\tau` is linear in
        :math:`1/h` for SGD and Adai.
    """
    if len(sharpness) != len(mean_time) or len(sharpness) < 2:
        raise ValueError(
            f"sharpness and mean_time have lengths {len(sharpness)} and {len(mean_time)}: "
            "expected equal lengths, at least 2"
        )
    for i, v in enumerate(sharpness):
        check_positive(f"sharpness[{i}]", v)
    u = [1.0 / float(v) for v in sharpness]
    logs = []
    for i, t in enumerate(mean_time):
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"mean_time[{i}]={t!r} is out of range: expected a finite positive time")
        logs.append(math.log(t))
    mu, ml = sum(u) / len(u), sum(logs) / len(logs)
    var = sum((a - mu) ** 2 for a in u)
    if var == 0.0:
        raise ValueError(f"sharpness={list(sharpness)!r} has no spread: expected at least two distinct values")
    return sum((a - mu) * (b - ml) for a, b in zip(u, logs)) / var
