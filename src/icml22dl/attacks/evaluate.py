"""Robust accuracy and attack success rate of several attacks on one model, and their worst case."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from icml22dl.attacks.base import NORMS
from icml22dl.validation import check_choice, check_int

__all__ = ["AttackFn", "correct_mask", "evaluate_attacks"]

AttackFn = Callable[[Tensor, Tensor], Tensor]


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    return torch.cat([model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])


def correct_mask(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 500) -> Tensor:
    """Which points the model classifies correctly: ``argmax f(x_i) == y_i``, in batches, without gradients.

    The attacks are run on the clean-correct points only (a point misclassified at ``x`` is
    broken already); the model is used in its current mode. The batch size is part of the
    result's float rounding (a near-tie between two logits can resolve differently in a
    batch of another size), so keep it fixed where the selection must be reproducible.

    Args:
        model: maps inputs to logits.
        x, y: inputs and labels.
        batch_size: points per forward pass (>= 1).

    Returns:
        (N,) bool mask.

    Example:
        >>> model = nn.Identity()  # logits = inputs
        >>> correct_mask(model, torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        tensor([ True, False])

    References:
        Croce & Hein, ICML 2020 (AutoAttack attacks only the initially correct points);
        Yamamura et al., ICML 2022, Sec. 5 (ASR over the clean-correct points).
    """
    check_int("batch_size", batch_size, low=1)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    return _predict(model, x, batch_size) == y


def evaluate_attacks(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attacks: Mapping[str, AttackFn],
    *,
    eps: float | None = None,
    norm: str = "Linf",
    batch_size: int = 500,
) -> dict[str, Any]:
    """Run each attack on ``(x, y)`` and report robust accuracy and attack success rate (ASR).

    Every adversarial batch is re-classified here (the attack's own bookkeeping is not
    trusted). ASR follows the ACG paper: the share of *all* points misclassified after the
    attack, clean errors included; ``asr_on_correct`` counts only clean-correct points.
    ``worst_case`` is the per-point union over attacks (a point is robust only if it
    survives every attack), as AutoAttack reports.

    Args:
        model: maps [0, 1] images to logits (evaluated in eval mode; modes restored).
        x, y: inputs in [0, 1] and labels.
        attacks: name -> ``attack(x, y) -> x_adv``.
        eps, norm: when given, the largest perturbation norm is checked against ``eps``
            (``ValueError`` naming the attack if it leaves the ball by more than 1e-6).
        batch_size: batch size of the clean and adversarial forward passes.

    Returns:
        ``{"n", "clean_accuracy", "per_attack": {name: {"robust_accuracy", "asr",
        "asr_on_correct", "n_broken", "max_perturbation"}}, "worst_case": {...}}``.

    Example:
        >>> from icml22dl.attacks import ACG, APGD
        >>> model = nn.Linear(2, 2)  # logits = inputs: class 1 wins iff x_1 > x_0
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
        >>> x, y = torch.tensor([[0.6, 0.5], [0.9, 0.1]]), torch.tensor([0, 0])
        >>> attacks = {"apgd": APGD(model, 0.1, n_iter=10), "acg": ACG(model, 0.1, n_iter=10)}
        >>> report = evaluate_attacks(model, x, y, attacks, eps=0.1)
        >>> report["clean_accuracy"], report["worst_case"]["robust_accuracy"]  # the first point flips
        (1.0, 0.5)

    References:
        Croce & Hein, ICML 2020 (AutoAttack's worst case over attacks); Yamamura et al., ICML
        2022, Sec. 5 (ASR over all points, clean errors included).
    """
    check_choice("norm", norm, NORMS)
    check_int("batch_size", batch_size, low=1)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        clean = _predict(model, x, batch_size) == y
        robust_all = clean.clone()
        per_attack: dict[str, dict[str, float]] = {}
        for name, attack in attacks.items():
            x_adv = attack(x, y)
            delta = (x_adv - x).flatten(1)
            size = delta.abs().amax(dim=1) if norm == "Linf" else delta.norm(dim=1)
            biggest = float(size.max()) if len(size) else 0.0
            if eps is not None and biggest > eps + 1e-6:
                raise ValueError(f"attack {name!r} left the {norm} ball: perturbation {biggest:.6g} > eps={eps}")
            if float(x_adv.min()) < 0.0 or float(x_adv.max()) > 1.0:
                raise ValueError(f"attack {name!r} left [0, 1]")
            robust = clean & (_predict(model, x_adv, batch_size) == y)
            robust_all &= robust
            per_attack[name] = _summary(clean, robust) | {"max_perturbation": biggest}
        return {
            "n": len(y),
            "clean_accuracy": float(clean.float().mean()),
            "per_attack": per_attack,
            "worst_case": _summary(clean, robust_all),
        }
    finally:
        for module, training in modes:
            module.training = training


def _summary(clean: Tensor, robust: Tensor) -> dict[str, float]:
    n_clean = int(clean.sum())
    broken = int((clean & ~robust).sum())
    return {
        "robust_accuracy": float(robust.float().mean()),
        "asr": 1.0 - float(robust.float().mean()),
        "asr_on_correct": broken / max(n_clean, 1),
        "n_broken": float(broken),
    }
