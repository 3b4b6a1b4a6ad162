"""Paper 14, ``extended_ufm``: the extended unconstrained features model (Tirer & Bruna, ICML 2022).

Claim: under regularised MSE the bias-free UFM minimisers form an orthogonal frame (OF),
not a simplex ETF, in the classifier and in the uncentred class means; an extra weight
layer (linear extended UFM) keeps this structure at every layer, and with a ReLU between
the layers the post-activation features and the classifier still collapse onto an OF.

``quick`` (docs/papers/extended_ufm.md#defaults): (1) bias-free UFM against c(2 - c)/2 with
OF vs ETF gaps side by side; (2) the same model with an unregularised bias gives an ETF
instead; (3) the linear extended UFM against its scalar-problem optimum; (4) the ReLU
extended UFM; (5) an informational bias-free MLP on MNIST (2,000 t10k images, not gating).
``paper``: the GPU scale (K = 10, n = 500, d = d1 = 512; ResNet-18 bias-free on 10,000 MNIST
training images).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from icml22dl.analysis.collapse import collapse_metrics, evaluate_collapse, nc1, of_etf_distance, of_gap
from icml22dl.analysis.ufm import ExtendedUFM
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
from icml22dl.train import FitResult, evaluate

K_MNIST = 10


@dataclass(frozen=True)
class Extended(ConfigBlock):
    """Items 3-4: the bias-free extended UFM, W2 sigma(W1 H), sigma the identity or ReLU (Tirer & Bruna, Sec. 4)."""

    per_class: int = param(10, low=1, help="n")
    dim: int = param(16, low=1, help="d, rows of H")
    hidden: int = param(16, low=1, help="d1, rows of W1")
    lam: float = param(5e-3, low=0.0, low_inclusive=False, help="lambda_2 = lambda_1 = lambda_H")
    lr: float = param(0.5, low=0.0, low_inclusive=False, help="GD step (1.0 diverges on this three-factor model)")
    linear_steps: int = param(5000, low=1, help="GD steps, linear model")
    relu_steps: int = param(15000, low=1, help="GD steps, ReLU model (slow along the OF directions)")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the extended_ufm claim (defaults: the quick preset, docs/papers/extended_ufm.md#defaults)."""

    ufm: UFM = param(
        UFM(classes=4, per_class=20, dim=16, lambda_W=5e-3, lambda_H=5e-3, lr=0.5, steps=20000, init_std=0.1),
        help="items 1-2: the two-factor UFM, bias-free and with an unregularised bias (init_std, log_every: all UFMs)",
    )
    ext: Extended = param(Extended(), help="items 3-4: the extended UFM (K of ufm)")
    net: MNISTNet = param(MNISTNet(), help="item 5: the informational bias-free network probe (MSE)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where the UFMs and the network run")

    def check(self) -> None:
        K = self.ufm.classes
        if self.ufm.dim < K or self.ext.dim < K or self.ext.hidden < K:
            raise ValueError(
                f"Config.ufm.dim={self.ufm.dim}, ext.dim={self.ext.dim}, ext.hidden={self.ext.hidden} must all "
                f"be >= classes={K} (d, d1 >= K: Tirer & Bruna, Sec. 3)"
            )


PRESETS = {
    "quick": Config(),
    "paper": Config(
        ufm=UFM(
            classes=10,
            per_class=500,
            dim=512,
            lambda_W=5e-4,
            lambda_H=5e-4,
            lr=0.5,
            steps=20000,
            init_std=0.1,
            log_every=1000,
        ),
        ext=Extended(per_class=500, dim=512, hidden=512, lam=5e-4, linear_steps=20000, relu_steps=30000),
        net=MNISTNet(
            arch="resnet18",
            data=MNISTSubset(source="train", train_size=10000, test_size=10000),
            epochs=100,
            milestones=(33, 66),
        ),
        device="auto",
    ),
}


def _means(features: torch.Tensor, K: int) -> torch.Tensor:
    """(C, p) class means of class-sorted columns (p x nK)."""
    return features.T.reshape(K, -1, features.shape[0]).mean(1)


def _two_factor(config: Config, seed: int, log: RunLog, device: torch.device, bias: bool) -> dict[str, float]:
    K = config.ufm.classes
    ufm, state = config.ufm.solve(derive_generator(seed, 1 if bias else 0), bias=bias, device=device)
    tag = "bias" if bias else "ufm"
    for step, value in state.losses:
        log.metrics(step, **{f"{tag}_loss": value})
    f = float(ufm.loss(state.W, state.H, state.b))
    check_finite(f, state.losses[-1][0])
    m = collapse_metrics(
        state.H.T.cpu(), ufm.labels.cpu(), state.W.cpu(), None if state.b is None else state.b.cpu(), center_W=True
    )
    return {
        f"{tag}_f": f,
        f"{tag}_f_gap": abs(f - ufm.optimum().f_star),
        f"{tag}_nc1": m["nc1_papyan"],
        f"{tag}_of_gap_W": m["of_gap_W"],
        f"{tag}_of_gap_means": m["of_gap_means"],
        f"{tag}_etf_gap_W_uncentred": m["nc2_etf_W_uncentred"],
        f"{tag}_etf_gap_W_centred": m["nc2_etf_W_centred"],
        f"{tag}_etf_gap_means_uncentred": m["nc2_etf_means_uncentred"],
        f"{tag}_etf_gap_means_centred": m["nc2_etf_means_centred"],
        f"{tag}_etf_gap_centred_max": max(m["nc2_etf_W_centred"], m["nc2_etf_means_centred"]),
        f"{tag}_uncentred_etf_offset": abs(m["nc2_etf_W_uncentred"] - of_etf_distance(K)),
        f"{tag}_nc3_zhou": m["nc3_zhou_uncentred"],
        f"{tag}_nc3_papyan": m["nc3_papyan"],
    }


def _extended(config: Config, seed: int, log: RunLog, device: torch.device, activation: str) -> dict[str, float]:
    K, ext = config.ufm.classes, config.ext
    model = ExtendedUFM(K, ext.per_class, ext.dim, ext.hidden, ext.lam, ext.lam, ext.lam, activation, device=device)
    steps = ext.linear_steps if activation == "identity" else ext.relu_steps
    state = model.gd(
        ext.lr,
        steps,
        generator=derive_generator(seed, 2 if activation == "identity" else 3),
        init_std=config.ufm.init_std,
        log_every=config.ufm.log_every,
    )
    assert state.W1 is not None
    tag = "linear" if activation == "identity" else "relu"
    for step, value in state.losses:
        log.metrics(step, **{f"{tag}_loss": value})
    f = float(model.loss(state.W, state.W1, state.H))
    check_finite(f, state.losses[-1][0])
    f_star = model.optimum().f_star
    W2, W1, H = state.W.cpu(), state.W1.cpu(), state.H.cpu()
    S = model.hidden(W1, H)
    labels = model.labels.cpu()
    MH, MS = _means(H, K), _means(S, K)
    out = {
        f"{tag}_f": f,
        f"{tag}_rel_gap": abs(f - f_star) / f_star,
        f"{tag}_nc1_H": nc1(H.T, labels, K),
        f"{tag}_nc1_hidden": nc1(S.T, labels, K),
        f"{tag}_of_gap_H": of_gap(MH @ MH.T),
        f"{tag}_of_gap_hidden": of_gap(MS @ MS.T),
        f"{tag}_of_gap_W2": of_gap(W2 @ W2.T),
        f"{tag}_etf_gap_H_centred": collapse_metrics(H.T, labels, W2 @ W1)["nc2_etf_means_centred"],
        f"{tag}_nc3_hidden": collapse_metrics(S.T, labels, W2)["nc3_zhou_uncentred"],
        f"{tag}_negative_preactivation": float(((W1 @ H) < 0).double().mean()),
    }
    out[f"{tag}_nc1_max"] = max(out[f"{tag}_nc1_H"], out[f"{tag}_nc1_hidden"])
    out[f"{tag}_of_gap_max"] = max(out[f"{tag}_of_gap_H"], out[f"{tag}_of_gap_hidden"], out[f"{tag}_of_gap_W2"])
    return out


def _network(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    net, transform = config.net, config.net.transform()
    x_tr, y_tr, x_te, y_te = (t.to(device) for t in net.data.load(derive_generator(seed, 10)))
    mse = OneHotMSELoss(K_MNIST)

    def on_epoch(epoch: int, result: FitResult) -> None:
        log.metrics(epoch, **{"net/train_loss": result.epoch_losses[-1]})

    with torch_seeded(int(torch.randint(2**31 - 1, (1,), generator=derive_generator(seed, 11)))):
        model = net.build(K_MNIST, fc_bias=False).to(device)
        generator = derive_generator(seed, 12)
        net.train(model, x_tr, y_tr, loss_fn=lambda m, b: mse(m(b.x), b.y), generator=generator, on_epoch=on_epoch)
    m, train = evaluate_collapse(model, x_tr, y_tr, transform=transform)
    test = evaluate(model, x_te, y_te, transform=transform)
    return {
        "net_train_acc": train.accuracy,
        "net_test_acc": test.accuracy,
        "net_nc1": m["nc1_papyan"],
        "net_of_gap_means": m["of_gap_means"],
        "net_of_gap_W": m["of_gap_W"],
        "net_etf_gap_means_centred": m["nc2_etf_means_centred"],
        "net_etf_gap_means_uncentred": m["nc2_etf_means_uncentred"],
        "net_etf_gap_W_uncentred": m["nc2_etf_W_uncentred"],
    }


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Items 1-5 of docs/papers/extended_ufm.md for one seed; returns every criterion's metric."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {"of_etf_distance": of_etf_distance(config.ufm.classes)}
    metrics.update(_two_factor(config, seed, log, device, bias=False))
    metrics.update(_two_factor(config, seed, log, device, bias=True))
    metrics.update(_extended(config, seed, log, device, "identity"))
    metrics.update(_extended(config, seed, log, device, "relu"))
    # The ReLU model is judged against the *linear* model's optimum (docs/papers/extended_ufm.md#claim-and-thresholds).
    metrics["ufm_wall_s"] = time.perf_counter() - started
    if config.net.arch != "none":
        metrics.update(_network(config, seed, log, device))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="extended_ufm",
    data={"quick": ("mnist",), "paper": ("mnist",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("extended_ufm"),
    components=(
        "analysis.ExtendedUFM",
        "analysis.extended_ufm_optimum",
        "analysis.UFMMSE",
        "analysis.of_gap",
        "analysis.etf_gap",
        "analysis.collapse_by_layer",
        "analysis.collapse_metrics",
        "analysis.evaluate_collapse",
        "losses.OneHotMSELoss",
    ),
    curves=(
        Curve("UFM loss under GD (bias-free vs unregularised bias)", ("ufm_loss", "bias_loss"), logy=True),
        Curve("Extended UFM loss under GD", ("linear_loss", "relu_loss"), logy=True),
    ),
    summary=(
        "ufm_f_gap",
        "ufm_of_gap_W",
        "ufm_etf_gap_W_uncentred",
        "ufm_etf_gap_centred_max",
        "ufm_nc3_papyan",
        "bias_etf_gap_W_uncentred",
        "bias_of_gap_W",
        "linear_rel_gap",
        "linear_of_gap_max",
        "relu_rel_gap",
        "relu_of_gap_hidden",
        "relu_of_gap_W2",
        "relu_of_gap_H",
        "net_test_acc",
        "net_nc1",
        "net_of_gap_means",
    ),
)
