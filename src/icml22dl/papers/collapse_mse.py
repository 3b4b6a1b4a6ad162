"""Paper 10, ``collapse_mse``: the MSE landscape of neural collapse (Zhou et al., ICML 2022).

Claim: in the unconstrained features model (UFM) with MSE loss, weight decay and an
unregularised bias, every global minimiser is a neural-collapse solution (NC1, simplex-ETF
classifier, self-duality, b = 1/K) and every other critical point is a strict saddle; a
fixed ETF classifier with feature dimension d = K loses no accuracy.

``quick`` (card 10 section 3, items 1-5): GD on the UFM against the closed form; the c = 1
threshold; constructed rank-r critical points with their autograd Hessian; a d = K - 2
negative control; and the network check (3-hidden-layer BN MLP on MNIST 2,000 / 3,000
drawn from the t10k file, MSE, learned fc vs fixed ETF fc with d = K). ``paper``: the
card's shortened GPU check (ResNet-18 with 3x3 stem on 10,000 MNIST training images,
100 epochs; a large UFM, K = 100, n = 500, d = 512), not run here (no GPU in this session).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from icml22dl.analysis.collapse import FeatureHook, collapse_metrics
from icml22dl.analysis.ufm import UFMMSE, saddle_min_eigenvalue, ufm_strict_saddle
from icml22dl.data.mnist import mnist_as_rgb32, mnist_split
from icml22dl.nn.collapse_nets import CollapseMLP, resnet18_collapse, train_mse
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the collapse_mse claim (defaults: the quick preset, card 10 section 3)."""

    # item 1: global optimality
    classes: int = param(10, low=2, help="K (card 10 item 1)")
    per_class: int = param(50, low=1, help="n samples per class (card 10 item 1)")
    dim: int = param(32, low=1, help="d feature dimension (card 10 item 1)")
    lambda_W: float = param(1e-3, low=0.0, low_inclusive=False, help="weight decay of W (card: 1e-3, c = 0.0707)")
    lambda_H: float = param(1e-3, low=0.0, low_inclusive=False, help="weight decay of H (card: 1e-3)")
    lr: float = param(1.0, low=0.0, low_inclusive=False, help="GD step (card: 1.0)")
    steps: int = param(10000, low=1, help="GD steps (card 5000; 10000 here, reason in targets.toml)")
    init_std: float = param(0.01, low=0.0, help="std of the i.i.d. normal init of W, H, b (not in the card)")
    log_every: int = param(500, low=1, help="GD steps between logged losses")
    # item 2: the c = 1 threshold
    c_below: float = param(0.9, low=0.0, low_inclusive=False, high=1.0, high_inclusive=False, help="c < 1 (card)")
    c_above: float = param(1.1, low=1.0, low_inclusive=False, help="c > 1 (card)")
    threshold_steps: int = param(
        20000, low=1, help="GD steps of the threshold runs (slowest rate lambda - 1/(K sqrt n))"
    )
    # item 3: strict saddles
    saddle_classes: int = param(4, low=2, help="K of the saddle check (card item 3)")
    saddle_per_class: int = param(3, low=1, help="n of the saddle check (card item 3)")
    saddle_dim: int = param(5, low=1, help="d > K of the saddle check (card item 3)")
    saddle_lambda_W: float = param(5e-3, low=0.0, low_inclusive=False, help="card item 3")
    saddle_lambda_H: float = param(1e-2, low=0.0, low_inclusive=False, help="card item 3")
    # item 4: negative control d = K - 2
    control_classes: int = param(4, low=3, help="K of the negative control (card item 4 prototype)")
    control_per_class: int = param(20, low=1, help="n of the negative control (card's second fixture)")
    control_lambda: float = param(5e-3, low=0.0, low_inclusive=False, help="lambda_W = lambda_H (card's fixture)")
    control_lr: float = param(0.5, low=0.0, low_inclusive=False, help="GD step (card's fixture)")
    control_steps: int = param(20000, low=1, help="GD steps (card's fixture)")
    # item 5: the network check
    network: str = param("mlp", choices=("none", "mlp", "resnet18"), help="network check: card's MLP, ResNet-18 (GPU)")
    train_source: str = param("test", choices=("test", "train"), help="MNIST file the training images come from")
    train_size: int = param(2000, low=10, help="training images (card: 2,000 from t10k)")
    test_size: int = param(3000, low=10, help="test images, disjoint from training when drawn from one file")
    width: int = param(128, low=1, help="MLP hidden width (card: 128)")
    depth: int = param(3, low=1, help="MLP hidden layers, each Linear + BN + ReLU (card: 3-layer MLP)")
    epochs: int = param(300, low=1, help="epochs (card: 300)")
    batch_size: int = param(128, low=2, help="batch (official default 128)")
    net_lr: float = param(0.05, low=0.0, low_inclusive=False, help="SGD lr (card: 0.05)")
    momentum: float = param(0.9, low=0.0, high=1.0, high_inclusive=False, help="card: 0.9")
    weight_decay: float = param(5e-4, low=0.0, help="card / official: 5e-4 on every parameter")
    milestones: tuple[int, ...] = param((100, 200), low=1, help="lr x0.1 at these epochs (card: 100, 200)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        if self.saddle_dim <= self.saddle_classes:
            raise ValueError(f"Config.saddle_dim={self.saddle_dim} must exceed saddle_classes={self.saddle_classes}")
        if self.train_source == "test" and self.train_size + self.test_size > 10000:
            raise ValueError(
                f"Config.train_size + test_size = {self.train_size + self.test_size} exceeds the 10,000 t10k images"
            )


PRESETS = {
    "quick": Config(),
    "paper": Config(
        classes=100,
        per_class=500,
        dim=512,
        lambda_W=2e-4,
        lambda_H=2e-4,
        steps=20000,
        log_every=1000,
        network="resnet18",
        train_source="train",
        train_size=10000,
        test_size=10000,
        epochs=100,
        milestones=(33, 66),
        device="auto",
    ),
}


def _rho(W: torch.Tensor) -> float:
    """Least-squares rho in W W^T = rho (I - 11^T/K)."""
    K = W.shape[0]
    P = torch.eye(K, dtype=W.dtype, device=W.device) - 1.0 / K
    return float(((W @ W.T) * P).sum() / (K - 1))


def _global_optimality(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    ufm = UFMMSE(
        config.classes, config.per_class, config.dim, config.lambda_W, config.lambda_H, 0.0, bias=True, device=device
    )
    state = ufm.gd(
        config.lr,
        config.steps,
        generator=derive_generator(seed, 0),
        init_std=config.init_std,
        log_every=config.log_every,
    )
    for step, value in state.losses:
        log.metrics(step, ufm_loss=value)
    f = float(ufm.loss(state.W, state.H, state.b))
    check_finite(f, state.losses[-1][0])
    opt = ufm.optimum()
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
        "ufm_rho_rel_error": abs(_rho(state.W) / opt.rho - 1.0),
    }


def _threshold(config: Config, seed: int) -> dict[str, float]:
    out = {}
    K, n = config.classes, config.per_class
    for name, c in (("below", config.c_below), ("above", config.c_above)):
        lam = c / (K * math.sqrt(n))  # c = K sqrt(n lambda_W lambda_H) with lambda_W = lambda_H
        ufm = UFMMSE(K, n, config.dim, lam, lam, 0.0, bias=True)
        state = ufm.gd(
            config.lr,
            config.threshold_steps,
            generator=derive_generator(seed, 1 if name == "below" else 2),
            init_std=config.init_std,
            log_every=config.threshold_steps,
        )
        check_finite(state.losses[-1][1], state.losses[-1][0])
        out[f"threshold_w_norm_{name}"] = float(torch.linalg.matrix_norm(state.W))
    return out


def _saddles(config: Config, seed: int) -> dict[str, float]:
    K, n, d = config.saddle_classes, config.saddle_per_class, config.saddle_dim
    lw, lh = config.saddle_lambda_W, config.saddle_lambda_H
    predicted = saddle_min_eigenvalue(K, n, lw, lh)
    gen = derive_generator(seed, 3)
    grads, errors, eigs = [], [], []
    full_gap = full_eig = float("nan")
    for r in range(K):
        Q = torch.linalg.qr(torch.randn(d, r, generator=gen, dtype=torch.float64))[0] if r else None
        ufm, st = ufm_strict_saddle(K, n, d, r, lw, lh, Q=Q)
        g = ufm.grad(st.W, st.H, st.b)
        grads.append(max(float(t.abs().max()) for t in g))
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
    K = config.control_classes
    ufm = UFMMSE(K, config.control_per_class, K - 2, config.control_lambda, config.control_lambda, 0.0, bias=True)
    state = ufm.gd(
        config.control_lr,
        config.control_steps,
        generator=derive_generator(seed, 4),
        init_std=config.init_std,
        log_every=config.control_steps,
    )
    f = float(ufm.loss(state.W, state.H, state.b))
    check_finite(f, config.control_steps)
    m = collapse_metrics(state.H.T, ufm.labels, state.W, state.b, center_W=True)
    return {
        "control_nc1": m["nc1_papyan"],
        "control_nc2": m["nc2_etf_W_centred"],
        "control_f_gap": f - ufm.optimum().f_star,
    }


def _mnist(config: Config, seed: int) -> tuple[torch.Tensor, ...]:
    return mnist_split(config.train_size, config.test_size, derive_generator(seed, 10), config.train_source)


@torch.no_grad()
def _evaluate(model, x, y, device, transform, batch=1000) -> tuple[dict[str, float], float]:
    model.eval()
    with FeatureHook(model.fc) as hook:
        outs = []
        for i in range(0, len(x), batch):
            xb = x[i : i + batch].to(device)
            outs.append(model(transform(xb) if transform else xb).float())
        logits = torch.cat(outs).cpu()
        feats = hook.features().cpu()
    W = model.fc.weight.detach().cpu()
    b = None if model.fc.bias is None else model.fc.bias.detach().cpu()
    m = collapse_metrics(feats, y, W, b, center_W=True, logits=logits)
    return m, float((logits.argmax(1) == y).float().mean())


def _network(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    x_tr, y_tr, x_te, y_te = _mnist(config, seed)
    K = 10
    transform = mnist_as_rgb32 if config.network == "resnet18" else None
    out: dict[str, float] = {}
    for name, etf in (("learned", False), ("etf", True)):
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=derive_generator(seed, 11 + etf))))
        if config.network == "resnet18":
            model = resnet18_collapse(K, etf_fc=etf, fixdim=K if etf else None).to(device)
        else:
            model = CollapseMLP(28 * 28, K, config.width, config.depth, feature_dim=K if etf else None, etf_fc=etf).to(
                device
            )
        if name == "learned":
            m0, acc0 = _evaluate(model, x_tr, y_tr, device, transform)
            out.update(
                net_init_nc1=m0["nc1_papyan"],
                net_init_nc2=m0["nc2_etf_means_centred"],
                net_init_nc3=m0["nc3_zhou_centred"],
                net_init_nc4=m0["nc4_ncc_mismatch"],
                net_init_train_acc=acc0,
            )

        def on_epoch(epoch: int, loss: float, name=name) -> None:
            log.metrics(epoch, **{f"{name}/train_loss": loss})
            check_finite(loss, epoch, {f"{name}_diverged_epoch": float(epoch)})

        train_mse(
            model,
            x_tr,
            y_tr,
            K,
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.net_lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            milestones=config.milestones,
            generator=derive_generator(seed, 13 + etf),
            on_epoch=on_epoch,
            transform=transform,
        )
        m, acc = _evaluate(model, x_tr, y_tr, device, transform)
        mt, acc_te = _evaluate(model, x_te, y_te, device, transform)
        out.update(
            {
                f"net_{name}_train_acc": acc,
                f"net_{name}_test_acc": acc_te,
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
    """All five checks of card 10 for one seed; returns every criterion's metric."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {}
    metrics.update(_global_optimality(config, seed, log, device))
    metrics.update(_threshold(config, seed))
    metrics.update(_saddles(config, seed))
    metrics.update(_control(config, seed))
    metrics["ufm_wall_s"] = time.perf_counter() - started
    if config.network != "none":
        metrics.update(_network(config, seed, log, device))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="collapse_mse",
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("collapse_mse"),
    components=(
        "analysis.collapse_metrics",
        "analysis.CollapseAccumulator",
        "analysis.FeatureHook",
        "analysis.UFMMSE",
        "analysis.ufm_mse_optimum",
        "analysis.ufm_strict_saddle",
        "nn.ETFClassifier",
        "nn.CollapseMLP",
        "nn.resnet18_collapse",
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
