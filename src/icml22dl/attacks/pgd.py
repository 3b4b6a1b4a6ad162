"""Projected gradient descent attacks: L-inf PGD on the cross-entropy, and PGD-l2 on the logit margin.

Both follow the package's attack convention ``attack(model, x, y, ...) -> x_adv`` and draw
their random starts from the caller's generator only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from icml22dl.validation import check_int, check_number, check_positive

__all__ = ["pgd_l2", "pgd_linf"]


def pgd_linf(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-inf PGD on the cross-entropy from a uniform random start, in the [0, 1] box.

    Math: ``x_0 = clip(x + u)``, ``u ~ U[-eps, eps]^d``; then ``steps`` times
    ``x_{t+1} = clip_[0,1](P_{B(x, eps)}(x_t + alpha sign(grad_x CE(f(x_t), y))))``, with
    ``P`` the coordinate-wise projection onto the L-inf ball. ``steps=1`` with
    ``step_size = 1.25 eps`` is FGSM with a random start (Wong et al., 2020).

    The model is used in its current mode (put it in eval mode first for batch-norm nets);
    the uniform start is drawn on the CPU from ``generator`` (one ``torch.rand`` of
    ``x``'s shape, float32), then moved to ``x``'s device.

    Args:
        model: maps images in [0, 1] to logits.
        x: (B, ...) inputs in [0, 1].
        y: (B,) labels.
        eps: radius of the L-inf ball (> 0).
        steps: gradient-sign steps (>= 1).
        step_size: alpha; ``None`` gives Madry et al.'s ``2.5 eps / steps``.
        generator: the seeded generator of the random start.

    Returns:
        (B, ...) adversarial inputs, detached, within ``eps`` of ``x`` and in [0, 1].

    Example:
        >>> w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> model = lambda z: z @ w.T  # class 1 wins iff z_1 > z_0
        >>> x, y = torch.tensor([[0.6, 0.5]]), torch.tensor([0])
        >>> x_adv = pgd_linf(model, x, y, eps=0.1, steps=5, generator=torch.Generator().manual_seed(0))
        >>> x_adv  # the corner x + eps (-1, +1) of the ball
        tensor([[0.5000, 0.6000]])

    References:
        Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning Models Resistant to
        Adversarial Attacks", ICLR 2018, Sec. 2 (PGD with a uniform random start; MNIST:
        eps 0.3, 40 steps of 0.01; CIFAR-10: 8/255, 7 steps of 2/255); used for the
        adversarial training and the PGD-20 check of the ACG experiment
        (docs/papers/acg.md#defaults).
    """
    check_positive("eps", eps)
    check_int("steps", steps, low=1)
    step_size = 2.5 * eps / steps if step_size is None else step_size
    check_positive("step_size", step_size)
    if x.shape[:1] != y.shape:
        raise ValueError(f"x has {x.shape[0]} samples but y has shape {tuple(y.shape)}")
    delta = (torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1) * eps
    x_adv = (x + delta).clamp(0, 1)
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            grad = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)[0]
        x_adv = torch.minimum(torch.maximum(x_adv + step_size * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def pgd_l2(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 50,
    step_size: float | None = None,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """An l2 attack of radius ``eps``: normalised-gradient ascent on the logit margin, projected onto the ball.

    Math: the margin ``m(z) = max_{j != y} f_j(z) - f_y(z)`` is maximised by
    ``delta <- P(delta + alpha g / ||g||_2)``, ``P`` the projection onto ``||delta||_2 <= eps``
    (no box constraint: a certificate holds on the whole ball). Returns the perturbed
    inputs of the best restart per example (the highest final margin).

    Args:
        model: classifier.
        x: (B, ...) inputs.
        y: (B,) labels.
        eps: radius (> 0).
        steps: iterations (>= 1).
        step_size: alpha; defaults to ``eps / 4`` (official KW-Large evaluation).
        restarts: random starts (>= 1); the first starts at ``x``, the others on the sphere.
        generator: torch generator of the random starts.

    Returns:
        (B, ...) adversarial inputs, detached, within ``eps`` of ``x``.

    Example:
        >>> model = lambda z: z  # logits = inputs: class 1 wins iff z_1 > z_0
        >>> x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
        >>> x_adv = pgd_l2(model, x, y, eps=1.0, steps=20)
        >>> bool(model(x_adv).argmax() == 1), round(float((x_adv - x).norm()), 4)
        (True, 1.0)

    References:
        Madry et al. (ICLR 2018); Su, Byeon & Huang, ICML 2022, Sec. 6 and the official
        ``ortho_conv`` evaluation (PGD-l2, 10 steps of eps/4), used to check the
        certificates of the paraunitary networks (docs/papers/paraunitary.md#method).
    """
    check_positive("eps", eps)
    check_int("steps", steps, low=1)
    check_int("restarts", restarts, low=1)
    step_size = eps / 4 if step_size is None else step_size
    check_number("step_size", step_size, low=0.0, low_inclusive=False)
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
