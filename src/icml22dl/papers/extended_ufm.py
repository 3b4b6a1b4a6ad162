"""Paper 14, ``extended_ufm``: the extended unconstrained features model (Tirer & Bruna, ICML 2022).

Claim: under regularised MSE the bias-free UFM minimisers form an orthogonal frame (OF),
not a simplex ETF, in the classifier and in the uncentred class means; an extra weight
layer (linear extended UFM) keeps this structure at every layer, and with a ReLU between
the layers the post-activation features and the classifier still collapse onto an OF.

``quick`` (card 14 section 3): (1) bias-free UFM against c(2 - c)/2 with OF vs ETF gaps
side by side; (2) the same model with an unregularised bias gives an ETF instead; (3) the
linear extended UFM against its scalar-problem optimum; (4) the ReLU extended UFM; (5) an
informational bias-free MLP on MNIST (2,000 t10k images, not gating). ``paper``: the
card's GPU scale (K = 10, n = 500, d = d1 = 512; ResNet-18 bias-free on 10,000 MNIST
training images), not run here (no GPU in this session).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from icml22dl.analysis.collapse import FeatureHook, collapse_metrics, nc1, of_etf_distance, of_gap
from icml22dl.analysis.ufm import UFMMSE, ExtendedUFM
from icml22dl.data.mnist import mnist_as_rgb32, mnist_split
from icml22dl.nn.collapse_nets import CollapseMLP, resnet18_collapse, train_mse
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the extended_ufm claim (defaults: the quick preset, card 14 section 3)."""

    # items 1-2: two-factor UFM, bias-free and with an unregularised bias
    classes: int = param(4, low=2, help="K (card 14 item 1)")
    per_class: int = param(20, low=1, help="n (card 14 item 1)")
    dim: int = param(16, low=1, help="d >= K (card 14 item 1)")
    lam: float = param(5e-3, low=0.0, low_inclusive=False, help="lambda_W = lambda_H (card 14 item 1)")
    lr: float = param(0.5, low=0.0, low_inclusive=False, help="GD step (card 14 item 1)")
    steps: int = param(20000, low=1, help="GD steps (card 14 item 1)")
    init_std: float = param(0.1, low=0.0, help="std of the i.i.d. normal init of every factor (not in the card)")
    log_every: int = param(500, low=1, help="GD steps between logged losses")
    # items 3-4: extended UFM
    ext_per_class: int = param(10, low=1, help="n of the extended UFM (card 14 items 3-4)")
    ext_dim: int = param(16, low=1, help="d of H (card: 16)")
    ext_hidden: int = param(16, low=1, help="d1 of W1 (card: 16)")
    ext_lam: float = param(5e-3, low=0.0, low_inclusive=False, help="lambda_2 = lambda_1 = lambda_H (card: 5e-3)")
    ext_lr: float = param(0.5, low=0.0, low_inclusive=False, help="GD step (card: 0.5; 1.0 diverges)")
    linear_steps: int = param(5000, low=1, help="GD steps, linear model (card: 5k)")
    relu_steps: int = param(15000, low=1, help="GD steps, ReLU model (card: 15k)")
    # item 5: informational network
    network: str = param("mlp", choices=("none", "mlp", "resnet18"), help="bias-free network probe")
    train_source: str = param("test", choices=("test", "train"), help="MNIST file the training images come from")
    train_size: int = param(2000, low=10, help="training images (card: 2,000 from t10k)")
    test_size: int = param(3000, low=10, help="test images, disjoint from training when drawn from one file")
    width: int = param(128, low=1, help="MLP hidden width (card 10's network)")
    depth: int = param(3, low=1, help="MLP hidden layers (Linear + BN + ReLU)")
    epochs: int = param(300, low=1, help="epochs (card: 300)")
    batch_size: int = param(128, low=2, help="batch")
    net_lr: float = param(0.05, low=0.0, low_inclusive=False, help="SGD lr (card 10's network check)")
    momentum: float = param(0.9, low=0.0, high=1.0, high_inclusive=False, help="SGD momentum")
    weight_decay: float = param(5e-4, low=0.0, help="weight decay on every parameter")
    milestones: tuple[int, ...] = param((100, 200), low=1, help="lr x0.1 at these epochs")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        if self.dim < self.classes or self.ext_dim < self.classes or self.ext_hidden < self.classes:
            raise ValueError(
                f"Config.dim={self.dim}, ext_dim={self.ext_dim}, ext_hidden={self.ext_hidden} must all "
                f"be >= classes={self.classes} (card 14: d, d1 >= K)"
            )
        if self.train_source == "test" and self.train_size + self.test_size > 10000:
            raise ValueError(
                f"Config.train_size + test_size = {self.train_size + self.test_size} exceeds the 10,000 t10k images"
            )


PRESETS = {
    "quick": Config(),
    "paper": Config(
        classes=10,
        per_class=500,
        dim=512,
        lam=5e-4,
        ext_per_class=500,
        ext_dim=512,
        ext_hidden=512,
        ext_lam=5e-4,
        linear_steps=20000,
        relu_steps=30000,
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


def _means(features: torch.Tensor, K: int) -> torch.Tensor:
    """(C, p) class means of class-sorted columns (p x nK)."""
    return features.T.reshape(K, -1, features.shape[0]).mean(1)


def _two_factor(config: Config, seed: int, log: RunLog, device: torch.device, bias: bool) -> dict[str, float]:
    K = config.classes
    ufm = UFMMSE(K, config.per_class, config.dim, config.lam, config.lam, 0.0, bias=bias, device=device)
    state = ufm.gd(
        config.lr,
        config.steps,
        generator=derive_generator(seed, 1 if bias else 0),
        init_std=config.init_std,
        log_every=config.log_every,
    )
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
    K = config.classes
    model = ExtendedUFM(
        K,
        config.ext_per_class,
        config.ext_dim,
        config.ext_hidden,
        config.ext_lam,
        config.ext_lam,
        config.ext_lam,
        activation=activation,
        device=device,
    )
    steps = config.linear_steps if activation == "identity" else config.relu_steps
    state = model.gd(
        config.ext_lr,
        steps,
        generator=derive_generator(seed, 2 if activation == "identity" else 3),
        init_std=config.init_std,
        log_every=config.log_every,
    )
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
    MHc = MH - MH.mean(0)
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


def _mnist(config: Config, seed: int) -> tuple[torch.Tensor, ...]:
    return mnist_split(config.train_size, config.test_size, derive_generator(seed, 10), config.train_source)


@torch.no_grad()
def _features(model, x, device, transform, batch=1000) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    with FeatureHook(model.fc) as hook:
        outs = []
        for i in range(0, len(x), batch):
            xb = x[i : i + batch].to(device)
            outs.append(model(transform(xb) if transform else xb).float())
        return hook.features().cpu(), torch.cat(outs).cpu()


def _network(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    x_tr, y_tr, x_te, y_te = _mnist(config, seed)
    K = 10
    transform = mnist_as_rgb32 if config.network == "resnet18" else None
    torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=derive_generator(seed, 11))))
    if config.network == "resnet18":
        model = resnet18_collapse(K, fc_bias=False).to(device)
    else:
        model = CollapseMLP(28 * 28, K, config.width, config.depth, fc_bias=False).to(device)

    def on_epoch(epoch: int, loss: float) -> None:
        log.metrics(epoch, **{"net/train_loss": loss})
        check_finite(loss, epoch, {"net_diverged_epoch": float(epoch)})

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
        generator=derive_generator(seed, 12),
        on_epoch=on_epoch,
        transform=transform,
    )
    feats, logits = _features(model, x_tr, device, transform)
    _, logits_te = _features(model, x_te, device, transform)
    m = collapse_metrics(feats, y_tr, model.fc.weight.detach().cpu(), None, center_W=True, logits=logits)
    return {
        "net_train_acc": float((logits.argmax(1) == y_tr).float().mean()),
        "net_test_acc": float((logits_te.argmax(1) == y_te).float().mean()),
        "net_nc1": m["nc1_papyan"],
        "net_of_gap_means": m["of_gap_means"],
        "net_of_gap_W": m["of_gap_W"],
        "net_etf_gap_means_centred": m["nc2_etf_means_centred"],
        "net_etf_gap_means_uncentred": m["nc2_etf_means_uncentred"],
        "net_etf_gap_W_uncentred": m["nc2_etf_W_uncentred"],
    }


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Items 1-5 of card 14 for one seed; returns every criterion's metric."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {"of_etf_distance": of_etf_distance(config.classes)}
    metrics.update(_two_factor(config, seed, log, device, bias=False))
    metrics.update(_two_factor(config, seed, log, device, bias=True))
    metrics.update(_extended(config, seed, log, device, "identity"))
    metrics.update(_extended(config, seed, log, device, "relu"))
    # The ReLU model is judged against the *linear* model's optimum (card 14 item 4).
    metrics["ufm_wall_s"] = time.perf_counter() - started
    if config.network != "none":
        metrics.update(_network(config, seed, log, device))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="extended_ufm",
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
