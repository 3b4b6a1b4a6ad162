"""Paper 7, ``deep_linear``: non-local convergence of deep linear networks with a width-1 layer.

Claim (Chen, Lin & Zhang, ICML 2022): for the quadratic loss and a deep linear network with
a width-one layer, gradient flow from any balanced initialisation has a fully described
limit (the global minimum when p1(0) != 0, a saddle otherwise), reached through stages with
explicit rates (sublinear escape for depth >= 3, then linear).

The run checks five items (docs/papers/deep_linear.md#method) on a random target with
chosen singular values: (1) factor-level RK4 gradient flow matches the reduced three-equation
dynamics and keeps balance; (2) every random balanced start (``starts.count`` per
architecture, integrated as one batch) converges, L - L* <= ``starts.tol``, before the cap
``starts.t_max``; its convergence time is reported against ln(1/|p1(0)|), whose slope the
theory predicts (``analysis.saddle_escape_rate``); (3) the saddle sigma_2 u_2 v_2^T (p1 = 0)
is a fixed point of the factor flow up to round-off (a generic p1(0) = 0 start converges to
it); (4) the escape time matches the quadrature; (5) the late-phase slope of log(L - L*) of
every converged start matches the predicted rate. Everything is float64 and computed on the
CPU (the model is tiny; the config has no device field); ``paper`` is a larger target and
deeper networks.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from icml22dl.analysis.deep_linear import (
    crossing_time,
    escape_time,
    final_rate,
    fitted_rate,
    reduced_flow,
    saddle_escape_rate,
)
from icml22dl.data.linear_targets import spectral_target
from icml22dl.nn.linear_nets import balanced_rank_one_init, factor_flow
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    check_finite,
    derive_generator,
    load_claim,
    param,
)

DEFAULTS = "docs/papers/deep_linear.md#defaults"


def _parse_widths(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in text.split("-"))


@dataclass(frozen=True)
class Target(ConfigBlock):
    """The target ``Z = U diag(sigma) V^T`` of shape ``(d_y, d_x)``, random orthogonal factors."""

    singular_values: tuple[float, ...] = param(
        (3.0, 2.0, 1.0, 0.5, 0.2),
        low=0.0,
        low_inclusive=False,
        help=f"sigma_i of Z, distinct, largest first ({DEFAULTS})",
    )
    d_y: int = param(5, low=1, help=f"rows of Z ({DEFAULTS})")
    d_x: int = param(6, low=1, help=f"columns of Z ({DEFAULTS})")

    def check(self) -> None:
        if len(self.singular_values) > min(self.d_x, self.d_y):
            raise ValueError(
                f"Target.singular_values has {len(self.singular_values)} values, more than "
                f"min(d_x, d_y) = {min(self.d_x, self.d_y)}"
            )
        if list(self.singular_values) != sorted(set(self.singular_values), reverse=True):
            raise ValueError(f"Target.singular_values={self.singular_values} must be distinct and decreasing")


@dataclass(frozen=True)
class Starts(ConfigBlock):
    """Items 1, 2 and 5: ``count`` random balanced starts of scale ``s0`` per architecture, run to convergence."""

    s0: float = param(0.05, low=0.0, low_inclusive=False, help=f"initial singular value of random starts ({DEFAULTS})")
    count: int = param(14, low=1, help=f"random starts per architecture ({DEFAULTS})")
    tol: float = param(
        1e-13, low=0.0, low_inclusive=False, help=f"a start has converged once L - L* <= tol ({DEFAULTS})"
    )
    t_max: float = param(50.0, low=0.0, low_inclusive=False, help=f"cap on each start's flow time ({DEFAULTS})")
    horizon: float = param(
        8.0, low=0.0, low_inclusive=False, help=f"T of item 1, the factor vs reduced comparison ({DEFAULTS})"
    )
    rate_window: tuple[float, float] = param(
        (1e-12, 1e-9),
        low=0.0,
        low_inclusive=False,
        help="L - L* range where the late-phase slope is fitted (our design)",
    )

    def check(self) -> None:
        if self.rate_window[0] >= self.rate_window[1]:
            raise ValueError(f"Starts.rate_window={self.rate_window} must be increasing")
        if self.tol >= self.rate_window[0]:
            raise ValueError(f"Starts.tol={self.tol} must lie below the rate window {self.rate_window}")
        if self.horizon > self.t_max:
            raise ValueError(f"Starts.horizon={self.horizon} must be <= t_max={self.t_max}")


@dataclass(frozen=True)
class Saddle(ConfigBlock):
    """Item 3: starts at the saddle ``sigma_2 u_2 v_2^T`` and generic starts with ``p1(0) = 0``."""

    horizon: float = param(15.0, low=0.0, low_inclusive=False, help=f"t range of item 3 ({DEFAULTS})")
    depths: tuple[int, ...] = param((2, 3), low=2, help=f"depths N of item 3 ({DEFAULTS})")


@dataclass(frozen=True)
class Escape(ConfigBlock):
    """Item 4: aligned starts ``(u, v) = (u_1, v_1)`` at each ``s0``, escape time vs quadrature."""

    s0: tuple[float, ...] = param((1e-2, 1e-3), low=0.0, low_inclusive=False, help=f"s0 of item 4 ({DEFAULTS})")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the deep-linear experiment (defaults: the quick preset, docs/papers/deep_linear.md).

    The paper is theory only; every value is our design (docs/papers/deep_linear.md#defaults).
    """

    target: Target = param(Target(), help="the target matrix Z")
    architectures: tuple[str, ...] = param(
        ("6-1-5", "6-4-1-5", "6-3-1-4-5"), help=f"widths d_0-...-d_N, each with a width-1 hidden layer ({DEFAULTS})"
    )
    dt: float = param(1e-3, low=0.0, low_inclusive=False, help=f"RK4 step ({DEFAULTS})")
    record_every: int = param(10, low=1, help="RK4 steps between recorded points")
    starts: Starts = param(Starts(), help="items 1, 2, 5: random balanced starts")
    saddle: Saddle = param(Saddle(), help="item 3: the saddle and its approach")
    escape: Escape = param(Escape(), help="item 4: escape time from aligned starts")

    def check(self) -> None:
        d_x, d_y = self.target.d_x, self.target.d_y
        for arch in self.architectures:
            try:
                widths = _parse_widths(arch)
            except ValueError:
                raise ValueError(f"Config.architectures entry {arch!r} must look like '6-1-5'") from None
            if len(widths) < 3 or widths[0] != d_x or widths[-1] != d_y or 1 not in widths[1:-1]:
                raise ValueError(
                    f"Config.architectures entry {arch!r} must start at d_x={d_x}, end at d_y={d_y} "
                    "and have a hidden width 1"
                )
        if any(s >= 0.5 * self.target.singular_values[0] for s in self.escape.s0):
            raise ValueError(f"Config.escape.s0={self.escape.s0} must lie below sigma_1 / 2")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        target=Target(singular_values=tuple(round(10.0 * 0.8**i, 6) for i in range(50)), d_y=50, d_x=60),
        architectures=(
            "60-1-50",
            "60-1-20-50",
            "60-20-1-50",
            "60-20-20-1-50",
            "60-1-20-20-20-50",
            "60-20-20-20-1-20-20-20-50",
        ),
        dt=2e-4,
        record_every=50,
        starts=Starts(s0=0.05, count=14, tol=1e-12, t_max=50.0, horizon=8.0, rate_window=(1e-11, 1e-8)),
        saddle=Saddle(horizon=6.0, depths=(2, 3, 4)),
        escape=Escape(s0=(1e-2, 1e-3, 1e-4)),
    ),
}


@dataclass(frozen=True)
class _Problem:
    """The run's target and its SVD."""

    Z: Tensor
    U: Tensor
    S: Tensor
    Vh: Tensor
    total: float  # 1/2 sum sigma_i^2, the loss at W = 0
    l_star: float  # 1/2 (||Z||^2 - sigma_1(Z)^2) from the stored Z: the floor that L - L* <= tol is measured against


def _unit(x: Tensor) -> Tensor:
    return x / torch.linalg.vector_norm(x)


def _nanmax(values: list[float]) -> float:
    """The largest value, or NaN when any is NaN (a missing measurement makes the criterion inconclusive)."""
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def _problem(config: Config, seed: int) -> _Problem:
    target = config.target
    Z = spectral_target(target.singular_values, target.d_y, target.d_x, derive_generator(seed, 0))
    U, S, Vh = torch.linalg.svd(Z, full_matrices=False)
    sigmas = torch.tensor(target.singular_values, dtype=torch.float64)
    l_star = 0.5 * (float((Z * Z).sum()) - float(S[0]) ** 2)
    return _Problem(Z, U, S, Vh, 0.5 * float((sigmas**2).sum()), l_star)


def _draw_starts(
    config: Config, widths: tuple[int, ...], init_gen: torch.Generator
) -> tuple[list[Tensor], Tensor, Tensor]:
    """``count`` balanced starts (u, v uniform on the spheres), stacked along a batch dimension; and u0, v0."""
    inits, us, vs = [], [], []
    for _ in range(config.starts.count):
        u0 = _unit(torch.randn(config.target.d_y, generator=init_gen, dtype=torch.float64))
        v0 = _unit(torch.randn(config.target.d_x, generator=init_gen, dtype=torch.float64))
        inits.append(balanced_rank_one_init(widths, config.starts.s0, u0, v0, generator=init_gen))
        us.append(u0)
        vs.append(v0)
    batch = [torch.stack([w[j] for w in inits]) for j in range(len(widths) - 1)]
    return batch, torch.stack(us), torch.stack(vs)


def _first_time_below(times: Tensor, values: Tensor, level: float) -> float:
    """First recorded time with ``values <= level``; NaN when never."""
    below = torch.nonzero(values <= level)
    return float(times[int(below[0])]) if len(below) else math.nan


def _ols_slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of y on x; NaN with fewer than 3 points or no spread in x."""
    if len(x) < 3:
        return math.nan
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx if sxx > 0 else math.nan


def _reduced_gap(config: Config, problem: _Problem, batch: list[Tensor], u0: Tensor, v0: Tensor, depth: int) -> float:
    """Item 1 on the first start: factor RK4 vs the reduced ODE on [0, horizon]."""
    horizon, record = config.starts.horizon, config.record_every
    flow = factor_flow([w[0] for w in batch], problem.Z, horizon, config.dt, record_every=record)
    reduced = reduced_flow(problem.Z, config.starts.s0, u0, v0, depth, horizon, config.dt, record_every=record)
    assert flow.products is not None
    return float(torch.linalg.matrix_norm(flow.products - reduced.products).max())


def random_starts(config: Config, problem: _Problem, init_gen: torch.Generator, log: RunLog) -> dict[str, float]:
    """Items 1, 2 and 5: factor vs reduced flow, balance, convergence time of every start, final rate."""
    sigmas = config.target.singular_values
    l_star = problem.l_star
    st = config.starts
    metrics: dict[str, float] = {}
    gaps, drifts, excesses, rate_errors, shortfalls, t_convs, slope_ratios = [], [], [], [], [], [], []
    converged = eligible = 0
    offset = 0
    for arch in config.architectures:
        widths = _parse_widths(arch)
        depth = len(widths) - 1
        batch, us, vs = _draw_starts(config, widths, init_gen)
        gaps.append(_reduced_gap(config, problem, batch, us[0], vs[0], depth))
        flow = factor_flow(
            batch,
            problem.Z,
            st.t_max,
            config.dt,
            record_every=config.record_every,
            stop_loss=l_star + st.tol,
            keep_products=False,
        )
        check_finite(float(flow.loss[-1].max()), len(flow.times) * config.record_every)
        excess = flow.loss - l_star  # (T, count)
        for k in range(0, len(flow.times), 10):
            values = {
                f"{arch}/excess_loss": max(float(excess[k, 0]), 1e-300),
                f"{arch}/s": float(flow.top_singular_value[k, 0]),
            }
            log.metrics(offset + k, t=float(flow.times[k]), **values)
        offset += len(flow.times)
        key, predicted = f"N{depth}_{arch}", final_rate(sigmas, depth)
        p1 = (us @ problem.U[:, 0] + vs @ problem.Vh[0]).tolist()
        logs, times = [], []
        for b in range(st.count):
            t_conv = _first_time_below(flow.times, excess[:, b], st.tol)
            fitted = fitted_rate(flow.times, excess[:, b], st.rate_window)
            eligible += p1[b] != 0.0
            converged += p1[b] != 0.0 and not math.isnan(t_conv)
            metrics.update(
                {f"{key}_start{b}_p1_0": p1[b], f"{key}_start{b}_t_conv": t_conv, f"{key}_start{b}_rate": fitted}
            )
            excesses.append(float(excess[:, b].min()))
            if not math.isnan(t_conv):
                t_convs.append(t_conv)
                logs.append(math.log(1.0 / abs(p1[b])))
                times.append(t_conv)
                rate_errors.append(abs(fitted - predicted) / predicted)
                shortfalls.append((predicted - fitted) / predicted)
        slope = _ols_slope(logs, times)
        predicted_slope = 1.0 / saddle_escape_rate(sigmas, depth)
        drifts.append(float(flow.balance_drift.max()))
        slope_ratios.append(slope / predicted_slope)
        metrics.update(
            {
                f"{key}_reduced_gap": gaps[-1],
                f"{key}_balance_drift": drifts[-1],
                f"{key}_rate_predicted": predicted,
                f"{key}_t_conv_slope": slope,
                f"{key}_t_conv_slope_predicted": predicted_slope,
                f"{key}_t_conv_slope_ratio": slope / predicted_slope,
            }
        )
    metrics.update(
        max_reduced_gap=max(gaps),
        max_balance_drift=max(drifts),
        max_excess_loss=max(excesses),
        converged_fraction=converged / eligible if eligible else math.nan,
        max_convergence_time=max(t_convs) if t_convs else math.nan,
        max_rate_rel_error=max(rate_errors) if rate_errors else math.nan,
        median_rate_rel_error=statistics.median(rate_errors) if rate_errors else math.nan,
        max_rate_shortfall=max(shortfalls) if shortfalls else math.nan,
        mean_t_conv_slope_ratio=statistics.fmean(slope_ratios),
    )
    return metrics


def saddle_point(config: Config, problem: _Problem, init_gen: torch.Generator) -> dict[str, float]:
    """Item 3: the saddle ``sigma_2 u_2 v_2^T`` (p1 = 0) is a fixed point, and p1(0) = 0 starts approach it.

    Started at the saddle (balanced), the loss stays at L_saddle on [0, T] until round-off
    escapes. A generic start with p1(0) = 0 exactly (u0 = U a, v0 = V a, a_1 = 0, so
    u^T Z v > 0, our design) converges to that saddle: |L(T) - L_saddle|.
    """
    U, S, Vh = problem.U, problem.S, problem.Vh
    sigma2 = config.target.singular_values[1]
    l_saddle = problem.total - 0.5 * sigma2**2
    horizon, record = config.saddle.horizon, config.record_every
    metrics: dict[str, float] = {}
    saddle_devs, approach_devs = [], []
    for depth in config.saddle.depths:
        widths = (config.target.d_x, *([1] + [2] * (depth - 2)), config.target.d_y)
        weights = balanced_rank_one_init(widths, sigma2, U[:, 1].clone(), Vh[1].clone(), generator=init_gen)
        flow = factor_flow(weights, problem.Z, horizon, config.dt, record_every=record)
        dev = float((flow.loss - l_saddle).abs().max())
        metrics[f"saddle_N{depth}_deviation"] = dev
        saddle_devs.append(dev)
        a = torch.randn(len(S), generator=init_gen, dtype=torch.float64).abs()
        a[0] = 0.0
        weights = balanced_rank_one_init(widths, config.starts.s0, _unit(U @ a), _unit(Vh.T @ a), generator=init_gen)
        approach = factor_flow(weights, problem.Z, horizon, config.dt, record_every=record)
        metrics[f"saddle_N{depth}_approach_final_deviation"] = float(abs(approach.loss[-1] - l_saddle))
        approach_devs.append(float(abs(approach.loss[-1] - l_saddle)))
        metrics[f"saddle_N{depth}_approach_min_deviation"] = float((approach.loss - l_saddle).abs().min())
    metrics.update(max_saddle_deviation=max(saddle_devs), max_saddle_approach=max(approach_devs))
    return metrics


def escape_times(config: Config, problem: _Problem, init_gen: torch.Generator) -> dict[str, float]:
    """Item 4: escape time from an aligned start (u, v) = (u1, v1), factor flow vs quadrature."""
    sigma1 = config.target.singular_values[0]
    metrics: dict[str, float] = {}
    errors = []
    for arch in config.architectures:
        widths = _parse_widths(arch)
        depth = len(widths) - 1
        for s0 in config.escape.s0:
            predicted = escape_time(s0, sigma1, depth)
            u1, v1 = problem.U[:, 0].clone(), problem.Vh[0].clone()
            weights = balanced_rank_one_init(widths, s0, u1, v1, generator=init_gen)
            flow = factor_flow(weights, problem.Z, 1.1 * predicted + 10 * config.dt, config.dt, record_every=1)
            measured = crossing_time(flow.times, flow.top_singular_value, 0.5 * sigma1)
            metrics[f"escape_N{depth}_s0_{s0:g}_measured"] = measured
            metrics[f"escape_N{depth}_s0_{s0:g}_quadrature"] = predicted
            errors.append(abs(measured - predicted) / predicted)
    metrics["max_escape_rel_error"] = _nanmax(errors)
    return metrics


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Check the five items (docs/papers/deep_linear.md#method) on one random target and random balanced starts.

    The three items share one initialisation stream, drawn in the order random starts,
    saddle, escape.
    """
    started = time.perf_counter()
    problem = _problem(config, seed)
    init_gen = derive_generator(seed, 1)
    metrics = random_starts(config, problem, init_gen, log)
    metrics.update(saddle_point(config, problem, init_gen))
    metrics.update(escape_times(config, problem, init_gen))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="deep_linear",
    data={"quick": (), "paper": ()},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("deep_linear"),
    components=(
        "nn.DeepLinearNet",
        "nn.balanced_rank_one_init",
        "nn.factor_flow",
        "nn.balance_drift",
        "analysis.reduced_flow",
        "analysis.end_to_end_critical_points",
        "analysis.escape_time",
        "analysis.final_rate",
        "analysis.crossing_time",
        "analysis.fitted_rate",
        "analysis.saddle_escape_rate",
        "data.spectral_target",
    ),
    curves=(
        Curve(
            "Excess loss L - L* along factor gradient flow",
            ("6-1-5/excess_loss", "6-4-1-5/excess_loss", "6-3-1-4-5/excess_loss"),
            x="t",
            logy=True,
        ),
        Curve("Top singular value s(t) of the product", ("6-1-5/s", "6-4-1-5/s", "6-3-1-4-5/s"), x="t"),
    ),
    summary=(
        "max_reduced_gap",
        "max_balance_drift",
        "max_excess_loss",
        "max_saddle_deviation",
        "max_saddle_approach",
        "max_escape_rel_error",
        "converged_fraction",
        "max_convergence_time",
        "max_rate_shortfall",
        "median_rate_rel_error",
        "max_rate_rel_error",
        "mean_t_conv_slope_ratio",
    ),
)
