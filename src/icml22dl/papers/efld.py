"""Paper 5, ``efld``: stability bounds for Exponential Family Langevin Dynamics (Banerjee et al., ICML 2022).

Claim: for EFLD algorithms (SGLD, noisy sign-SGD, quantised SGD) the expected-stability bound
(c/n) E sqrt(sum_t alpha_t^2 |grad l(w, z) - grad l(w, z')|^2) holds, is non-vacuous, is
sharper than the gradient-norm bound of Li et al. (2020), decays as O(1/n) and grows with
label noise.

``quick`` (card 05 §3): MNIST t10k (train points from the first 8,000, the last 2,000 are
fresh), MLP 784-64-10, cross-entropy, batch 200, T = 300, effective step eta*alpha = 0.1,
bound every step from K = 16 random pairs. One seed runs SGLD (std_coef 0.5) and noisy sign
(alpha 2) and quantised SGD on {-1, 0, 1} (alpha 2) at n = 8,000, SGLD at n = 2,000, and the
label-noise pair (p = 0 vs 0.5, n = 1,000, T = 1,500, std_coef 0.1). ``paper``: CNN on the
full MNIST training set, T = 10,000, K = 64 (card 05 §3, paper scale; schedules not yet read
from the paper).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.analysis.bounds import EFLDBound
from icml22dl.data.mnist import load_mnist
from icml22dl.data.noise import symmetric_noise
from icml22dl.optim.efld import SGLD, NoisySignSGD, QuantizedSGD
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device

LI_THIRD_PARTY = 8.12 / math.sqrt(2.0)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the EFLD bound experiment (defaults: the quick preset, card 05 §3)."""

    dataset: str = param(
        "mnist_t10k",
        choices=("mnist_t10k", "mnist"),
        help="t10k split (quick, as the prototype) or the 60k train split (paper)",
    )
    model: str = param("mlp", choices=("mlp", "cnn2"), help="MLP 784-64-10 (quick) or CNN2 (paper, card 05 §2)")
    train_pool: int = param(8000, low=1, help="first examples used as the training pool (card 05: 8,000)")
    fresh_size: int = param(2000, low=1, help="held-out fresh/test examples after the pool (card 05: 2,000)")
    n_large: int = param(8000, low=1, help="n of the main runs (card 05: 8,000)")
    n_small: int = param(2000, low=1, help="n of the O(1/n) comparison run (card 05: 2,000)")
    batch_size: int = param(200, low=1, help="b (card 05 and third party: 200)")
    steps: int = param(300, low=1, help="T of the main runs (card 05: 300)")
    effective_lr: float = param(0.1, low=0.0, low_inclusive=False, help="eta*alpha, the mean step (card 05: 0.1)")
    std_coef: float = param(0.5, low=0.0, low_inclusive=False, help="SGLD std_coef = 1/alpha (card 05: 0.5)")
    sign_alpha: float = param(2.0, low=0.0, low_inclusive=False, help="noisy sign alpha (card 05: 2)")
    quant_alpha: float = param(2.0, low=0.0, low_inclusive=False, help="quantised SGD alpha on {-1,0,1} (ours: 2)")
    pairs: int = param(16, low=1, help="K random (train, fresh) pairs for the bound (card 05: >= 16)")
    constant: float = param(
        math.sqrt(20.0),
        low=0.0,
        low_inclusive=False,
        help="c of the EFLD bound (third party's sqrt(20); card 05 §7: unresolved)",
    )
    li_constant: float = param(8.12, low=0.0, low_inclusive=False, help="Li et al. constant (card 05: 8.12)")
    noise_n: int = param(1000, low=1, help="label-noise runs: n (card 05 P5.5 proposal: 1,000)")
    noise_steps: int = param(1500, low=0, help="label-noise runs: T (card 05 P5.5: 1,500; 0 = skip)")
    noise_std_coef: float = param(0.1, low=0.0, low_inclusive=False, help="label-noise runs: std_coef (card 05: 0.1)")
    noise_rate: float = param(0.5, low=0.0, high=1.0, help="label-noise rate p (card 05: 0.5), train and fresh")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        super().check()
        if max(self.n_large, self.n_small, self.noise_n) > self.train_pool:
            raise ValueError(f"n_large, n_small and noise_n must be <= train_pool={self.train_pool}")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        dataset="mnist",
        model="cnn2",
        train_pool=50000,
        fresh_size=10000,
        n_large=50000,
        n_small=12500,
        steps=10000,
        pairs=64,
        noise_n=50000,
        noise_steps=10000,
        device="auto",
    ),
}


class CNN2(nn.Module):
    """CNN2 of the third-party code ("from the paper"): conv5x5(32)-pool-conv5x5(64)-pool-FC1024-FC10, ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 1024),
            nn.ReLU(),
            nn.Linear(1024, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x.view(-1, 1, 28, 28))


def _model(config: Config, generator: torch.Generator) -> nn.Module:
    model = CNN2() if config.model == "cnn2" else nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    for module in model.modules():  # torch's default init, drawn from the run's generator
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(module.weight[0].numel())
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return model


def _one_run(
    kind: str,
    n: int,
    steps: int,
    rate: float,
    x: Tensor,
    y: Tensor,
    config: Config,
    seed: int,
    stream: int,
    log: RunLog,
    tag: str,
) -> dict[str, float]:
    """Train one EFLD algorithm on n examples of the pool; return errors, gap and bounds."""
    device = x.device
    gen = derive_generator(seed, stream)
    pool, fresh = config.train_pool, config.fresh_size
    x_pool, x_fresh = x[:pool], x[pool : pool + fresh]
    y_pool, y_fresh = y[:pool], y[pool : pool + fresh]
    if rate > 0:  # symmetric label noise on the training and the fresh points alike (card 05 §1, step 5)
        noise_gen = derive_generator(seed, stream + 200)  # its own stream: the rest of the run is unchanged
        y_pool, _ = symmetric_noise(y_pool.cpu(), rate, 10, noise_gen, include_true_class=False)
        y_fresh, _ = symmetric_noise(y_fresh.cpu(), rate, 10, noise_gen, include_true_class=False)
        y_pool, y_fresh = y_pool.to(device), y_fresh.to(device)
    take = torch.randperm(pool, generator=gen)[:n].to(device) if n < pool else torch.arange(pool, device=device)
    x_train, y_train = x_pool[take], y_pool[take]
    k = config.pairs
    i_in = torch.randint(0, n, (k,), generator=gen).to(device)
    i_out = torch.randint(0, fresh, (k,), generator=gen).to(device)
    pairs = (x_train[i_in], y_train[i_in], x_fresh[i_out], y_fresh[i_out])

    model = _model(config, gen).to(device)
    noise_seed = int(torch.randint(0, 2**62, (1,), generator=gen).item())
    if kind == "sgld":
        std = config.noise_std_coef if rate > 0 or tag.startswith("noise") else config.std_coef
        opt: torch.optim.Optimizer = SGLD(model.parameters(), lr=config.effective_lr, std_coef=std, seed=noise_seed)
        alpha = 1.0 / std
    elif kind == "sign":
        alpha = config.sign_alpha
        opt = NoisySignSGD(model.parameters(), lr=config.effective_lr / alpha, alpha=alpha, seed=noise_seed)
    else:
        alpha = config.quant_alpha
        opt = QuantizedSGD(model.parameters(), lr=config.effective_lr / alpha, alpha=alpha, levels=1, seed=noise_seed)
    bound = EFLDBound(
        model,
        F.cross_entropy,
        pairs,
        n=n,
        constant=config.constant,
        li_constant=config.li_constant,
        batch_size=config.batch_size,
    )
    order_gen = derive_generator(seed, stream + 100)
    step, order = 0, torch.empty(0, dtype=torch.long)
    for step in log.progress(range(1, steps + 1), total=steps, desc=tag):
        if len(order) < config.batch_size:  # batches without replacement, reshuffled each epoch
            order = torch.randperm(n, generator=order_gen)
        idx, order = order[: config.batch_size].to(device), order[config.batch_size :]
        bound.update(alpha)  # gradients at w_{t-1}, before the step
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        check_finite(loss.item(), step, {f"{tag}_diverged_step": float(step)})
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps:
            log.metrics(
                step,
                **{
                    f"{tag}/bound": bound.value(),
                    f"{tag}/li_bound": bound.li_value(),
                    f"{tag}/train_loss": loss.item(),
                },
            )
    with torch.no_grad():
        train_err = _error(model, x_train, y_train)
        test_err = _error(model, x_fresh, y_fresh)
    value, li = bound.value(), bound.li_value()
    return {
        f"{tag}_train_err": train_err,
        f"{tag}_test_err": test_err,
        f"{tag}_gap": test_err - train_err,
        f"{tag}_bound": value,
        f"{tag}_li": li,
        f"{tag}_ratio": value / li,
        f"{tag}_bound_c1": bound.value(constant=1.0),
        f"{tag}_ratio_li_third_party": value / bound.li_value(constant=LI_THIRD_PARTY),
        f"{tag}_condition_violations": float(bound.condition_violations),
    }


@torch.no_grad()
def _error(model: nn.Module, x: Tensor, y: Tensor) -> float:
    wrong = sum((model(x[s : s + 2000]).argmax(1) != y[s : s + 2000]).sum().item() for s in range(0, len(y), 2000))
    return wrong / len(y)


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """All EFLD runs of one seed and the per-seed quantities the criteria read."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    images, labels = load_mnist("test" if config.dataset == "mnist_t10k" else "train")
    need = config.train_pool + config.fresh_size
    if need > len(labels):
        raise ValueError(f"train_pool + fresh_size = {need} exceeds the {len(labels)} examples of {config.dataset}")
    x = (images[:need].flatten(1).float() / 255.0).to(device)
    y = labels[:need].to(device)
    metrics: dict[str, float] = {}
    runs = [
        ("sgld", config.n_large, "sgld"),
        ("sign", config.n_large, "sign"),
        ("quantized", config.n_large, "quant"),
        ("sgld", config.n_small, "sgld_small"),
    ]
    for stream, (kind, n, tag) in enumerate(runs):
        t0 = time.perf_counter()
        metrics.update(_one_run(kind, n, config.steps, 0.0, x, y, config, seed, stream + 1, log, tag))
        metrics[f"{tag}_wall_s"] = time.perf_counter() - t0
    if config.noise_steps > 0:
        for rate, tag in ((0.0, "noise_p0"), (config.noise_rate, "noise_p")):
            t0 = time.perf_counter()
            # Same stream for both rates: same subset, pairs, initialisation and noise; only labels differ.
            metrics.update(_one_run("sgld", config.noise_n, config.noise_steps, rate, x, y, config, seed, 10, log, tag))
            metrics[f"{tag}_wall_s"] = time.perf_counter() - t0
        metrics["noise_bound_diff"] = metrics["noise_p_bound"] - metrics["noise_p0_bound"]
        metrics["noise_gap_diff"] = metrics["noise_p_gap"] - metrics["noise_p0_gap"]
    main = [tag for _, _, tag in runs] + (["noise_p0", "noise_p"] if config.noise_steps > 0 else [])
    metrics["validity_margin"] = min(metrics[f"{t}_bound"] - metrics[f"{t}_gap"] for t in main)
    metrics["validity_margin_c1"] = min(metrics[f"{t}_bound_c1"] - metrics[f"{t}_gap"] for t in main)
    metrics["max_bound_p0"] = max(metrics["sgld_bound"], metrics["sign_bound"])
    metrics["max_bound_p0_c1"] = max(metrics["sgld_bound_c1"], metrics["sign_bound_c1"])
    metrics["max_ratio_large_n"] = max(metrics[f"{t}_ratio"] for t in ("sgld", "sign", "quant"))
    metrics["max_ratio_large_n_li_third_party"] = max(
        metrics[f"{t}_ratio_li_third_party"] for t in ("sgld", "sign", "quant")
    )
    metrics["n_ratio"] = metrics["sgld_bound"] / metrics["sgld_small_bound"]
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="efld",
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("efld"),
    components=(
        "optim.EFLD",
        "optim.SGLD",
        "optim.NoisySignSGD",
        "optim.QuantizedSGD",
        "analysis.EFLDBound",
        "analysis.per_sample_grads",
    ),
    curves=(
        Curve("EFLD vs Li et al. bound, n = 8,000", ("sgld/bound", "sgld/li_bound", "sign/bound", "sign/li_bound")),
        Curve("Label noise: EFLD bound", ("noise_p0/bound", "noise_p/bound")),
    ),
    summary=tuple(
        f"{t}_{m}"
        for t in ("sgld", "sign", "quant", "sgld_small", "noise_p0", "noise_p")
        for m in ("train_err", "test_err", "gap", "bound", "li", "bound_c1")
    )
    + ("max_ratio_large_n_li_third_party", "validity_margin_c1", "max_bound_p0_c1"),
    seeds=(0,),
)
