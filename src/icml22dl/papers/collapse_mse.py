"""Paper 10, ``collapse_mse``: the MSE landscape of neural collapse (Zhou et al., ICML 2022).

Claim: in the unconstrained features model (UFM) with MSE loss, weight decay and an
unregularised bias, every global minimiser is a neural-collapse solution (NC1, simplex-ETF
classifier, self-duality, b = 1/K) and every other critical point is a strict saddle; a
fixed ETF classifier with feature dimension d = K loses no accuracy.

``quick`` (docs/papers/collapse_mse.md#defaults, items 1-5): GD on the UFM against the
closed form (Theorem 3.1); the c = 1 threshold; constructed rank-r critical points with
their autograd Hessian; a d = K - 2 negative control; and the network check (3-hidden-layer
BN MLP on MNIST 2,000 / 3,000 drawn from the t10k file, MSE, learned fc vs fixed ETF fc
with d = K). ``paper``: the shortened GPU check (ResNet-18 with 3x3 stem on 10,000 MNIST
training images, 100 epochs; a large UFM, K = 100, n = 500, d = 512).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from icml22dl.analysis.collapse import collapse_metrics, evaluate_collapse
from icml22dl.analysis.ufm import etf_rho, saddle_min_eigenvalue, ufm_strict_saddle
from icml22dl.losses.mse import OneHotMSELoss
from icml22dl.papers.blocks import UFM, MNISTNet, MNISTSubset
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
    torch_seeded,
)
from icml22dl.runner.device import resolve_device
from icml22dl.train import FitResult

K_MNIST = 10


@dataclass(frozen=True)
class Threshold(ConfigBlock):
    """Item 2: GD on the UFM at c just below and above 1, lambda_W = lambda_H = c/(K sqrt(n)) (Theorem 3.1)."""

    c_below: float = param(0.9, low=0.0, low_inclusive=False, high=1.0, high_inclusive=False, help="c < 1")
    c_above: float = param(1.1, low=1.0, low_inclusive=False, help="c > 1 (the minimiser is W = 0)")
    steps: int = param(20000, low=1, help="GD steps (the slowest rate is lambda - 1/(K sqrt n))")


@dataclass(frozen=True)
class Saddles(ConfigBlock):
    """Item 3: the rank-r critical points (r < K) of a small UFM and their autograd Hessian."""

    classes: int = param(4, low=2, help="K")
    per_class: int = param(3, low=1, help="n")
    dim: int = param(5, low=1, help="d > K (the landscape theorem's assumption)")
    lambda_W: float = param(5e-3, low=0.0, low_inclusive=False, help="weight decay of W")
    lambda_H: float = param(1e-2, low=0.0, low_inclusive=False, help="weight decay of H")

    def check(self) -> None:
        if self.dim <= self.classes:
            raise ValueError(f"Saddles.dim={self.dim} must exceed classes={self.classes}")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the collapse_mse claim (defaults: the quick preset, docs/papers/collapse_mse.md#defaults)."""

    ufm: UFM = param(UFM(), help="item 1: the UFM whose GD solution is checked against Theorem 3.1")
    threshold: Threshold = param(Threshold(), help="item 2: the c = 1 threshold (sizes, lr and init of ufm)")
    saddle: Saddles = param(Saddles(), help="item 3: strict saddles")
    control: UFM = param(
        UFM(classes=4, per_class=20, dim=2, lambda_W=5e-3, lambda_H=5e-3, lr=0.5, steps=20000, log_every=20000),
        help="item 4: negative control, d <= K - 2 (no simplex ETF fits)",
    )
    net: MNISTNet = param(MNISTNet(), help="item 5: learned vs fixed-ETF classifier (MSE, SGD, official defaults)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where the UFM of item 1 and the network run")

    def check(self) -> None:
        if self.control.dim > self.control.classes - 2:
            raise ValueError(
                f"Config.control.dim={self.control.dim} must be <= control.classes - 2 = {self.control.classes - 2}"
            )


PRESETS = {
    "quick": Config(),
    "paper": Config(
        ufm=UFM(classes=100, per_class=500, dim=512, lambda_W=2e-4, lambda_H=2e-4, steps=20000, log_every=1000),
        net=MNISTNet(
            arch="resnet18",
            data=MNISTSubset(source="train", train_size=10000, test_size=10000),
            epochs=100,
            milestones=(33, 66),
        ),
        device="auto",
    ),
}


def _global_optimality(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    ufm, state = config.ufm.solve(derive_generator(seed, 0), device=device)
    for step, value in state.losses:
        log.metrics(step, ufm_loss=value)
    f = float(ufm.loss(state.W, state.H, state.b))
    check_finite(f, state.losses[-1][0])
    opt = ufm.optimum()
    assert state.b is not None
    m = collapse_metrics(state.H.T, ufm.labels, state.W, state.b, nc1=("papyan", "notebook"), center_W=True)
    return {
        "ufm_c": opt.c,
        "ufm_f": f,
        "ufm_f_star": opt.f_star,
        "ufm_rel_gap": abs(f - opt.f_star) / opt.f_star,
        "ufm_nc1": m["nc1_papyan"],
        "ufm_nc1_notebook": m["nc1_notebook"],
        "ufm_nc2": m["nc2_etf_W_centred"],
        "ufm_nc2_uncentred": m["nc2_etf_W_uncentred"],
        "ufm_nc2_means": m["nc2_etf_means_centred"],
        "ufm_nc3": m["nc3_zhou_centred"],
        "ufm_nc3_papyan": m["nc3_papyan"],
        "ufm_nc4": m["nc4_ncc_mismatch"],
        "ufm_bias_error": float((state.b - opt.b_star).abs().max()),
        "ufm_rho_rel_error": abs(etf_rho(state.W) / opt.rho - 1.0),
    }


def _threshold(config: Config, seed: int) -> dict[str, float]:
    out = {}
    K, n, steps = config.ufm.classes, config.ufm.per_class, config.threshold.steps
    for name, c in (("below", config.threshold.c_below), ("above", config.threshold.c_above)):
        lam = c / (K * math.sqrt(n))  # c = K sqrt(n lambda_W lambda_H) with lambda_W = lambda_H
        block = config.ufm.replace(lambda_W=lam, lambda_H=lam, steps=steps, log_every=steps)
        _, state = block.solve(derive_generator(seed, 1 if name == "below" else 2))
        check_finite(state.losses[-1][1], state.losses[-1][0])
        out[f"threshold_w_norm_{name}"] = float(torch.linalg.matrix_norm(state.W))
    return out


def _saddles(config: Config, seed: int) -> dict[str, float]:
    s = config.saddle
    K, d = s.classes, s.dim
    predicted = saddle_min_eigenvalue(K, s.per_class, s.lambda_W, s.lambda_H)
    gen = derive_generator(seed, 3)
    grads, errors, eigs = [], [], []
    full_gap = full_eig = float("nan")
    for r in range(K):
        Q = torch.linalg.qr(torch.randn(d, r, generator=gen, dtype=torch.float64))[0] if r else None
        ufm, st = ufm_strict_saddle(K, s.per_class, d, r, s.lambda_W, s.lambda_H, Q=Q)
        g = ufm.grad(st.W, st.H, st.b)
        grads.append(max(float(t.abs().max()) for t in g if t is not None))
        eig = ufm.hessian_min_eigenvalue(st.W, st.H, st.b)
        if r < K - 1:
            errors.append(abs(eig - predicted))
            eigs.append(eig)
        else:
            full_gap = abs(float(ufm.loss(st.W, st.H, st.b)) - ufm.optimum().f_star)
            full_eig = eig
    return {
        "saddle_predicted_min_eig": predicted,
        "saddle_max_grad": max(grads),
        "saddle_max_eig_error": max(errors),
        "saddle_max_min_eig": max(eigs),
        "saddle_full_rank_f_gap": full_gap,
        "saddle_full_rank_min_eig": full_eig,
    }


def _control(config: Config, seed: int) -> dict[str, float]:
    ufm, state = config.control.solve(derive_generator(seed, 4))
    f = float(ufm.loss(state.W, state.H, state.b))
    check_finite(f, config.control.steps)
    m = collapse_metrics(state.H.T, ufm.labels, state.W, state.b, center_W=True)
    return {
        "control_nc1": m["nc1_papyan"],
        "control_nc2": m["nc2_etf_W_centred"],
        "control_f_gap": f - ufm.optimum().f_star,
    }


def _network(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    net, transform = config.net, config.net.transform()
    x_tr, y_tr, x_te, y_te = (t.to(device) for t in net.data.load(derive_generator(seed, 10)))
    mse = OneHotMSELoss(K_MNIST)
    out: dict[str, float] = {}
    for name, etf in (("learned", False), ("etf", True)):

        def on_epoch(epoch: int, result: FitResult, name: str = name) -> None:
            log.metrics(epoch, **{f"{name}/train_loss": result.epoch_losses[-1]})

        with torch_seeded(int(torch.randint(2**31 - 1, (1,), generator=derive_generator(seed, 11 + etf)))):
            model = net.build(K_MNIST, etf_fc=etf, feature_dim=K_MNIST if etf else None).to(device)
            if name == "learned":
                m0, r0 = evaluate_collapse(model, x_tr, y_tr, transform=transform)
                out.update(
                    net_init_nc1=m0["nc1_papyan"],
                    net_init_nc2=m0["nc2_etf_means_centred"],
                    net_init_nc3=m0["nc3_zhou_centred"],
                    net_init_nc4=m0["nc4_ncc_mismatch"],
                    net_init_train_acc=r0.accuracy,
                )
            generator = derive_generator(seed, 13 + etf)
            net.train(
                model,
                x_tr,
                y_tr,
                loss_fn=lambda m, b: mse(m(b.x), b.y),
                generator=generator,
                on_epoch=on_epoch,
                tag=name,
            )
        m, train = evaluate_collapse(model, x_tr, y_tr, transform=transform)
        mt, test = evaluate_collapse(model, x_te, y_te, transform=transform)
        out.update(
            {
                f"net_{name}_train_acc": train.accuracy,
                f"net_{name}_test_acc": test.accuracy,
                f"net_{name}_nc1": m["nc1_papyan"],
                f"net_{name}_nc2": m["nc2_etf_means_centred"],
                f"net_{name}_nc2_W": m["nc2_etf_W_centred"],
                f"net_{name}_nc3": m["nc3_zhou_centred"],
                f"net_{name}_nc3_papyan": m["nc3_papyan"],
                f"net_{name}_nc4": m["nc4_ncc_mismatch"],
                f"net_{name}_test_nc1": mt["nc1_papyan"],
            }
        )
    out["net_nc1_drop"] = out["net_init_nc1"] / out["net_learned_nc1"]
    out["net_etf_acc_deficit"] = out["net_learned_test_acc"] - out["net_etf_test_acc"]
    return out


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Items 1-5 of docs/papers/collapse_mse.md for one seed; returns every criterion's metric."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {}
    metrics.update(_global_optimality(config, seed, log, device))
    metrics.update(_threshold(config, seed))
    metrics.update(_saddles(config, seed))
    metrics.update(_control(config, seed))
    metrics["ufm_wall_s"] = time.perf_counter() - started
    if config.net.arch != "none":
        metrics.update(_network(config, seed, log, device))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="collapse_mse",
    data={"quick": ("mnist",), "paper": ("mnist",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("collapse_mse"),
    components=(
        "analysis.collapse_metrics",
        "analysis.CollapseAccumulator",
        "analysis.FeatureHook",
        "analysis.evaluate_collapse",
        "analysis.UFMMSE",
        "analysis.ufm_mse_optimum",
        "analysis.ufm_strict_saddle",
        "analysis.etf_rho",
        "nn.ETFClassifier",
        "nn.CollapseMLP",
        "nn.resnet18_collapse",
        "losses.OneHotMSELoss",
    ),
    curves=(
        Curve("UFM-MSE loss under GD", ("ufm_loss",), logy=True),
        Curve("Network training MSE", ("learned/train_loss", "etf/train_loss"), logy=True),
    ),
    summary=(
        "ufm_rel_gap",
        "ufm_nc1",
        "ufm_nc2",
        "ufm_nc3",
        "ufm_bias_error",
        "saddle_max_min_eig",
        "net_init_nc1",
        "net_learned_nc1",
        "net_learned_nc3",
        "net_learned_nc4",
        "net_learned_test_acc",
        "net_etf_test_acc",
        "net_etf_nc1",
    ),
)
