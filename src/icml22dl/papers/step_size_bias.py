"""Paper 13, ``step_size_bias``: the GD step size changes the implicit bias of diagonal nets.

Claim (Nacson, Ravichandran, Srebro & Soudry, ICML 2022): in diagonal linear networks
``beta = u*u - v*v``, a large GD step on non-centred data moves the solution from the kernel
regime to the sparsity-inducing rich regime even where gradient flow stays kernel-like,
because a dynamically stable minimum has a bounded weighted l1 norm.

One run (one seed) draws ``problems`` independent sparse-regression problems (card 13: d =
200, N = 40, 3 unit entries, noiseless, alpha = 0.1) and trains GD at ``eta = f * 2 / s0``
for every feature mean mu and every f of the grid; the card's statistics are medians over
those problems. ``paper`` is the card's larger setting (d = 1000, N = 100, s = 5, 20
problems, several alphas); no GPU needed.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from icml22dl.analysis.diagonal_nets import (
    gaussian_test_error,
    gf_solution,
    gn_sharpness,
    init_sharpness,
    kkt_residual,
    stability_bound,
    weighted_l1,
)
from icml22dl.data.sparse_regression import sparse_regression_data
from icml22dl.nn.linear_nets import diagonal_gd
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, derive_generator, load_claim, param


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the step-size experiment (defaults: the quick preset, card 13 section 3)."""

    dim: int = param(200, low=1, help="d (card 13 quick)")
    examples: int = param(40, low=1, help="N < d (card 13 quick)")
    sparsity: int = param(3, low=0, help="unit entries of beta* (card 13 quick)")
    alphas: tuple[float, ...] = param((0.1,), low=0.0, low_inclusive=False, help="init scales (card 13 quick: 0.1)")
    mus: tuple[float, ...] = param((1.0, 0.5, 0.0), low=0.0, help="feature means mu (card 13: 1, 0.5, 0 = centred)")
    fractions: tuple[float, ...] = param(
        (0.02, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0), low=0.0, low_inclusive=False, help="eta = f * 2 / s0 (card 13 table)"
    )
    gf_fraction: float = param(
        0.02, low=0.0, low_inclusive=False, help="f of the gradient-flow-like reference (card 13)"
    )
    large_fraction: float = param(0.8, low=0.0, low_inclusive=False, help="f of criterion 1 (card 13)")
    centred_fraction: float = param(0.2, low=0.0, low_inclusive=False, help="f of the centred control (card 13)")
    problems: int = param(5, low=1, help="independent problems per seed; medians over them (card 13: 5 seeds)")
    max_steps: int = param(100_000, low=1, help="GD step cap (card 13)")
    tol: float = param(1e-8, low=0.0, low_inclusive=False, help="stop when L < tol (card 13)")
    diverge_at: float = param(1e12, low=0.0, low_inclusive=False, help="divergence when L > this (card 13)")
    l1_proxy_alpha: float = param(
        1e-3, low=0.0, low_inclusive=False, help="alpha of the exact GF solution used as l1-minimiser proxy (card 13)"
    )
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="unused: the runs are tiny and use the CPU")

    def check(self) -> None:
        if self.examples >= self.dim:
            raise ValueError(f"Config.examples={self.examples} must be < dim={self.dim} (underdetermined)")
        if self.sparsity > self.dim:
            raise ValueError(f"Config.sparsity={self.sparsity} must be <= dim={self.dim}")
        for name in ("gf_fraction", "large_fraction", "centred_fraction"):
            if getattr(self, name) not in self.fractions:
                raise ValueError(f"Config.{name}={getattr(self, name)} must be one of fractions={self.fractions}")
        if 0.0 not in self.mus or max(self.mus) <= 0.0:
            raise ValueError(f"Config.mus={self.mus} must contain 0 (the centred control) and a positive mean")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        dim=1000,
        examples=100,
        sparsity=5,
        alphas=(0.01, 0.03, 0.1, 0.3),
        problems=20,
        fractions=(0.02, 0.1, 0.2, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
        device="auto",
    ),
}


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def _tag(mu: float, f: float, alpha: float) -> str:
    return f"mu{mu:g}_f{f:g}_a{alpha:g}"


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Train GD at every (alpha, mu, f) on ``problems`` draws; medians, bound checks, KKT."""
    started = time.perf_counter()
    gen = derive_generator(seed, 0)
    errors: dict[str, list[float]] = {}
    converged: dict[str, list[float]] = {}
    bound_ratios, sharp_ratios, kkt = [], [], []
    gf_errors, l1_errors = [], []
    attempted = 0
    main_alpha = config.alphas[0] if 0.1 not in config.alphas else 0.1
    mu_pos = max(config.mus)
    for problem in log.progress(range(config.problems), total=config.problems, desc="problems"):
        for mu in config.mus:
            data = sparse_regression_data(config.dim, config.examples, config.sparsity, mu, gen)
            if mu == mu_pos:  # informational references: NaN when Newton stalls (never gates)
                for alpha_ref, out in ((main_alpha, gf_errors), (config.l1_proxy_alpha, l1_errors)):
                    try:
                        out.append(
                            gaussian_test_error(
                                gf_solution(data.X, data.y, alpha_ref, max_iter=100), data.beta_star, mu
                            )
                        )
                    except RuntimeError:
                        out.append(math.nan)
            for alpha in config.alphas:
                s0 = init_sharpness(data.X, alpha)
                for f in config.fractions:
                    eta = f * 2.0 / s0
                    result = diagonal_gd(
                        data.X,
                        data.y,
                        alpha,
                        eta,
                        max_steps=config.max_steps,
                        tol=config.tol,
                        diverge_at=config.diverge_at,
                    )
                    attempted += 1
                    tag = _tag(mu, f, alpha)
                    ok = result.status == "converged"
                    converged.setdefault(tag, []).append(1.0 if ok else 0.0)
                    error = gaussian_test_error(result.beta, data.beta_star, mu) if ok else math.nan
                    errors.setdefault(tag, []).append(error)
                    if ok:
                        bound_ratios.append(weighted_l1(data.X, result.beta) / stability_bound(eta))
                        sharp_ratios.append(gn_sharpness(data.X, result.u, result.v) * eta / 2.0)
                        if f == config.gf_fraction and mu == mu_pos and alpha == main_alpha:
                            kkt.append(kkt_residual(data.X, result.beta, alpha))
    metrics: dict[str, float] = {}
    for k, mu in enumerate(config.mus):
        for f in config.fractions:
            tag = _tag(mu, f, main_alpha)
            metrics[f"{tag}_median_test_error"] = _median(errors[tag])
            metrics[f"{tag}_converged"] = statistics.fmean(converged[tag])
            log.metrics(
                k * len(config.fractions) + config.fractions.index(f),
                f=f,
                **{
                    f"mu{mu:g}/median_test_error": metrics[f"{tag}_median_test_error"],
                    f"mu{mu:g}/converged": metrics[f"{tag}_converged"],
                },
            )
    for alpha in config.alphas:
        if alpha != main_alpha:
            for mu in config.mus:
                for f in config.fractions:
                    tag = _tag(mu, f, alpha)
                    metrics[f"{tag}_median_test_error"] = _median(errors[tag])
                    metrics[f"{tag}_converged"] = statistics.fmean(converged[tag])
    gf_tag = _tag(mu_pos, config.gf_fraction, main_alpha)
    large_tag = _tag(mu_pos, config.large_fraction, main_alpha)
    centred_gf = _tag(0.0, config.gf_fraction, main_alpha)
    centred_large = _tag(0.0, config.centred_fraction, main_alpha)
    for name, tag in (
        ("gf", gf_tag),
        ("large", large_tag),
        ("centred_gf", centred_gf),
        ("centred_large", centred_large),
    ):
        for problem, value in enumerate(errors[tag]):
            metrics[f"{name}_test_error_problem{problem}"] = value
    metrics.update(
        step_size_gain=metrics[f"{large_tag}_median_test_error"] / metrics[f"{gf_tag}_median_test_error"],
        large_converged=metrics[f"{large_tag}_converged"],
        centred_ratio=metrics[f"{centred_large}_median_test_error"] / metrics[f"{centred_gf}_median_test_error"],
        max_weighted_l1_ratio=max(bound_ratios) if bound_ratios else math.nan,
        max_sharpness_ratio=max(sharp_ratios) if sharp_ratios else math.nan,
        converged_runs=float(len(bound_ratios)),
        attempted_runs=float(attempted),
        max_kkt_residual=max(kkt) if kkt else math.nan,
        gf_exact_median_test_error=_median(gf_errors),
        l1_proxy_median_test_error=_median(l1_errors),
        run_wall_s=time.perf_counter() - started,
    )
    return metrics


PAPER = Paper(
    slug="step_size_bias",
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
            "Median test error against the step size f = eta s0 / 2",
            ("mu1/median_test_error", "mu0.5/median_test_error", "mu0/median_test_error"),
            x="f",
            logy=True,
        ),
        Curve("Fraction of converged runs", ("mu1/converged", "mu0.5/converged", "mu0/converged"), x="f"),
    ),
    summary=(
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
