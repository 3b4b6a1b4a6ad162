"""Side-by-side timings for paper 01 (Jelassi & Li, ICML 2022, "momentum"); run alone, CPU, one thread.

1. ``EMAMomentum.step()`` (foreach) against ``torch.optim.SGD(momentum=0.9, foreach=True)`` on the
   parameter list of the CIFAR ResNet-18, fixed random gradients: median over repeats after a warm-up.
   Target (card §6): ratio <= 1.0.
2. The quick synthetic run (3 seeds x {GD, GD+M} x 300 full-batch steps, N=500, d=30, P=5, m=10) with the
   vectorised ``CubicPatchCNN`` against a naive forward that loops over patches and filters in Python.
   The naive run does fewer steps and is extrapolated linearly to 300. Target: ratio <= 0.5.

Usage: ``python benchmarks/momentum_step.py``
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from icml22dl.data.synthetic import margin_patches, random_unit_vector
from icml22dl.nn import CubicPatchCNN, resnet18_cifar
from icml22dl.optim import EMAMomentum

WARMUP, REPEATS = 5, 30
SEEDS, STEPS, NAIVE_STEPS = (0, 1, 2), 300, 30
N, D, P, M = 500, 30, 5, 10
MU, ALPHA, SIGMA, ETA, GAMMA = 0.2, 0.2, 0.3, 1.0, 0.9


def _params_with_grads(seed: int) -> list[Tensor]:
    """Detached copies of the ResNet-18 parameters with fixed random gradients."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(seed)
    params = [p.detach().clone() for p in resnet18_cifar().parameters()]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g)
    return params


def time_steps() -> None:
    """Median step() time of each optimizer, interleaved so that drift hits all of them alike."""
    optimizers: dict[str, torch.optim.Optimizer] = {
        "EMAMomentum(form='ema', foreach=True)": EMAMomentum(_params_with_grads(1), lr=0.1, foreach=True),
        "torch SGD(momentum=0.9, foreach=True)": torch.optim.SGD(
            _params_with_grads(1), lr=0.1, momentum=0.9, foreach=True
        ),
        "EMAMomentum(form='heavy_ball', foreach=True)": EMAMomentum(
            _params_with_grads(1), lr=0.1, form="heavy_ball", foreach=True
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for i in range(WARMUP + REPEATS):
        for name, opt in optimizers.items():
            start = time.perf_counter()
            opt.step()
            if i >= WARMUP:
                times[name].append(time.perf_counter() - start)
    n_params = sum(p.numel() for p in _params_with_grads(1))
    print(f"step() on ResNet-18 CIFAR parameters ({n_params:,} floats, 62 tensors), median of {REPEATS}:")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, value in medians.items():
        print(f"  {name:46s} {1e3 * value:8.2f} ms")
    ema, sgd, heavy = medians.values()
    print(f"  ratio EMAMomentum(ema) / SGD        = {ema / sgd:.2f}  (target <= 1.0)")
    print(f"  ratio EMAMomentum(heavy_ball) / SGD = {heavy / sgd:.2f}")


def naive_forward(weight: Tensor, x: Tensor) -> Tensor:
    """f_W(X) = sum_r sum_j <w_r, X[j]>^3 with one Python iteration per (patch, filter) pair."""
    out = torch.zeros(x.shape[0], dtype=x.dtype)
    for j in range(x.shape[1]):
        for r in range(weight.shape[0]):
            out = out + (x[:, j, :] @ weight[r]) ** 3
    return out


Forward = Callable[[CubicPatchCNN, Tensor], Tensor]


def train(seed: int, momentum: float, steps: int, forward: Forward) -> float:
    """Full-batch GD (momentum 0) or GD+M on fresh margin-patch data; return the wall time in seconds."""
    g = torch.Generator().manual_seed(seed)
    w_star = random_unit_vector(D, g)
    data = margin_patches(N, D, P, MU, ALPHA, SIGMA, w_star, g)
    model = CubicPatchCNN(D, M, 0.5 / D**0.5, generator=g)
    opt = EMAMomentum(model.parameters(), lr=ETA, momentum=momentum)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        F.softplus(-data.y * forward(model, data.x)).mean().backward()
        opt.step()
        model.alignment(w_star)  # the per-step metric every run records
    return time.perf_counter() - start


def time_quick_run() -> None:
    """Vectorised CubicPatchCNN against the naive loop, 3 seeds x 2 optimisers."""
    x = torch.randn(7, P, D)
    model = CubicPatchCNN(D, M, 0.1)
    assert torch.allclose(model(x), naive_forward(model.weight, x), rtol=1e-5, atol=1e-6)

    vectorised = naive = 0.0
    for seed in SEEDS:
        for momentum in (0.0, GAMMA):
            vectorised += train(seed, momentum, STEPS, lambda m, inp: m(inp))
            naive_time = train(seed, momentum, NAIVE_STEPS, lambda m, inp: naive_forward(m.weight, inp))
            naive += naive_time * STEPS / NAIVE_STEPS
    runs = len(SEEDS) * 2
    print(f"quick synthetic run: {len(SEEDS)} seeds x 2 optimisers x {STEPS} full-batch steps,", end=" ")
    print(f"N={N}, d={D}, P={P}, m={M}")
    print(f"  vectorised CubicPatchCNN            {vectorised:8.2f} s  ({vectorised / runs:.2f} s per run)")
    note = f"extrapolated: {NAIVE_STEPS} steps timed, x{STEPS // NAIVE_STEPS}"
    print(f"  naive patch x filter loop           {naive:8.2f} s  ({note})")
    print(f"  ratio vectorised / naive            = {vectorised / naive:.2f}  (target <= 0.5)")


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPU")
    time_steps()
    time_quick_run()


if __name__ == "__main__":
    main()
