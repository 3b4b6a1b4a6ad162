"""Projected gradient ascent in l2 (PGD-l2) on the logit margin, for certificate soundness checks."""

from __future__ import annotations

import torch
from torch import nn


def pgd_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 50,
    step_size: float | None = None,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """An l2 attack of radius ``eps``: normalised-gradient ascent on the margin loss
    max_{j != y} f_j - f_y, projected onto the l2 ball (no box constraint: a certificate holds
    on the whole ball). Returns the perturbed inputs of the best restart per example (the
    lowest margin).

    Args:
        model: classifier; x: inputs (B, ...); y: labels; eps: radius (> 0); steps: iterations;
        step_size: defaults to eps/4 (official KW-Large eval); restarts: random starts (the
        first starts at x); generator: torch generator of the random starts.

    References:
        Madry et al. (2018); Su et al., ICML 2022 official eval (PGD-l2, 10 steps, step eps/4).
    """
    if not eps > 0:
        raise ValueError(f"eps={eps} must be > 0")
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps={steps} and restarts={restarts} must be >= 1")
    step_size = eps / 4 if step_size is None else step_size
    dims = (-1,) + (1,) * (x.ndim - 1)

    def margin(z: torch.Tensor) -> torch.Tensor:
        logits = model(z)
        correct = logits.gather(1, y[:, None])[:, 0]
        return logits.scatter(1, y[:, None], float("-inf")).max(dim=1).values - correct

    best, best_margin = x.clone(), None
    for restart in range(restarts):
        delta = torch.zeros_like(x)
        if restart:
            delta = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            delta = delta / delta.flatten(1).norm(dim=1).view(dims) * eps
        for _ in range(steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(margin(x + delta).sum(), delta)
            with torch.no_grad():
                grad = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(dims)
                delta = delta + step_size * grad
                delta = delta * (eps / delta.flatten(1).norm(dim=1).clamp_min(eps)).view(dims)
        with torch.no_grad():
            m = margin(x + delta)
            if best_margin is None:
                best, best_margin = x + delta, m
            else:
                better = m > best_margin
                best[better], best_margin = (x + delta)[better], torch.maximum(m, best_margin)
    return best.detach()


__all__ = ["pgd_l2"]
