"""Paper 9, ``acg``: the Auto Conjugate Gradient attack vs APGD (Yamamura et al., ICML 2022).

Claim: a conjugate-gradient search direction inside APGD's step-size schedule (ACG) finds
more adversarial examples than APGD at the same budget, with a more diverse search
(Diversity Index).

``quick``: each seed adversarially trains three small CNNs (PGD-5, eps 0.3, one epoch on a
random 10k subset of real MNIST, each model with its own derived seed); on each model, ACG
and APGD (CW loss, 100 iterations, 5 restarts: the box centre, then uniform in the box, the
same start points for both) attack the same 150 clean-correct test points. The points that
only one attack breaks are pooled over the three models into exact one-sided sign tests,
and the Diversity Index (iterations 10-30 of the first restart) is averaged over the
models. Verdict (docs/papers/acg.md#claim-and-thresholds): reproduced if ACG's DI exceeds
APGD's by the pilot margin and ACG is significantly stronger (p <= 0.05) on every seed; not
reproduced if the DI gap is not positive or APGD is significantly stronger on every seed;
otherwise inconclusive. ``paper``: a shortened GPU check (CIFAR-10, ResNet-18, fast
adversarial training, eps 8/255, three models, 5,000 test points each): the RobustBench
models of the paper are not available offline (docs/papers/acg.md#deviations-from-the-paper).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.analysis import sign_test
from icml22dl.analysis.stats import sign_test_greater
from icml22dl.attacks import ACG, APGD, AttackResult, correct_mask, pgd_linf
from icml22dl.data import load_cifar10, load_mnist, random_crop_flip, random_subset
from icml22dl.nn import resnet18_cifar
from icml22dl.nn.small_nets import SmallConvNet
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    check_finite,
    derive_generator,
    load_claim,
    null_log,
    param,
    torch_seeded,
)
from icml22dl.runner.device import resolve_device
from icml22dl.train import Batch, evaluate, fit


@dataclass(frozen=True)
class AdvTraining(ConfigBlock):
    """PGD adversarial training of the attacked model (Madry et al., 2018; docs/papers/acg.md#defaults)."""

    train_size: int = param(
        10000, low=0, help="random training subset (0 = all); intended: full MNIST, cut for the CPU budget"
    )
    epochs: int = param(1, low=1, help="adversarial-training epochs (intended: 2; cut for the CPU budget)")
    batch_size: int = param(128, low=1, help="training batch size")
    optimizer: str = param("adam", choices=("adam", "sgd"), help="adam (MNIST) or SGD, Nesterov momentum 0.9 (CIFAR)")
    lr: float = param(1e-3, low=0.0, low_inclusive=False, help="peak learning rate")
    schedule: str = param("constant", choices=("constant", "cyclic"), help="cyclic = linear up to 40% then down to 0")
    weight_decay: float = param(0.0, low=0.0, help="weight decay of the training optimizer")
    eps: float = param(0.3, low=0.0, low_inclusive=False, help="training radius (0.3 MNIST, 8/255 CIFAR)")
    steps: int = param(5, low=1, help="PGD steps of adversarial training (1 + random start = FGSM-RS)")
    step_size: float = param(0.1, low=0.0, low_inclusive=False, help="PGD step of training")
    eps_ramp: float = param(0.5, low=0.0, high=1.0, help="fraction of the first epoch over which eps ramps up")
    amp: bool = param(False, help="bfloat16 autocast for training on CUDA (attacks stay fp32)")

    def build_optimizer(self, params: Any) -> torch.optim.Optimizer:
        """Adam, or SGD with Nesterov momentum 0.9 (fast adversarial training's optimiser)."""
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay, nesterov=True)

    def build_scheduler(self, opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LRScheduler:
        """A per-step schedule over ``total`` steps: constant, or cyclic (up to 40%, then down to 0)."""
        if self.schedule == "cyclic":
            return torch.optim.lr_scheduler.LambdaLR(
                opt, lambda s: s / (0.4 * total) if s < 0.4 * total else max(0.0, (total - s) / (0.6 * total))
            )
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


@dataclass(frozen=True)
class AttackSetup(ConfigBlock):
    """The compared attacks' shared budget (official ACG yaml: CW, 100 iterations, centre start)."""

    eps: float = param(0.25, low=0.0, low_inclusive=False, help="attack radius (0.25 < training eps)")
    n_points: int = param(150, low=1, help="clean-correct test points attacked per model (intended: 1,000; CPU budget)")
    n_iter: int = param(100, low=1, help="attack iterations (official: 100)")
    n_restarts: int = param(
        5, low=1, help="restarts (AutoAttack's default 5): the box centre, then uniform in the box, shared by both"
    )
    loss: str = param("cw", choices=("cw", "ce", "dlr"), help="attack loss (official ACG: CW)")
    track_di: bool = param(True, help="Diversity Index of the centre-start runs (iterations 10-30 reported)")

    def build(self, cls: Callable[..., Any], model: nn.Module, seed: int, **kwargs: Any) -> Any:
        """``cls(model, eps, ...)`` (ACG or APGD) with this budget; ``kwargs`` add or override options."""
        options: dict[str, Any] = dict(n_iter=self.n_iter, n_restarts=self.n_restarts, loss=self.loss, seed=seed)
        return cls(model, self.eps, **(options | kwargs))


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the ACG-vs-APGD experiment (defaults: the quick preset, docs/papers/acg.md#defaults)."""

    dataset: str = param(
        "mnist", choices=("mnist", "cifar10"), help="data (quick: real MNIST; GPU check: CIFAR-10 JPEG)"
    )
    model: str = param("small_cnn", choices=("small_cnn", "resnet18_cifar"), help="model (quick: small CNN)")
    train: AdvTraining = param(AdvTraining(), help="adversarial training of the attacked model")
    attack: AttackSetup = param(AttackSetup(), help="the budget shared by ACG and APGD")
    n_models: int = param(3, low=1, help="adversarially trained models per seed, pooled in the sign test (>= 3)")
    eval_points: int = param(200, low=1, help="test points for clean and PGD-20 accuracy of the trained model")
    extras: bool = param(True, help="seed 0, first model: ACG (1 restart) with legacy NaN handling and no clamp")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        if self.dataset == "mnist" and self.model != "small_cnn":
            raise ValueError(f"model={self.model!r} is for CIFAR-10; MNIST uses 'small_cnn'")
        if self.dataset == "cifar10" and self.model != "resnet18_cifar":
            raise ValueError(f"model={self.model!r} is for MNIST; CIFAR-10 uses 'resnet18_cifar'")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        dataset="cifar10",
        model="resnet18_cifar",
        train=AdvTraining(
            train_size=0,
            epochs=10,
            batch_size=512,
            optimizer="sgd",
            lr=0.2,
            schedule="cyclic",
            weight_decay=5e-4,
            eps=8 / 255,
            steps=1,
            step_size=10 / 255,
            eps_ramp=0.0,
            amp=True,
        ),
        attack=AttackSetup(eps=8 / 255, n_points=5000),
        eval_points=1000,
        device="auto",
    ),
}


def load_images(config: Config, split: str) -> tuple[Tensor, Tensor]:
    """The split's images as float32 (N, C, H, W) in [0, 1], and labels."""
    if config.dataset == "mnist":
        x, y = load_mnist(split)
        return x[:, None].float() / 255, y
    x, y = load_cifar10(split)
    return x.permute(0, 3, 1, 2).float() / 255, y


def _adversarial_loss(
    train: AdvTraining, per_epoch: int, noise_gen: torch.Generator, log: RunLog
) -> Callable[[nn.Module, Batch], Tensor]:
    """The loss of one step: PGD (eval mode) on the batch, then cross-entropy on it (train mode)."""
    ramp, total, done = max(1, int(train.eps_ramp * per_epoch)), per_epoch * train.epochs, [0]

    def loss_fn(model: nn.Module, batch: Batch) -> Tensor:
        frac = min(1.0, (done[0] + 1) / ramp) if train.eps_ramp > 0 else 1.0
        eps = train.eps * frac
        model.eval()
        x_adv = pgd_linf(model, batch.x, batch.y, eps, train.steps, train.step_size * frac, noise_gen)
        model.train()
        loss = F.cross_entropy(model(x_adv).float(), batch.y)
        done[0] += 1
        if done[0] % 50 == 0 or done[0] == total:
            log.metrics(done[0], train_adv_loss=loss.item(), train_eps=eps)
        return loss

    return loss_fn


def adversarial_training(config: Config, seed: int, log: RunLog, device: torch.device) -> nn.Module:
    """Train the attacked model with PGD adversarial training; returned in eval mode.

    Random draws, in order: the training subset and each epoch's order from stream 0; per
    batch, the crop/flip (CIFAR-10) then PGD's start from stream 1; the initial weights from
    torch's global generator seeded with ``seed`` (inside :func:`torch_seeded`).
    """
    train = config.train
    x, y = load_images(config, "train")
    gen = derive_generator(seed, 0)
    if train.train_size and train.train_size < len(x):
        keep = random_subset(len(x), train.train_size, gen)
        x, y = x[keep], y[keep]
    x, y = x.to(device), y.to(device)
    with torch_seeded(seed):
        model = SmallConvNet(1, 10, 28) if config.model == "small_cnn" else resnet18_cifar(num_classes=10)
    model = model.to(device)
    opt = train.build_optimizer(model.parameters())
    per_epoch = math.ceil(len(x) / train.batch_size)
    noise_gen = derive_generator(seed, 1)
    fit(
        model,
        opt,
        x,
        y,
        epochs=train.epochs,
        batch_size=train.batch_size,
        loss_fn=_adversarial_loss(train, per_epoch, noise_gen, log),
        generator=gen,
        augment=(lambda xb: random_crop_flip(xb, 4, True, noise_gen)) if config.dataset == "cifar10" else None,
        scheduler=train.build_scheduler(opt, per_epoch * train.epochs),
        scheduler_interval="step",
        amp=train.amp,
        progress=lambda epochs: log.progress(epochs, total=train.epochs, desc="adversarial training"),
    )
    return model.eval()


def _model_seed(seed: int, index: int) -> int:
    """The seed of the run's ``index``-th model (training subset, order, init, test points, restarts)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=derive_generator(seed, 10 + index)))


def _attack_pair(
    config: Config, model: nn.Module, x: Tensor, y: Tensor, model_seed: int, log: RunLog | None
) -> tuple[dict[str, float], dict[str, AttackResult]]:
    """ACG and APGD at the same budget: the box centre, then restarts uniform in the box, the same for both.

    Both attacks get the same ``seed``, so a point's r-th restart starts from the same point
    in both; only the search direction differs. ``log`` (the first model only) receives the
    mean CW loss and Diversity Index curves of the first restart.
    """
    attack = config.attack
    metrics: dict[str, float] = {}
    results: dict[str, AttackResult] = {}
    for name, cls in (("acg", ACG), ("apgd", APGD)):
        t0 = time.perf_counter()
        result = attack.build(cls, model, model_seed, init="center", track_di=attack.track_di).run(x, y)
        metrics[f"{name}_wall_s"] = time.perf_counter() - t0
        metrics[f"{name}_asr"] = result.success_rate
        results[name] = result
        if result.diversity is not None:
            series = result.diversity
            metrics[f"{name}_di_10_30"] = float(series[: max(1, min(21, len(series)))].mean())
            if log is not None:
                for it in range(0, len(series), 5):
                    log.metrics(it + 10, **{f"{name}/diversity": float(series[it])})
        if log is not None:
            curve = result.loss_history.nanmean(dim=1)
            for it in range(0, attack.n_iter + 1, 5):
                log.metrics(it, **{f"{name}/mean_cw_loss": float(curve[it])})
    return metrics, results


def _pooled_summary(per_model: list[dict[str, float]], pairs: list[dict[str, AttackResult]]) -> dict[str, float]:
    """Per-model values and the pooled comparison: ASRs, discordant counts, exact sign tests, DI gap."""
    only_acg = only_apgd = 0
    out: dict[str, float] = {}
    for index, (metrics, pair) in enumerate(zip(per_model, pairs)):
        attacked = pair["acg"].clean_correct & pair["apgd"].clean_correct
        a, b = pair["acg"].success & attacked, pair["apgd"].success & attacked
        only_acg += int((a & ~b).sum())
        only_apgd += int((b & ~a).sum())
        out.update({f"m{index}_{key}": value for key, value in metrics.items()})
    for key in ("clean_acc", "pgd20_acc", "n_attacked", "acg_asr", "apgd_asr", "acg_di_10_30", "apgd_di_10_30"):
        if all(key in m for m in per_model):
            out[key] = sum(m[key] for m in per_model) / len(per_model)
    out["n_attacked"] = out["n_attacked"] * len(per_model)
    out.update(
        asr_gap=out["acg_asr"] - out["apgd_asr"],
        only_acg=float(only_acg),
        only_apgd=float(only_apgd),
        discordant=float(only_acg + only_apgd),
        sign_test_p=sign_test(only_acg, only_apgd),
        p_acg_better=sign_test_greater(only_acg, only_apgd),
        p_apgd_better=sign_test_greater(only_apgd, only_acg),
    )
    if "acg_di_10_30" in out and "apgd_di_10_30" in out:
        out["di_gap_10_30"] = out["acg_di_10_30"] - out["apgd_di_10_30"]
    return out


def _acg_variants(config: Config, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, float]:
    """ACG (1 restart, centre) with our NaN rule, the official NaN handling, and without the beta clamp."""
    metrics: dict[str, float] = {}
    for label, kwargs in (("zero", {}), ("legacy", dict(nan_policy="legacy")), ("noclamp", dict(clamp_beta=False))):
        result = config.attack.build(ACG, model, seed, init="center", n_restarts=1, **kwargs).run(x, y)
        metrics[f"acg_{label}_asr"] = result.success_rate
        if label in ("legacy", "zero"):
            assert result.beta_nan_hit is not None and result.last_move is not None
            n = max(len(y), 1)
            metrics[f"acg_{label}_nan_samples"] = float(result.beta_nan_hit.float().mean())
            stuck = (result.last_move >= 0) & (result.last_move <= config.attack.n_iter - 10)
            metrics[f"acg_{label}_stuck_last10"] = float(stuck.sum()) / n
    return metrics


def _one_model(
    config: Config, model_seed: int, log: RunLog, device: torch.device, first: bool
) -> tuple[dict[str, float], dict[str, AttackResult], tuple[nn.Module, Tensor, Tensor]]:
    """Train one robust model, then attack its first ``n_points`` clean-correct test points with ACG and APGD."""
    started = time.perf_counter()
    model = adversarial_training(config, model_seed, log if first else null_log(), device)
    train_wall = time.perf_counter() - started
    x_test, y_test = load_images(config, "test")
    order = random_subset(len(x_test), len(x_test), derive_generator(model_seed, 2))
    x_test, y_test = x_test[order].to(device), y_test[order].to(device)
    ev_x, ev_y = x_test[: config.eval_points], y_test[: config.eval_points]
    train = config.train
    x_pgd = pgd_linf(model, ev_x, ev_y, train.eps, 20, train.eps / 4, derive_generator(model_seed, 3))
    metrics: dict[str, float] = {
        "clean_acc": evaluate(model, ev_x, ev_y, batch_size=500).accuracy,
        "pgd20_acc": evaluate(model, x_pgd, ev_y, batch_size=500).accuracy,
    }
    pick = correct_mask(model, x_test, y_test, batch_size=1000).nonzero().squeeze(1)[: config.attack.n_points]
    x, y = x_test[pick], y_test[pick]
    metrics.update(n_attacked=float(len(y)), train_wall_s=train_wall)
    compared, pair = _attack_pair(config, model, x, y, model_seed, log if first else None)
    metrics.update(compared)
    return metrics, pair, (model, x, y)


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Train ``n_models`` robust models; attack each with ACG and APGD; pool the paired outcomes."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    per_model: list[dict[str, float]] = []
    pairs: list[dict[str, AttackResult]] = []
    extras: dict[str, float] = {}
    for index in range(config.n_models):
        model_seed = _model_seed(seed, index)
        metrics, pair, (model, x, y) = _one_model(config, model_seed, log, device, first=index == 0)
        per_model.append(metrics)
        pairs.append(pair)
        if config.extras and seed == 0 and index == 0:
            extras = _acg_variants(config, model, x, y, model_seed)
    out = _pooled_summary(per_model, pairs) | extras
    for value in out.values():
        if isinstance(value, float) and math.isinf(value):
            check_finite(value, config.attack.n_iter)
    out["run_wall_s"] = time.perf_counter() - started
    return out


PAPER = Paper(
    slug="acg",
    data={"quick": ("mnist",), "paper": ("cifar10",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("acg"),
    components=(
        "attacks.ACG",
        "attacks.APGD",
        "attacks.diversity_index",
        "attacks.evaluate_attacks",
        "attacks.pgd_linf",
        "attacks.correct_mask",
        "analysis.sign_test",
        "nn.SmallConvNet",
    ),
    curves=(
        Curve(
            "Mean CW loss over the first search (centre start, first model)",
            ("acg/mean_cw_loss", "apgd/mean_cw_loss"),
            ylabel="CW margin",
        ),
        Curve(
            "Diversity Index of the last 10 iterates (centre start, first model)",
            ("acg/diversity", "apgd/diversity"),
            ylabel="DI",
        ),
        Curve("Adversarial training loss", ("train_adv_loss",), ylabel="CE"),
    ),
    summary=(
        "clean_acc",
        "pgd20_acc",
        "acg_asr",
        "apgd_asr",
        "asr_gap",
        "only_acg",
        "only_apgd",
        "p_acg_better",
        "p_apgd_better",
        "acg_di_10_30",
        "apgd_di_10_30",
        "di_gap_10_30",
        "run_wall_s",
    ),
)
