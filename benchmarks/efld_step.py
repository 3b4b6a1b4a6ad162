"""EFLD step overhead and bound-estimator speed (paper 05, Banerjee et al., ICML 2022); run alone, CPU, one thread.

1. ``step()`` time of ``SGLD``, ``NoisySignSGD``, ``QuantizedSGD`` ({-1, 0, 1}) and ``EFLD(family="gaussian")``
   against ``torch.optim.SGD`` (no momentum) on the MLP 784-64-10 of the quick claim and on the CIFAR
   ResNet-18 parameter list, fixed random gradients, minimum over rounds. The ratio is the cost of
   drawing the noise (one normal or uniform per coordinate, plus the grid loop for quantised SGD).
2. ``EFLDBound.update`` (vmap of grad over 2K examples) against a loop of 2K single-example backward
   passes (the third-party estimator's way), K = 100 pairs on the MLP; target (card 05 §6): >= 5x faster.

Usage: ``python benchmarks/efld_step.py [--rounds 3] [--steps 20]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.analysis import EFLDBound
from icml22dl.nn import resnet18_cifar
from icml22dl.optim import EFLD, SGLD, NoisySignSGD, QuantizedSGD


def _params(kind: str) -> list[Tensor]:
    torch.manual_seed(0)
    model = resnet18_cifar() if kind == "resnet18" else nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    g = torch.Generator().manual_seed(1)
    params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-2
    return params


def _time(kind: str, make: Callable[[list[Tensor]], torch.optim.Optimizer], rounds: int, steps: int) -> float:
    opt = make(_params(kind))
    for _ in range(3):
        opt.step()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            opt.step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def _bound_speed(k: int, repeats: int) -> tuple[float, float, float]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    g = torch.Generator().manual_seed(2)
    pairs = (torch.rand(k, 784, generator=g), torch.randint(0, 10, (k,), generator=g),
             torch.rand(k, 784, generator=g), torch.randint(0, 10, (k,), generator=g))
    bound = EFLDBound(model, F.cross_entropy, pairs, n=8000)
    start = time.perf_counter()
    for _ in range(repeats):
        bound.update(2.0)
    fast = (time.perf_counter() - start) / repeats

    sums = torch.zeros(k, dtype=torch.float64)
    start = time.perf_counter()
    for _ in range(repeats):
        for i in range(k):  # two single-example backward passes per pair
            grads = []
            for x, y in ((pairs[0], pairs[1]), (pairs[2], pairs[3])):
                model.zero_grad()
                F.cross_entropy(model(x[i: i + 1]), y[i: i + 1]).backward()
                grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
            sums[i] += 4.0 * (grads[0] - grads[1]).double().pow(2).sum()
    slow = (time.perf_counter() - start) / repeats
    loop_value = (20.0**0.5) / 8000 * sums.sqrt().mean().item()
    return fast, slow, abs(bound.value() - loop_value) / loop_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread")
    makers: dict[str, Callable[[list[Tensor]], torch.optim.Optimizer]] = {
        "torch_sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "sgld": lambda p: SGLD(p, lr=0.1, std_coef=0.5, seed=0),
        "efld_gaussian": lambda p: EFLD(p, lr=0.05, family="gaussian", alpha=2.0, seed=0),
        "noisy_sign_sgd": lambda p: NoisySignSGD(p, lr=0.05, alpha=2.0, seed=0),
        "quantized_sgd": lambda p: QuantizedSGD(p, lr=0.05, alpha=2.0, levels=1, seed=0),
    }
    for kind, steps in (("mlp", args.steps * 10), ("resnet18", args.steps)):
        times = {name: _time(kind, make, args.rounds, steps) for name, make in makers.items()}
        print(f"\n{kind}: {sum(p.numel() for p in _params(kind)):,} parameters")
        for name, t in times.items():
            print(f"  {name:16s} {1e3 * t:9.3f} ms/step   ratio to torch_sgd {t / times['torch_sgd']:6.2f}")
    fast, slow, rel = _bound_speed(k=100, repeats=3)
    print(f"\nEFLDBound.update, K = 100 pairs, MLP: vmap {1e3 * fast:.1f} ms, loop of 200 backward passes "
          f"{1e3 * slow:.1f} ms, speed-up {slow / fast:.1f}x (target >= 5x); bounds agree to {rel:.1e} relative")


if __name__ == "__main__":
    main()
