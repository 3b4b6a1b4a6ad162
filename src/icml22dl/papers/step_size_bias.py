"""Paper 13, ``step_size_bias``: the GD step size changes the implicit bias of diagonal nets.

Claim (Nacson, Ravichandran, Srebro & Soudry, ICML 2022): in diagonal linear networks
``beta = u*u - v*v``, a large GD step on non-centred data moves the solution from the kernel
regime to the sparsity-inducing rich regime even where gradient flow stays kernel-like,
because a dynamically stable minimum has a bounded weighted l1 norm.

One run (one seed) draws ``problems`` independent sparse-regression problems (d = 200,
N = 40, 3 unit entries, noiseless, alpha = 0.1; docs/papers/step_size_bias.md#defaults) and
trains GD at ``eta = f * 2 / s0`` for every feature mean mu and every f of the grid; the
statistics are medians over those problems. ``paper`` is the larger setting (d = 1000,
N = 100, s = 5, 20 problems, several alphas). Everything runs on the CPU (float64).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

from icml22dl.analysis.diagonal_nets import (
    gaussian_test_error,
    gf_solution,
    gn_sharpness,
    init_sharpness,
    kkt_residual,
    stability_bound,
    weighted_l1,
)
from icml22dl.data.sparse_regression import SparseRegression, sparse_regression_data
from icml22dl.nn.linear_nets import diagonal_gd
from icml22dl.runner import ConfigBlock, Curve, ExperimentConfig, Paper, RunLog, derive_generator, load_claim, param

DEFAULTS = "docs/papers/step_size_bias.md#defaults"


@dataclass(frozen=True)
class Problem(ConfigBlock):
    """One noiseless sparse-regression problem: rows x ~ N(mu 1, I_dim), beta* with unit entries."""

    dim: int = param(200, low=1, help=f"d ({DEFAULTS})")
    examples: int = param(40, low=1, help=f"N < d ({DEFAULTS})")
    sparsity: int = param(3, low=0, help=f"unit entries of beta* ({DEFAULTS})")

    def check(self) -> None:
        if self.examples >= self.dim:
            raise ValueError(f"Problem.examples={self.examples} must be < dim={self.dim} (underdetermined)")
        if self.sparsity > self.dim:
            raise ValueError(f"Problem.sparsity={self.sparsity} must be <= dim={self.dim}")


@dataclass(frozen=True)
class GD(ConfigBlock):
    """Stopping rules of full-batch GD on the diagonal network (:func:`icml22dl.nn.diagonal_gd`)."""

    max_steps: int = param(100_000, low=1, help=f"GD step cap ({DEFAULTS})")
    tol: float = param(1e-8, low=0.0, low_inclusive=False, help=f"stop when L < tol ({DEFAULTS})")
    diverge_at: float = param(1e12, low=0.0, low_inclusive=False, help=f"divergence when L > this ({DEFAULTS})")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the step-size experiment (defaults: the quick preset, docs/papers/step_size_bias.md).

    Everything runs in float64 on the CPU (the problems are tiny; the config has no device field).
    """

    problem: Problem = param(Problem(), help="the sparse-regression problem")
    alphas: tuple[float, ...] = param((0.1,), low=0.0, low_inclusive=False, help=f"init scales ({DEFAULTS})")
    mus: tuple[float, ...] = param((1.0, 0.5, 0.0), low=0.0, help=f"feature means mu, 0 = centred ({DEFAULTS})")
    fractions: tuple[float, ...] = param(
        (0.02, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0), low=0.0, low_inclusive=False, help=f"eta = f * 2 / s0 ({DEFAULTS})"
    )
    gf_fraction: float = param(
        0.02, low=0.0, low_inclusive=False, help=f"f of the gradient-flow-like reference ({DEFAULTS})"
    )
    large_fraction: float = param(0.8, low=0.0, low_inclusive=False, help="f of the step-size-gain criterion")
    centred_fraction: float = param(0.2, low=0.0, low_inclusive=False, help="f of the centred control")
    problems: int = param(5, low=1, help="independent problems per seed; medians over them")
    gd: GD = param(GD(), help="GD stopping rules")
    l1_proxy_alpha: float = param(
        1e-3, low=0.0, low_inclusive=False, help="alpha of the exact GF solution used as l1-minimiser proxy"
    )

    def check(self) -> None:
        for name in ("gf_fraction", "large_fraction", "centred_fraction"):
            if getattr(self, name) not in self.fractions:
                raise ValueError(f"Config.{name}={getattr(self, name)} must be one of fractions={self.fractions}")
        if 0.0 not in self.mus or max(self.mus) <= 0.0:
            raise ValueError(f"Config.mus={self.mus} must contain 0 (the centred control) and a positive mean")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        problem=Problem(dim=1000, examples=100, sparsity=5),
        alphas=(0.01, 0.03, 0.1, 0.3),
        problems=20,
        fractions=(0.02, 0.1, 0.2, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
    ),
}


@dataclass
class _Sweep:
    """Raw outcomes of every GD run of one seed, keyed by :func:`_tag` where per setting."""

    errors: dict[str, list[float]] = field(default_factory=dict)
    converged: dict[str, list[float]] = field(default_factory=dict)
    bound_ratios: list[float] = field(default_factory=list)
    sharp_ratios: list[float] = field(default_factory=list)
    kkt: list[float] = field(default_factory=list)
    gf_errors: list[float] = field(default_factory=list)
    l1_errors: list[float] = field(default_factory=list)
    attempted: int = 0


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def pooled_ratio(errors: list[float], reference: list[float]) -> float:
    """Sum of ``errors`` over the sum of ``reference`` errors, pooled over the problems where both are finite.

    NaN when no problem has both (a non-converged run has a NaN error).
    """
    pairs = [(e, r) for e, r in zip(errors, reference) if math.isfinite(e) and math.isfinite(r)]
    reference_sum = math.fsum(r for _, r in pairs)
    return math.fsum(e for e, _ in pairs) / reference_sum if pairs and reference_sum > 0 else math.nan


def _tag(mu: float, f: float, alpha: float) -> str:
    return f"mu{mu:g}_f{f:g}_a{alpha:g}"


def _main_alpha(config: Config) -> float:
    """The alpha the criteria are judged at: 0.1 when swept, else the first."""
    return config.alphas[0] if 0.1 not in config.alphas else 0.1


def _references(config: Config, data: SparseRegression, mu: float, sweep: _Sweep) -> None:
    """Exact GF limits at the main alpha and at the l1-proxy alpha (informational; NaN when Newton stalls)."""
    for alpha_ref, out in ((_main_alpha(config), sweep.gf_errors), (config.l1_proxy_alpha, sweep.l1_errors)):
        try:
            out.append(gaussian_test_error(gf_solution(data.X, data.y, alpha_ref, max_iter=100), data.beta_star, mu))
        except RuntimeError:
            out.append(math.nan)


def _train_grid(config: Config, data: SparseRegression, mu: float, sweep: _Sweep) -> None:
    """GD at every (alpha, f) on one problem; records errors, convergence, the bound ratios and KKT."""
    for alpha in config.alphas:
        s0 = init_sharpness(data.X, alpha)
        for f in config.fractions:
            eta = f * 2.0 / s0
            gd = config.gd
            result = diagonal_gd(
                data.X, data.y, alpha, eta, max_steps=gd.max_steps, tol=gd.tol, diverge_at=gd.diverge_at
            )
            sweep.attempted += 1
            tag = _tag(mu, f, alpha)
            ok = result.status == "converged"
            sweep.converged.setdefault(tag, []).append(1.0 if ok else 0.0)
            sweep.errors.setdefault(tag, []).append(
                gaussian_test_error(result.beta, data.beta_star, mu) if ok else math.nan
            )
            if ok:
                sweep.bound_ratios.append(weighted_l1(data.X, result.beta) / stability_bound(eta))
                sweep.sharp_ratios.append(gn_sharpness(data.X, result.u, result.v) * eta / 2.0)
                if f == config.gf_fraction and mu == max(config.mus) and alpha == _main_alpha(config):
                    sweep.kkt.append(kkt_residual(data.X, result.beta, alpha))


def run_sweep(config: Config, seed: int, log: RunLog) -> _Sweep:
    """Train GD at every (alpha, mu, f) on ``problems`` draws (one data stream, problem by problem)."""
    gen = derive_generator(seed, 0)
    out = _Sweep()
    for _problem in log.progress(range(config.problems), total=config.problems, desc="problems"):
        for mu in config.mus:
            p = config.problem
            data = sparse_regression_data(p.dim, p.examples, p.sparsity, mu, gen)
            if mu == max(config.mus):
                _references(config, data, mu, out)
            _train_grid(config, data, mu, out)
    return out


def median_table(config: Config, sweep: _Sweep, log: RunLog) -> dict[str, float]:
    """Per (mu, f, alpha): median test error, converged fraction, and the test error pooled over problems
    relative to the gradient-flow-like step's (``_error_ratio``); the main alpha's curves are logged."""
    main_alpha = _main_alpha(config)
    metrics: dict[str, float] = {}
    for alpha in (main_alpha, *(a for a in config.alphas if a != main_alpha)):
        for k, mu in enumerate(config.mus):
            reference = sweep.errors[_tag(mu, config.gf_fraction, alpha)]
            for f in config.fractions:
                tag = _tag(mu, f, alpha)
                metrics[f"{tag}_median_test_error"] = _median(sweep.errors[tag])
                metrics[f"{tag}_converged"] = statistics.fmean(sweep.converged[tag])
                metrics[f"{tag}_error_ratio"] = pooled_ratio(sweep.errors[tag], reference)
                if alpha != main_alpha:
                    continue
                log.metrics(
                    k * len(config.fractions) + config.fractions.index(f),
                    f=f,
                    **{
                        f"mu{mu:g}/median_test_error": metrics[f"{tag}_median_test_error"],
                        f"mu{mu:g}/converged": metrics[f"{tag}_converged"],
                        f"mu{mu:g}/error_ratio": metrics[f"{tag}_error_ratio"],
                    },
                )
    return metrics


def step_size_gain(config: Config, sweep: _Sweep, table: dict[str, float]) -> dict[str, float]:
    """Criteria 1-2: large step vs GF-like step on non-centred data, and the centred control.

    ``pooled_gain`` is the seed's summed test error at the large step over the summed error
    at the gradient-flow-like step, over the problems where both runs converged (their sums
    are ``large_test_error_sum`` and ``gf_test_error_sum``); ``step_size_gain`` is the older
    ratio of medians, kept for the record.
    """
    main_alpha, mu_pos = _main_alpha(config), max(config.mus)
    gf_tag = _tag(mu_pos, config.gf_fraction, main_alpha)
    large_tag = _tag(mu_pos, config.large_fraction, main_alpha)
    centred_gf = _tag(0.0, config.gf_fraction, main_alpha)
    centred_large = _tag(0.0, config.centred_fraction, main_alpha)
    metrics: dict[str, float] = {}
    for name, tag in (
        ("gf", gf_tag),
        ("large", large_tag),
        ("centred_gf", centred_gf),
        ("centred_large", centred_large),
    ):
        for problem, value in enumerate(sweep.errors[tag]):
            metrics[f"{name}_test_error_problem{problem}"] = value
    pairs = [(e, r) for e, r in zip(sweep.errors[large_tag], sweep.errors[gf_tag]) if math.isfinite(e + r)]
    metrics.update(
        pooled_gain=table[f"{large_tag}_error_ratio"],
        large_test_error_sum=math.fsum(e for e, _ in pairs),
        gf_test_error_sum=math.fsum(r for _, r in pairs),
        step_size_gain=table[f"{large_tag}_median_test_error"] / table[f"{gf_tag}_median_test_error"],
        large_converged=table[f"{large_tag}_converged"],
        centred_ratio=table[f"{centred_large}_median_test_error"] / table[f"{centred_gf}_median_test_error"],
    )
    return metrics


def stability(sweep: _Sweep) -> dict[str, float]:
    """Criterion 3: every converged run obeys the weighted-l1 and sharpness bounds of a stable minimum."""
    return {
        "max_weighted_l1_ratio": max(sweep.bound_ratios) if sweep.bound_ratios else math.nan,
        "max_sharpness_ratio": max(sweep.sharp_ratios) if sweep.sharp_ratios else math.nan,
        "converged_runs": float(len(sweep.bound_ratios)),
        "attempted_runs": float(sweep.attempted),
    }


def gf_kkt(sweep: _Sweep) -> dict[str, float]:
    """Criterion 5: the GF-like step reaches the gradient-flow solution (KKT residual)."""
    return {"max_kkt_residual": max(sweep.kkt) if sweep.kkt else math.nan}


def references(sweep: _Sweep) -> dict[str, float]:
    """Informational: exact GF solution at the main alpha and the l1-minimiser proxy."""
    return {
        "gf_exact_median_test_error": _median(sweep.gf_errors),
        "l1_proxy_median_test_error": _median(sweep.l1_errors),
    }


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Train GD at every (alpha, mu, f) on ``problems`` draws; medians, bound checks, KKT."""
    started = time.perf_counter()
    outcomes = run_sweep(config, seed, log)
    metrics = median_table(config, outcomes, log)
    metrics.update(step_size_gain(config, outcomes, metrics))
    metrics.update(stability(outcomes))
    metrics.update(gf_kkt(outcomes))
    metrics.update(references(outcomes))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="step_size_bias",
    data={"quick": (), "paper": ()},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("step_size_bias"),
    components=(
        "nn.DiagonalLinearNet",
        "nn.diagonal_gd",
        "analysis.q_alpha",
        "analysis.gf_solution",
        "analysis.kkt_residual",
        "analysis.gn_sharpness",
        "analysis.init_sharpness",
        "analysis.weighted_l1",
        "analysis.stability_bound",
        "analysis.gaussian_test_error",
        "data.sparse_regression_data",
    ),
    curves=(
        Curve(
            "Test error pooled over problems, over the gradient-flow-like step's (f = 0.02), against f = eta s0 / 2",
            ("mu1/error_ratio", "mu0.5/error_ratio", "mu0/error_ratio"),
            x="f",
            logy=True,
        ),
        Curve(
            "Median test error against the step size f = eta s0 / 2",
            ("mu1/median_test_error", "mu0.5/median_test_error", "mu0/median_test_error"),
            x="f",
            logy=True,
        ),
        Curve("Fraction of converged runs", ("mu1/converged", "mu0.5/converged", "mu0/converged"), x="f"),
    ),
    summary=(
        "pooled_gain",
        "large_test_error_sum",
        "gf_test_error_sum",
        "step_size_gain",
        "large_converged",
        "centred_ratio",
        "max_weighted_l1_ratio",
        "max_sharpness_ratio",
        "max_kkt_residual",
        "converged_runs",
        "attempted_runs",
        "gf_exact_median_test_error",
        "l1_proxy_median_test_error",
    ),
    seeds=(0, 1, 2),
)
