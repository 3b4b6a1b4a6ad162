"""Batched fixed-point solvers for z = f(z): Anderson acceleration, Broyden's method, plain iteration.

Every solver takes ``f`` (a map from a (B, ...) tensor to one of the same shape) and ``z0``
and returns ``(z, info)``: the iterate with the lowest residual seen and a :class:`SolverInfo`
(steps, residual traces, lowest residuals, converged flag, failure reason). Residuals are
measured over the whole batch as in locuslab/deq: abs = ||f(z) - z||, rel = abs / (1e-5 +
||f(z)||), or, with ``per_example=True``, as the largest per-example residual (torchdeq's
convention); ``stop_mode`` picks which one is compared with ``tol``. Non-convergence is data
(``converged=False``), never an exception; a non-finite iterate stops the solve with
``reason="nonfinite"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from icml22dl.validation import check_choice, check_int, check_number, check_positive

Map = Callable[[torch.Tensor], torch.Tensor]
STOP_MODES = ("rel", "abs")


@dataclass
class SolverInfo:
    """Statistics of one solve.

    Attributes:
        steps: number of evaluations of f after the initial one (iterations).
        abs_trace, rel_trace: residual after each iteration.
        abs_lowest, rel_lowest: residual of the returned iterate.
        converged: whether the stop criterion was met.
        reason: ``"converged"``, ``"max_iter"``, ``"nonfinite"`` or ``"singular"``.

    Example:
        >>> _, info = fixed_point(lambda z: 0.5 * z, torch.ones(1, 2), tol=1e-3)
        >>> info.converged, info.reason, info.steps == len(info.rel_trace)
        (True, 'converged', True)

    References: the statistics locuslab/deq's solvers return (``nstep``, ``abs_trace``,
    ``rel_trace``, ``lowest``).
    """

    steps: int = 0
    abs_trace: list[float] = field(default_factory=list)
    rel_trace: list[float] = field(default_factory=list)
    abs_lowest: float = math.inf
    rel_lowest: float = math.inf
    converged: bool = False
    reason: str = "max_iter"

    def as_dict(self) -> dict[str, float]:
        """Scalar statistics (steps, lowest residuals, converged as 0/1)."""
        return {
            "steps": float(self.steps),
            "abs_lowest": self.abs_lowest,
            "rel_lowest": self.rel_lowest,
            "converged": float(self.converged),
        }


def _validate(max_iter: int, tol: float, stop_mode: str) -> None:
    check_int("max_iter", max_iter, low=1)
    check_positive("tol", tol)
    check_choice("stop_mode", stop_mode, STOP_MODES)


class _Tracker:
    """Keeps the lowest-residual iterate and the traces; decides when to stop."""

    def __init__(self, tol: float, stop_mode: str, per_example: bool = False) -> None:
        self.tol, self.stop_mode, self.info = tol, stop_mode, SolverInfo()
        self.best: torch.Tensor | None = None
        self.per_example = per_example

    def update(self, z: torch.Tensor, fz: torch.Tensor) -> bool:
        """Record the residual of iterate z (with image fz); True when the solve should stop."""
        if self.per_example:
            diff = (fz - z).flatten(1).norm(dim=1)
            abs_res = diff.max().item()
            rel_res = (diff / (1e-5 + fz.flatten(1).norm(dim=1))).max().item()
        else:
            abs_res = (fz - z).norm().item()
            rel_res = abs_res / (1e-5 + fz.norm().item())
        info = self.info
        info.abs_trace.append(abs_res)
        info.rel_trace.append(rel_res)
        if not math.isfinite(abs_res):
            info.reason = "nonfinite"
            return True
        res = rel_res if self.stop_mode == "rel" else abs_res
        lowest = info.rel_lowest if self.stop_mode == "rel" else info.abs_lowest
        if res < lowest or self.best is None:
            info.abs_lowest, info.rel_lowest, self.best = abs_res, rel_res, z.detach().clone()
        if res < self.tol:
            info.converged, info.reason = True, "converged"
            return True
        return False

    def result(self, z: torch.Tensor) -> tuple[torch.Tensor, SolverInfo]:
        return (self.best if self.best is not None else z), self.info


def fixed_point(
    f: Map, z0: torch.Tensor, max_iter: int = 50, tol: float = 1e-4, stop_mode: str = "rel", per_example: bool = False
) -> tuple[torch.Tensor, SolverInfo]:
    """Plain (Picard) iteration z_{k+1} = f(z_k).

    Math: converges locally iff the spectral radius of df/dz at z* is below 1.

    Args:
        f: the map; z0: the start (B, ...); max_iter: at most this many evaluations of f;
        tol: stop once the residual (``stop_mode``) falls below it; stop_mode: ``"rel"`` or ``"abs"``;
        per_example: measure the largest per-example residual instead of the batch's.

    Returns:
        ``(z, info)``: the lowest-residual iterate and a :class:`SolverInfo`.

    Example:
        >>> z, info = fixed_point(lambda z: 0.5 * z + 1, torch.zeros(1, 3), tol=1e-6)
        >>> round(z[0, 0].item(), 4), info.converged
        (2.0, True)

    References:
        torchdeq 0.1.0 ``fixed_point_iter`` (defaults 40 iterations, f_tol 1e-3, stop 'abs').
    """
    _validate(max_iter, tol, stop_mode)
    tracker, z = _Tracker(tol, stop_mode, per_example), z0
    for step in range(1, max_iter + 1):
        fz = f(z)
        tracker.info.steps = step
        if tracker.update(z, fz):
            break
        z = fz
    return tracker.result(z)


def anderson(
    f: Map,
    z0: torch.Tensor,
    m: int = 5,
    lam: float = 1e-4,
    beta: float = 1.0,
    max_iter: int = 50,
    tol: float = 1e-4,
    stop_mode: str = "rel",
    per_example: bool = False,
) -> tuple[torch.Tensor, SolverInfo]:
    """Anderson acceleration (type II) of z = f(z), batched over the first dimension.

    Math: with the last n = min(k, m) iterates X, images F and residuals G = F - X (per
    sample), solve min_a ||G^T a||^2 + lam ||a||^2 s.t. sum(a) = 1 through the bordered
    (n+1) x (n+1) system [[0, 1^T], [1, G G^T + lam I]] [nu; a] = [1; 0]; then
    x_{k+1} = beta sum_i a_i f(x_i) + (1 - beta) sum_i a_i x_i.

    Args:
        f: the map; z0: the start (B, ...); m: memory (>= 1); lam: Tikhonov term (> 0);
        beta: mixing (0 < beta <= 1); max_iter: at most this many evaluations of f;
        tol: stop once the residual falls below it; stop_mode: ``"rel"`` or ``"abs"``;
        per_example: largest per-example residual instead of the batch's.

    Returns:
        ``(z, info)``: the lowest-residual iterate and a :class:`SolverInfo`. A singular
        bordered system (locuslab/deq #20) ends the solve with ``reason="singular"``.

    Note: ``lam`` is absolute, as in locuslab/deq and torchdeq: once ||g||^2 falls to about
    ``lam`` the coefficients flatten towards an average of the memory and the acceleration is
    lost (a symmetric linear problem with ||g|| ~ 1e-3 took 755 steps at lam = 1e-4, 78 at 1e-8).

    Example:
        >>> w = 0.9 * torch.eye(3)
        >>> z, info = anderson(lambda z: z @ w.T + 1, torch.zeros(2, 3), tol=1e-8)
        >>> round(z[0, 0].item(), 3)
        10.0

    References:
        Walker & Ni (2011); locuslab/deq ``anderson`` (m = 6, lam = 1e-4, beta = 1.0, threshold 50,
        eps 1e-3, stop_mode 'rel'); torchdeq 0.1.0 ``anderson``.
    """
    _validate(max_iter, tol, stop_mode)
    check_int("m", m, low=1)
    check_positive("lam", lam)
    check_number("beta", beta, low=0.0, high=1.0, low_inclusive=False)
    shape, bsz = z0.shape, z0.shape[0]
    d = z0[0].numel()
    X = z0.new_zeros(bsz, m, d)
    F = z0.new_zeros(bsz, m, d)
    tracker = _Tracker(tol, stop_mode, per_example)
    x = z0.reshape(bsz, d)
    fx = f(x.reshape(shape)).reshape(bsz, d)
    tracker.info.steps = 1
    if tracker.update(x, fx):
        return tracker.result(x.reshape(shape))[0].reshape(shape), tracker.info
    X[:, 0], F[:, 0] = x, fx
    # the second iterate is a plain step x_1 = f(x_0), as in locuslab/deq
    H = z0.new_zeros(bsz, m + 1, m + 1)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    y = z0.new_zeros(bsz, m + 1, 1)
    y[:, 0] = 1
    x = fx
    for k in range(1, max_iter):
        if k > 1 or m == 1:
            n = min(k, m)
            G = F[:, :n] - X[:, :n]
            H[:, 1 : n + 1, 1 : n + 1] = G @ G.transpose(1, 2) + lam * torch.eye(n, dtype=z0.dtype, device=z0.device)
            try:
                alpha = torch.linalg.solve(H[:, : n + 1, : n + 1], y[:, : n + 1])[:, 1 : n + 1, 0]
            except RuntimeError:
                tracker.info.reason = "singular"
                break
            if not torch.isfinite(alpha).all():
                tracker.info.reason = "singular"
                break
            x = beta * (alpha[:, None] @ F[:, :n])[:, 0] + (1 - beta) * (alpha[:, None] @ X[:, :n])[:, 0]
        fx = f(x.reshape(shape)).reshape(bsz, d)
        tracker.info.steps = k + 1
        X[:, k % m], F[:, k % m] = x, fx
        if tracker.update(x, fx):
            break
    z, info = tracker.result(x)
    return z.reshape(shape), info


def broyden(
    f: Map,
    z0: torch.Tensor,
    max_iter: int = 50,
    tol: float = 1e-4,
    stop_mode: str = "rel",
    line_search: bool = False,
    per_example: bool = False,
) -> tuple[torch.Tensor, SolverInfo]:
    """Broyden's ("good") quasi-Newton method on g(z) = f(z) - z, batched per sample.

    Math: the inverse Jacobian estimate B^{-1} = -I + U V^T (B ~ dg/dz = J - I at start);
    step dz = -B^{-1} g; after dz, dg: B^{-1} += (dz - B^{-1} dg) dz^T B^{-1} / (dz^T B^{-1} dg)
    (Sherman-Morrison). With ``line_search`` the step length is halved (at most 4 times)
    until the batch residual decreases (a simple backtracking rule).

    Args:
        f: the map; z0: the start (B, ...); max_iter: at most this many evaluations of f
        (not counting the line search); tol: stop once the residual falls below it;
        stop_mode: ``"rel"`` or ``"abs"``; line_search: backtracking on the step length;
        per_example: largest per-example residual instead of the batch's.

    Returns:
        ``(z, info)``: the lowest-residual iterate and a :class:`SolverInfo`.

    Example:
        >>> z, info = broyden(lambda z: 0.5 * z + 1, torch.zeros(1, 3), tol=1e-8)
        >>> round(z[0, 0].item(), 4)
        2.0

    References:
        Broyden (1965); locuslab/deq ``broyden(f, x0, threshold, eps=1e-3, stop_mode="rel", ls=False)``.
    """
    _validate(max_iter, tol, stop_mode)
    shape, bsz = z0.shape, z0.shape[0]
    d = z0[0].numel()
    tracker = _Tracker(tol, stop_mode, per_example)

    def g_of(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fz = f(z.reshape(shape)).reshape(bsz, d)
        return fz, fz - z

    U = z0.new_zeros(bsz, d, max_iter)
    Vt = z0.new_zeros(bsz, max_iter, d)
    rank = 0

    def inv_mv(v: torch.Tensor) -> torch.Tensor:  # B^{-1} v
        if rank == 0:
            return -v
        return -v + (U[:, :, :rank] @ (Vt[:, :rank] @ v[:, :, None]))[:, :, 0]

    def vt_inv(v: torch.Tensor) -> torch.Tensor:  # v^T B^{-1}
        if rank == 0:
            return -v
        return -v + ((v[:, None] @ U[:, :, :rank]) @ Vt[:, :rank])[:, 0]

    z = z0.reshape(bsz, d)
    fz, gz = g_of(z)
    tracker.info.steps = 1
    if tracker.update(z, fz):
        return tracker.result(z)[0].reshape(shape), tracker.info
    for step in range(2, max_iter + 1):
        dz = -inv_mv(gz)
        t = 1.0
        z_new = z + dz
        fz_new, gz_new = g_of(z_new)
        if line_search:
            for _ in range(4):
                if gz_new.norm() < gz.norm():
                    break
                t /= 2
                z_new = z + t * dz
                fz_new, gz_new = g_of(z_new)
        tracker.info.steps = step
        if tracker.update(z_new, fz_new):
            z = z_new
            break
        dz, dg = z_new - z, gz_new - gz
        z, gz = z_new, gz_new
        vt = vt_inv(dz)
        denom = (vt * dg).sum(dim=1, keepdim=True)
        denom = torch.where(denom.abs() < 1e-12, torch.full_like(denom, 1e-12), denom)
        u = (dz - inv_mv(dg)) / denom
        if rank < max_iter:
            U[:, :, rank], Vt[:, rank] = u, vt
            rank += 1
    out, info = tracker.result(z)
    return out.reshape(shape), info


SOLVERS: dict[str, Callable[..., tuple[torch.Tensor, SolverInfo]]] = {
    "anderson": anderson,
    "broyden": broyden,
    "fixed_point": fixed_point,
}


def get_solver(name: str) -> Callable[..., tuple[torch.Tensor, SolverInfo]]:
    """The solver registered as ``name`` (``anderson``, ``broyden``, ``fixed_point``).

    Example:
        >>> get_solver("anderson") is anderson
        True
    """
    check_choice("solver", name, tuple(SOLVERS))
    return SOLVERS[name]


__all__ = ["SOLVERS", "SolverInfo", "anderson", "broyden", "fixed_point", "get_solver"]
