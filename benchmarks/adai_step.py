"""Adai step time (paper 08, Xie et al., ICML 2022); run alone, CPU, one thread.

On the CIFAR ResNet-18 parameter list (11,173,962 parameters in 62 tensors), fixed random gradients,
time per ``step()`` as the minimum over 2 rounds of 15 steps after a warm-up:

* ``icml22dl.optim.Adai`` foreach and per-tensor paths;
* a plain-loop reference of the official rule (per tensor, the official code's operations and
  temporaries: v/bc2, /mean, *beta0, 1-, clamp, P*=, m*=beta1, +(1-beta1)g, m/(1-P), p -= lr*);
* pytorch-optimizer's ``Adai`` (optional extra ``pytorch_optimizer``; foreach and per-tensor), if installed;
* ``torch.optim.Adam`` and ``torch.optim.SGD(momentum=0.9)`` for scale.

Targets: ours (foreach) / plain-loop official reference <= 0.7 (issue 3); <= 1.0 x the faster
pytorch-optimizer path and <= 1.2 x torch Adam (card 08 §6).

Usage: ``python benchmarks/adai_step.py [--rounds 2] [--steps 15] [--threads 1]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import Tensor

from icml22dl.nn import resnet18_cifar
from icml22dl.optim import Adai


def _params_with_grads() -> list[Tensor]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    params = [p.detach().clone().requires_grad_(True) for p in resnet18_cifar().parameters()]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-2
    return params


class OfficialRuleLoop(torch.optim.Optimizer):
    """The official Adai update as a plain per-tensor loop (written from the paper's Algorithm 1)."""

    def __init__(self, params, lr: float, betas=(0.1, 0.99), eps: float = 1e-3) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self) -> None:
        total, count = 0.0, 0
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"], st["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
                    st["beta1_prod"] = torch.ones_like(p)
                st["step"] += 1
                beta2 = group["betas"][1]
                st["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                total += st["exp_avg_sq"].sum() / (1 - beta2 ** st["step"])
                count += p.numel()
        mean = total / count
        for group in self.param_groups:
            beta0, beta2 = group["betas"]
            for p in group["params"]:
                st = self.state[p]
                vhat = st["exp_avg_sq"] / (1 - beta2 ** st["step"])
                beta1 = (1.0 - (vhat / mean).mul(beta0)).clamp(0.0, 1 - group["eps"])
                st["beta1_prod"].mul_(beta1)
                st["exp_avg"].mul_(beta1).addcmul_(1 - beta1, p.grad)
                p.add_(st["exp_avg"] / (1 - st["beta1_prod"]), alpha=-group["lr"])


def _time(make: Callable[[list[Tensor]], torch.optim.Optimizer], rounds: int, steps: int) -> float:
    params = _params_with_grads()
    opt = make(params)
    for _ in range(3):
        opt.step()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            opt.step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    candidates: dict[str, Callable[[list[Tensor]], torch.optim.Optimizer]] = {
        "ours_foreach": lambda p: Adai(p, lr=1.0, foreach=True),
        "ours_loop": lambda p: Adai(p, lr=1.0, foreach=False),
        "official_rule_loop": lambda p: OfficialRuleLoop(p, lr=1.0),
        "torch_adam": lambda p: torch.optim.Adam(p, lr=1e-3),
        "torch_sgdm": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    }
    try:
        import pytorch_optimizer

        candidates["pytorch_optimizer_foreach"] = lambda p: pytorch_optimizer.Adai(p, lr=1.0, foreach=True)
        candidates["pytorch_optimizer_loop"] = lambda p: pytorch_optimizer.Adai(p, lr=1.0, foreach=False)
        from importlib.metadata import version

        print(f"pytorch_optimizer {version('pytorch_optimizer')}")
    except ImportError:
        print("pytorch_optimizer not installed: its rows are skipped (pip install pytorch_optimizer --no-deps)")
    n = sum(p.numel() for p in _params_with_grads())
    print(f"torch {torch.__version__}, {args.threads} thread(s), ResNet-18 list: {n:,} parameters")
    times = {name: _time(make, args.rounds, args.steps) for name, make in candidates.items()}
    for name, t in times.items():
        print(f"{name:28s} {1e3 * t:8.2f} ms/step")
    ours = times["ours_foreach"]
    print(f"ratio ours_foreach / official_rule_loop = {ours / times['official_rule_loop']:.3f}  (target <= 0.7)")
    print(f"ratio ours_loop / official_rule_loop    = {times['ours_loop'] / times['official_rule_loop']:.3f}")
    print(f"ratio ours_foreach / torch_adam         = {ours / times['torch_adam']:.3f}  (target <= 1.2)")
    print(f"ratio ours_foreach / torch_sgdm         = {ours / times['torch_sgdm']:.3f}")
    if "pytorch_optimizer_foreach" in times:
        faster = min(times["pytorch_optimizer_foreach"], times["pytorch_optimizer_loop"])
        print(f"ratio ours_foreach / faster pytorch_optimizer path = {ours / faster:.3f}  (target <= 1.0)")


if __name__ == "__main__":
    main()
