"""Paper 7, ``deep_linear``: non-local convergence of deep linear networks with a width-1 layer.

Claim (Chen, Lin & Zhang, ICML 2022): for the quadratic loss and a deep linear network with
a width-one layer, gradient flow from any balanced initialisation has a fully described
limit (the global minimum when p1(0) != 0, a saddle otherwise), reached through stages with
explicit rates (sublinear escape for depth >= 3, then linear).

The run checks the card's five items (card 07, section 3) on a random target with chosen
singular values: (1) factor-level RK4 gradient flow matches the reduced three-equation
dynamics and keeps balance; (2) random balanced starts reach the global minimum; (3) the
saddle sigma_2 u_2 v_2^T (p1 = 0) is a fixed point of the factor flow up to round-off (a
generic p1(0) = 0 start converges to it); (4) the escape time matches the quadrature;
(5) the late-phase slope of log(L - L*) matches the predicted rate. Everything is float64
and CPU (the model is tiny); ``paper`` is a larger target and deeper networks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from icml22dl.analysis.deep_linear import escape_time, final_rate, reduced_flow
from icml22dl.data.linear_targets import spectral_target
from icml22dl.nn.linear_nets import balanced_rank_one_init, factor_flow
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param


def _parse_widths(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in text.split("-"))


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the deep-linear experiment (defaults: the quick preset, card 07 section 3)."""

    singular_values: tuple[float, ...] = param(
        (3.0, 2.0, 1.0, 0.5, 0.2),
        low=0.0,
        low_inclusive=False,
        help="sigma_i of Z, distinct, largest first (card 07 quick)",
    )
    d_y: int = param(5, low=1, help="rows of Z (card 07 quick: 5)")
    d_x: int = param(6, low=1, help="columns of Z (card 07 quick: 6)")
    architectures: tuple[str, ...] = param(
        ("6-1-5", "6-4-1-5", "6-3-1-4-5"), help="widths d_0-...-d_N, each with a width-1 hidden layer (card 07)"
    )
    s0: float = param(
        0.05, low=0.0, low_inclusive=False, help="initial singular value of random starts (card 07 item 2)"
    )
    horizon: float = param(8.0, low=0.0, low_inclusive=False, help="T of items 1, 2, 5 (card 07)")
    dt: float = param(1e-3, low=0.0, low_inclusive=False, help="RK4 step (card 07)")
    saddle_horizon: float = param(15.0, low=0.0, low_inclusive=False, help="t range of item 3 (card 07)")
    saddle_depths: tuple[int, ...] = param((2, 3), low=2, help="depths N of item 3 (card 07: N = 2, 3)")
    escape_s0: tuple[float, ...] = param(
        (1e-2, 1e-3), low=0.0, low_inclusive=False, help="s0 of the escape-time item 4 (card 07)"
    )
    rate_window: tuple[float, float] = param(
        (1e-10, 1e-5),
        low=0.0,
        low_inclusive=False,
        help="L - L* range where the late-phase slope is fitted (our design)",
    )
    record_every: int = param(10, low=1, help="RK4 steps between recorded points")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="unused: the flows are tiny and run on the CPU")

    def check(self) -> None:
        if len(self.singular_values) > min(self.d_x, self.d_y):
            raise ValueError(
                f"Config.singular_values has {len(self.singular_values)} values, more than "
                f"min(d_x, d_y) = {min(self.d_x, self.d_y)}"
            )
        if list(self.singular_values) != sorted(set(self.singular_values), reverse=True):
            raise ValueError(f"Config.singular_values={self.singular_values} must be distinct and decreasing")
        for arch in self.architectures:
            try:
                widths = _parse_widths(arch)
            except ValueError:
                raise ValueError(f"Config.architectures entry {arch!r} must look like '6-1-5'") from None
            if len(widths) < 3 or widths[0] != self.d_x or widths[-1] != self.d_y or 1 not in widths[1:-1]:
                raise ValueError(
                    f"Config.architectures entry {arch!r} must start at d_x={self.d_x}, end at "
                    f"d_y={self.d_y} and have a hidden width 1"
                )
        if self.rate_window[0] >= self.rate_window[1]:
            raise ValueError(f"Config.rate_window={self.rate_window} must be increasing")
        if any(s >= 0.5 * self.singular_values[0] for s in self.escape_s0):
            raise ValueError(f"Config.escape_s0={self.escape_s0} must lie below sigma_1 / 2")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        singular_values=tuple(round(10.0 * 0.8**i, 6) for i in range(50)),
        d_y=50,
        d_x=60,
        architectures=(
            "60-1-50",
            "60-1-20-50",
            "60-20-1-50",
            "60-20-20-1-50",
            "60-1-20-20-20-50",
            "60-20-20-20-1-20-20-20-50",
        ),
        s0=0.05,
        horizon=8.0,
        dt=2e-4,
        saddle_horizon=6.0,
        saddle_depths=(2, 3, 4),
        escape_s0=(1e-2, 1e-3, 1e-4),
        record_every=50,
        device="auto",
    ),
}


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / torch.linalg.vector_norm(x)


def _slope(times: torch.Tensor, values: torch.Tensor) -> float:
    t, y = times - times.mean(), values - values.mean()
    return float((t * y).sum() / (t * t).sum())


def _nanmax(values: list[float]) -> float:
    """The largest value, or NaN when any is NaN (a missing measurement makes the criterion inconclusive)."""
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Check the five items of card 07 on one random target and random balanced starts."""
    started = time.perf_counter()
    gen = derive_generator(seed, 0)
    sigmas = torch.tensor(config.singular_values, dtype=torch.float64)
    Z = spectral_target(config.singular_values, config.d_y, config.d_x, gen)
    U, S, Vh = torch.linalg.svd(Z, full_matrices=False)
    total = 0.5 * float((sigmas**2).sum())
    l_star = total - 0.5 * float(sigmas[0]) ** 2
    metrics: dict[str, float] = {}
    init_gen = derive_generator(seed, 1)
    gaps, drifts, excesses, rate_errors = [], [], [], []
    offset = 0
    for arch in config.architectures:
        widths = _parse_widths(arch)
        depth = len(widths) - 1
        u0 = _unit(torch.randn(config.d_y, generator=init_gen, dtype=torch.float64))
        v0 = _unit(torch.randn(config.d_x, generator=init_gen, dtype=torch.float64))
        weights = balanced_rank_one_init(widths, config.s0, u0, v0, generator=init_gen)
        flow = factor_flow(weights, Z, config.horizon, config.dt, record_every=config.record_every)
        reduced = reduced_flow(Z, config.s0, u0, v0, depth, config.horizon, config.dt, record_every=config.record_every)
        check_finite(float(flow.loss[-1]), int(config.horizon / config.dt))
        gap = float(torch.linalg.matrix_norm(flow.products - reduced.products).max())
        excess = flow.loss - l_star
        window = (excess > config.rate_window[0]) & (excess < config.rate_window[1])
        predicted = final_rate(config.singular_values, depth)
        fitted = -_slope(flow.times[window], torch.log(excess[window])) if int(window.sum()) >= 10 else math.nan
        for k in range(0, len(flow.times), 10):
            log.metrics(
                offset + k,
                **{
                    "t": float(flow.times[k]),
                    f"{arch}/excess_loss": max(float(excess[k]), 1e-300),
                    f"{arch}/s": float(flow.top_singular_value[k]),
                },
            )
        offset += len(flow.times)
        key = f"N{depth}_{arch}"
        metrics.update(
            {
                f"{key}_reduced_gap": gap,
                f"{key}_balance_drift": float(flow.balance_drift.max()),
                f"{key}_excess_loss": float(excess[-1]),
                f"{key}_p1_0": float(u0 @ U[:, 0] + v0 @ Vh[0]),
                f"{key}_uZv_0": float(u0 @ Z @ v0),
                f"{key}_rate_fitted": fitted,
                f"{key}_rate_predicted": predicted,
            }
        )
        gaps.append(gap)
        drifts.append(float(flow.balance_drift.max()))
        excesses.append(float(excess[-1]))
        rate_errors.append(abs(fitted - predicted) / predicted)

    # Item 3 (card 07): the saddle sigma_2 u_2 v_2^T, where p1 = 0, is a fixed point of the flow:
    # started there (balanced), the loss stays at L_saddle on [0, T] until round-off escapes.
    # And a generic start with p1(0) = 0 exactly (u0 = U a, v0 = V a, a_1 = 0, so u^T Z v > 0,
    # our design) converges to that saddle: |L(T) - L_saddle|.
    saddle_devs, approach_devs = [], []
    l_saddle = total - 0.5 * float(sigmas[1]) ** 2
    for depth in config.saddle_depths:
        widths = (config.d_x, *([1] + [2] * (depth - 2)), config.d_y)
        weights = balanced_rank_one_init(widths, float(sigmas[1]), U[:, 1].clone(), Vh[1].clone(), generator=init_gen)
        flow = factor_flow(weights, Z, config.saddle_horizon, config.dt, record_every=config.record_every)
        dev = float((flow.loss - l_saddle).abs().max())
        metrics[f"saddle_N{depth}_deviation"] = dev
        saddle_devs.append(dev)
        a = torch.randn(len(S), generator=init_gen, dtype=torch.float64).abs()
        a[0] = 0.0
        weights = balanced_rank_one_init(widths, config.s0, _unit(U @ a), _unit(Vh.T @ a), generator=init_gen)
        approach = factor_flow(weights, Z, config.saddle_horizon, config.dt, record_every=config.record_every)
        metrics[f"saddle_N{depth}_approach_final_deviation"] = float(abs(approach.loss[-1] - l_saddle))
        approach_devs.append(float(abs(approach.loss[-1] - l_saddle)))
        metrics[f"saddle_N{depth}_approach_min_deviation"] = float((approach.loss - l_saddle).abs().min())

    # Item 4: escape time from an aligned start (u, v) = (u1, v1), factor flow vs quadrature.
    escape_errors = []
    for arch in config.architectures:
        widths = _parse_widths(arch)
        depth = len(widths) - 1
        for s0 in config.escape_s0:
            predicted = escape_time(s0, float(sigmas[0]), depth)
            weights = balanced_rank_one_init(widths, s0, U[:, 0].clone(), Vh[0].clone(), generator=init_gen)
            flow = factor_flow(weights, Z, 1.1 * predicted + 10 * config.dt, config.dt, record_every=1)
            level = 0.5 * float(sigmas[0])
            top = flow.top_singular_value
            k = int(torch.nonzero(top >= level)[0]) if bool((top >= level).any()) else -1
            if k <= 0:
                measured = math.nan
            else:  # linear interpolation between the two grid times around the crossing
                t0, t1, y0, y1 = (float(flow.times[k - 1]), float(flow.times[k]), float(top[k - 1]), float(top[k]))
                measured = t0 + (level - y0) * (t1 - t0) / (y1 - y0)
            metrics[f"escape_N{depth}_s0_{s0:g}_measured"] = measured
            metrics[f"escape_N{depth}_s0_{s0:g}_quadrature"] = predicted
            escape_errors.append(abs(measured - predicted) / predicted)

    metrics.update(
        max_reduced_gap=max(gaps),
        max_balance_drift=max(drifts),
        max_excess_loss=max(excesses),
        max_saddle_deviation=max(saddle_devs),
        max_saddle_approach=max(approach_devs),
        max_escape_rel_error=_nanmax(escape_errors),
        max_rate_rel_error=_nanmax(rate_errors),
        run_wall_s=time.perf_counter() - started,
    )
    return metrics


PAPER = Paper(
    slug="deep_linear",
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
        "max_rate_rel_error",
    ),
)
