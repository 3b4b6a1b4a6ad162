"""Reduced dynamics, critical points, escape times and rates of balanced deep linear networks.

For ``L = 1/2 ||W_N ... W_1 - Z||_F^2`` with a width-one layer and a balanced
initialisation, the end-to-end matrix stays rank one, ``W(t) = s(t) u(t) v(t)^T``, and
gradient flow on the factors reduces exactly to three equations (derived from the
end-to-end flow of Arora et al. 2018; docs/papers/deep_linear.md#method):

    ds/dt = N s^(2 - 2/N) (u^T Z v - s)
    du/dt = s^(1 - 2/N) (I - u u^T) Z v
    dv/dt = s^(1 - 2/N) (I - v v^T) Z^T u

References:
    K. Chen, D. Lin, Z. Zhang. On non-local convergence analysis of deep linear networks.
    ICML 2022 (arXiv 2201.02761): critical points, limits and rates by stages. The constants
    below are derived for this model and checked numerically against factor-level gradient
    flow, not transcribed from the paper (docs/papers/deep_linear.md#deviations-from-the-paper).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_number

__all__ = [
    "ReducedFlowResult",
    "crossing_time",
    "end_to_end_critical_points",
    "escape_time",
    "final_rate",
    "fitted_rate",
    "reduced_flow",
    "saddle_escape_rate",
]


@dataclass
class ReducedFlowResult:
    """Trajectory of :func:`reduced_flow`: one row per recorded time.

    Attributes:
        times: recorded times ``(T,)``.
        s: the singular value ``s(t)`` ``(T,)``.
        u, v: the singular vectors ``(T, d_y)`` and ``(T, d_x)``.
        loss: ``1/2 ||s u v^T - Z||^2`` ``(T,)``.

    Example:
        >>> z = torch.diag(torch.tensor([3.0, 2.0], dtype=torch.float64))
        >>> e1 = torch.tensor([1.0, 0.0], dtype=torch.float64)
        >>> r = reduced_flow(z, 3.0, e1, e1, 2, 1.0, 0.5)  # the global minimum is a fixed point
        >>> r.s.tolist(), r.products[-1].tolist()
        ([3.0, 3.0, 3.0], [[3.0, 0.0], [0.0, 0.0]])

    References:
        The reduced dynamics of docs/papers/deep_linear.md#method (Chen, Lin & Zhang, ICML 2022).
    """

    times: Tensor
    s: Tensor
    u: Tensor
    v: Tensor
    loss: Tensor

    @property
    def products(self) -> Tensor:
        """``W(t) = s(t) u(t) v(t)^T``, stacked over the recorded times."""
        return self.s[:, None, None] * self.u[:, :, None] * self.v[:, None, :]


def _rhs(z: Tensor, s: Tensor, u: Tensor, v: Tensor, depth: int) -> tuple[Tensor, Tensor, Tensor]:
    zv = z @ v
    ztu = z.T @ u
    c = torch.dot(u, zv)
    speed = s ** (1.0 - 2.0 / depth)
    ds = depth * s ** (2.0 - 2.0 / depth) * (c - s)
    du = speed * (zv - u * torch.dot(u, zv))
    dv = speed * (ztu - v * torch.dot(v, ztu))
    return ds, du, dv


def reduced_flow(
    Z: Tensor, s0: float, u0: Tensor, v0: Tensor, depth: int, T: float, dt: float, record_every: int = 1
) -> ReducedFlowResult:
    r"""Integrate the reduced (s, u, v) dynamics of a balanced rank-one deep linear network (RK4).

    .. math::
        \dot s = N s^{2-2/N}(u^T Z v - s),\quad
        \dot u = s^{1-2/N}(I - uu^T) Z v,\quad
        \dot v = s^{1-2/N}(I - vv^T) Z^T u

    Exact for gradient flow on the factors from a balanced init with product ``s0 u0 v0^T``
    (any hidden widths, one of them 1). ``u`` and ``v`` are not renormalised: the flow keeps
    them on the sphere up to the RK4 error.

    Args:
        Z: target ``(d_y, d_x)``.
        s0: initial singular value, > 0.
        u0: unit vector ``(d_y,)``.
        v0: unit vector ``(d_x,)``.
        depth: N >= 1, the number of factors.
        T: final time; steps ``round(T / dt)``.
        dt: RK4 step, > 0.
        record_every: record interval in steps (the final step is always recorded).

    Returns:
        :class:`ReducedFlowResult` with times, s, u, v and the loss ``1/2||s u v^T - Z||^2``.

    Example:
        >>> z = torch.diag(torch.tensor([3.0, 2.0], dtype=torch.float64))
        >>> e1 = torch.tensor([1.0, 0.0], dtype=torch.float64)
        >>> round(float(reduced_flow(z, 0.1, e1, e1, 2, 5.0, 1e-3).s[-1]), 6)
        3.0

    References:
        Chen, Lin & Zhang (ICML 2022), balanced gradient flow with a width-one layer; the
        reduced equations are derived in docs/papers/deep_linear.md#method ("Reduced dynamics").
    """
    check_int("depth", depth, low=1)
    check_number("s0", s0, low=0.0, low_inclusive=False)
    check_number("dt", dt, low=0.0, low_inclusive=False)
    check_number("T", T, low=0.0)
    check_int("record_every", record_every, low=1)
    if u0.shape != (Z.shape[0],) or v0.shape != (Z.shape[1],):
        raise ValueError(f"u0 must be ({Z.shape[0]},) and v0 ({Z.shape[1]},), got {tuple(u0.shape)}, {tuple(v0.shape)}")
    steps = int(round(T / dt))
    s = torch.tensor(float(s0), dtype=Z.dtype)
    u = u0.to(Z.dtype) / torch.linalg.vector_norm(u0)
    v = v0.to(Z.dtype) / torch.linalg.vector_norm(v0)
    rows: list[tuple[float, Tensor, Tensor, Tensor]] = [(0.0, s.clone(), u.clone(), v.clone())]
    for step in range(1, steps + 1):
        a = _rhs(Z, s, u, v, depth)
        b = _rhs(Z, s + 0.5 * dt * a[0], u + 0.5 * dt * a[1], v + 0.5 * dt * a[2], depth)
        c = _rhs(Z, s + 0.5 * dt * b[0], u + 0.5 * dt * b[1], v + 0.5 * dt * b[2], depth)
        d = _rhs(Z, s + dt * c[0], u + dt * c[1], v + dt * c[2], depth)
        s = s + (dt / 6.0) * (a[0] + 2 * b[0] + 2 * c[0] + d[0])
        u = u + (dt / 6.0) * (a[1] + 2 * b[1] + 2 * c[1] + d[1])
        v = v + (dt / 6.0) * (a[2] + 2 * b[2] + 2 * c[2] + d[2])
        if step % record_every == 0 or step == steps:
            rows.append((step * dt, s.clone(), u.clone(), v.clone()))
    times = torch.tensor([r[0] for r in rows], dtype=torch.float64)
    ss = torch.stack([r[1] for r in rows])
    us = torch.stack([r[2] for r in rows])
    vs = torch.stack([r[3] for r in rows])
    products = ss[:, None, None] * us[:, :, None] * vs[:, None, :]
    loss = 0.5 * ((products - Z) ** 2).sum(dim=(1, 2))
    return ReducedFlowResult(times=times, s=ss, u=us, v=vs, loss=loss)


def end_to_end_critical_points(Z: Tensor) -> list[tuple[Tensor, float]]:
    r"""Critical points of ``1/2 ||W - Z||^2`` over matrices of rank <= 1.

    .. math::
        W = 0 \;(\text{loss } \tfrac12\textstyle\sum_i\sigma_i^2),\qquad
        W = \sigma_j u_j v_j^T \;(\text{loss } \tfrac12(\sum_i\sigma_i^2 - \sigma_j^2))

    ``j = 1`` is the global minimum; all the others are saddles (``W = 0`` non-strict for
    N >= 3). Singular values must be distinct for the points to be isolated.

    Args:
        Z: target matrix ``(d_y, d_x)``.

    Returns:
        ``[(W, loss), ...]``: ``W = 0`` first, then ``j = 1, 2, ...`` for each nonzero
        singular value.

    Example:
        >>> z = torch.diag(torch.tensor([3.0, 2.0], dtype=torch.float64))
        >>> [loss for _, loss in end_to_end_critical_points(z)]
        [6.5, 2.0, 4.5]

    References:
        Chen, Lin & Zhang (ICML 2022): the end-to-end critical points (global minimum and
        saddles); docs/papers/deep_linear.md#method.
    """
    if Z.ndim != 2:
        raise ValueError(f"Z must be a matrix, got shape {tuple(Z.shape)}")
    U, S, Vh = torch.linalg.svd(Z, full_matrices=False)
    total = 0.5 * float(torch.sum(S * S))
    points = [(torch.zeros_like(Z), total)]
    for j in range(len(S)):
        if float(S[j]) > 0:
            points.append((float(S[j]) * torch.outer(U[:, j], Vh[j]), total - 0.5 * float(S[j]) ** 2))
    return points


def escape_time(s0: float, sigma1: float, depth: int, fraction: float = 0.5) -> float:
    r"""Time for ``s`` to grow from ``s0`` to ``fraction * sigma1`` when ``(u, v) = (u_1, v_1)``.

    .. math::
        T = \int_{s_0}^{f\sigma_1} \frac{ds}{N s^{2-2/N} (\sigma_1 - s)}

    (``u^T Z v = sigma_1`` stays constant for the aligned start). N = 2: about
    ``ln(sigma1/s0)/(2 sigma1)``; N >= 3: about ``s0^{-(N-2)/N}/((N-2) sigma1)`` (sublinear).
    Computed by adaptive quadrature in ``t = ln s``.

    Args:
        s0: initial singular value, ``0 < s0 < fraction * sigma1``.
        sigma1: top singular value of Z, > 0.
        depth: N >= 1.
        fraction: the target level as a fraction of sigma1, in (0, 1).

    Returns:
        The time T.

    Example:
        >>> round(escape_time(1e-3, 3.0, 2), 4)  # ln((sigma1 - s0) / s0) / (2 sigma1) for N = 2
        1.3343

    References:
        Chen, Lin & Zhang (ICML 2022), "rates by stages", the first (escape) stage; the
        quadrature is derived from the reduced dynamics (docs/papers/deep_linear.md#method).
    """
    from scipy.integrate import quad

    check_number("fraction", fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_number("sigma1", sigma1, low=0.0, low_inclusive=False)
    check_number("s0", s0, low=0.0, high=fraction * sigma1, low_inclusive=False, high_inclusive=False)
    check_int("depth", depth, low=1)

    def integrand(t: float) -> float:  # s = e^t, ds = s dt
        s = math.exp(t)
        return s / (depth * s ** (2.0 - 2.0 / depth) * (sigma1 - s))

    value, _ = quad(integrand, math.log(s0), math.log(fraction * sigma1), epsabs=0.0, epsrel=1e-12, limit=200)
    return value


def final_rate(sigmas: Sequence[float] | Tensor, depth: int) -> float:
    r"""Linear rate of the final phase: ``L - L* ~ exp(-rate t)``.

    .. math::
        \text{rate} = 2 \min\big(N\sigma_1^{2-2/N},\; (\sigma_1-\sigma_2)\sigma_1^{1-2/N}\big)

    The first term is the radial (s) direction, the second the rotation of (u, v) away
    from the second singular pair (sigma_2 = 0 when Z has rank one).

    Args:
        sigmas: singular values of Z, largest first.
        depth: N >= 1.

    Returns:
        The rate (> 0 when sigma_1 > sigma_2).

    Example:
        >>> final_rate((3.0, 2.0, 1.0), 2)  # 2 min(2 * 3, (3 - 2) * 1)
        2.0

    References:
        Chen, Lin & Zhang (ICML 2022), "rates by stages", the final linear stage; the rate is
        derived by linearising the reduced flow (docs/papers/deep_linear.md#method).
    """
    values = sorted((float(s) for s in sigmas), reverse=True)
    if not values or values[0] <= 0:
        raise ValueError(f"sigmas must contain a positive value, got {sigmas!r}")
    check_int("depth", depth, low=1)
    s1 = values[0]
    s2 = values[1] if len(values) > 1 else 0.0
    return 2.0 * min(depth * s1 ** (2.0 - 2.0 / depth), (s1 - s2) * s1 ** (1.0 - 2.0 / depth))


def saddle_escape_rate(sigmas: Sequence[float] | Tensor, depth: int) -> float:
    r"""Growth rate of ``|p_1|`` near the saddle ``sigma_2 u_2 v_2^T``: the slope of the delay in ``ln(1/|p_1(0)|)``.

    With ``p_1 = u^T u_1 + v^T v_1`` the reduced flow gives exactly

    .. math::
        \dot p_1 = s^{1-2/N} (\sigma_1 - u^\top Z v)\, p_1,
        \qquad \lambda = \sigma_2^{1-2/N} (\sigma_1 - \sigma_2) \text{ at the saddle},

    so ``p_1`` never changes sign, and a start with a small ``|p_1(0)|`` lingers near the
    saddle for about ``ln(1/|p_1(0)|) / lambda``: its time to converge grows with slope
    ``1 / lambda`` in ``ln(1/|p_1(0)|)`` (asymptotically, for small ``|p_1(0)|``).

    Args:
        sigmas: singular values of Z, largest first (at least two).
        depth: N >= 1.

    Returns:
        ``lambda`` (> 0 when sigma_1 > sigma_2 > 0).

    Example:
        >>> saddle_escape_rate((3.0, 2.0, 1.0), 2)  # 2^0 (3 - 2)
        1.0
        >>> round(saddle_escape_rate((3.0, 2.0, 1.0), 4), 6)  # sqrt(2) (3 - 2)
        1.414214

    References:
        Chen, Lin & Zhang (ICML 2022): the limit is the global minimum iff p_1(0) != 0, and
        the time spent near saddles depends on the start; the rate is derived from the
        reduced flow (docs/papers/deep_linear.md#method).
    """
    values = sorted((float(s) for s in sigmas), reverse=True)
    if len(values) < 2 or values[1] <= 0:
        raise ValueError(f"sigmas must hold two positive values, got {sigmas!r}")
    check_int("depth", depth, low=1)
    return values[1] ** (1.0 - 2.0 / depth) * (values[0] - values[1])


def crossing_time(times: Tensor, values: Tensor, level: float) -> float:
    r"""First time a recorded trajectory reaches ``level``, linearly interpolated between grid times.

    .. math::
        k = \min\{i : y_i \ge \ell\},\qquad t^\star = t_{k-1} + (\ell - y_{k-1})\frac{t_k - t_{k-1}}{y_k - y_{k-1}}

    Used to measure the escape time of ``s(t)`` (the top singular value of the product) at
    ``sigma_1 / 2`` and compare it with :func:`escape_time`.

    Args:
        times: increasing recorded times ``(T,)``.
        values: the trajectory at those times ``(T,)``.
        level: the level to reach.

    Returns:
        The interpolated crossing time; NaN when the trajectory never reaches ``level`` or
        already starts at or above it (no bracketing grid interval).

    Example:
        >>> t = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
        >>> crossing_time(t, torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64), 2.0)
        1.5

    References:
        Chen, Lin & Zhang (ICML 2022), "rates by stages": the measured side of the escape-time
        check in docs/papers/deep_linear.md#method (item 4).
    """
    if times.shape != values.shape or times.ndim != 1:
        raise ValueError(
            f"times and values must be vectors of one shape, got {tuple(times.shape)}, {tuple(values.shape)}"
        )
    reached = values >= level
    k = int(torch.nonzero(reached)[0]) if bool(reached.any()) else -1
    if k <= 0:
        return math.nan
    t0, t1, y0, y1 = float(times[k - 1]), float(times[k]), float(values[k - 1]), float(values[k])
    return t0 + (level - y0) * (t1 - t0) / (y1 - y0)


def _slope(times: Tensor, values: Tensor) -> float:
    t, y = times - times.mean(), values - values.mean()
    return float((t * y).sum() / (t * t).sum())


def fitted_rate(times: Tensor, excess: Tensor, window: tuple[float, float], min_points: int = 10) -> float:
    r"""Rate of the final linear phase fitted to a recorded excess loss ``L - L*``.

    .. math::
        \widehat{\text{rate}} = -\operatorname{slope}\big(t,\ \log(L - L^\star)\big)
        \quad\text{over the points with } \text{low} < L - L^\star < \text{high}

    (ordinary least squares). Compare with :func:`final_rate`.

    Args:
        times: recorded times ``(T,)``.
        excess: ``L(t) - L*`` at those times ``(T,)``.
        window: ``(low, high)``, the excess-loss range where the phase is linear (above
            round-off, below the transient).
        min_points: fewest points in the window for a fit.

    Returns:
        The fitted rate; NaN when fewer than ``min_points`` points lie in the window (the
        trajectory has not reached the final phase).

    Example:
        >>> t = torch.linspace(0.0, 10.0, 101, dtype=torch.float64)
        >>> round(fitted_rate(t, torch.exp(-2.0 * t), (1e-8, 1e-1)), 9)
        2.0

    References:
        Chen, Lin & Zhang (ICML 2022), "rates by stages": the measured side of the final-rate
        check in docs/papers/deep_linear.md#method (item 5).
    """
    check_int("min_points", min_points, low=2)
    low, high = window
    if not low < high:
        raise ValueError(f"window={window!r} must be increasing")
    inside = (excess > low) & (excess < high)
    if int(inside.sum()) < min_points:
        return math.nan
    return -_slope(times[inside], torch.log(excess[inside]))
