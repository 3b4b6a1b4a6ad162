"""Adversarial attacks on models of [0, 1] images, and the attack registry.

APGD and ACG are classes built on a model and called as ``attack(x, y) -> x_adv``; the PGD
functions take the model first, ``pgd_linf(model, x, y, eps, ...) -> x_adv``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from icml22dl.attacks.acg import ACG, conjugate_beta
from icml22dl.attacks.apgd import APGD
from icml22dl.attacks.base import AttackResult, StepSizeAttack, checkpoint_iterations, random_start
from icml22dl.attacks.checks import (
    AttackSanityWarning,
    check_input_range,
    check_logits,
    check_randomized,
    check_zero_gradients,
)
from icml22dl.attacks.diversity import clustering_coefficient, diversity_index, pairwise_distances
from icml22dl.attacks.evaluate import correct_mask, evaluate_attacks
from icml22dl.attacks.losses import ce_loss, cw_loss, dlr_loss
from icml22dl.attacks.pgd import pgd_l2, pgd_linf
from icml22dl.registry import Registry

__all__ = [
    "ACG",
    "APGD",
    "ATTACKS",
    "AttackResult",
    "AttackSanityWarning",
    "StepSizeAttack",
    "ce_loss",
    "check_input_range",
    "check_logits",
    "check_randomized",
    "check_zero_gradients",
    "checkpoint_iterations",
    "clustering_coefficient",
    "conjugate_beta",
    "correct_mask",
    "cw_loss",
    "diversity_index",
    "dlr_loss",
    "evaluate_attacks",
    "get_attack",
    "list_attacks",
    "pairwise_distances",
    "pgd_l2",
    "pgd_linf",
    "random_start",
    "register_attack",
]


def _check_attack(cls: type) -> None:
    if not callable(cls):
        raise ValueError(f"attack must be a callable building an attack, got {cls!r}")


ATTACKS: Registry[type] = Registry("attack", _check_attack)
register_attack = ATTACKS.register
list_attacks = ATTACKS.list


def get_attack(name: str, model: nn.Module, **kwargs: Any) -> StepSizeAttack:
    """Build the attack registered as ``name`` on ``model``.

    References:
        The registry pattern of :class:`icml22dl.registry.Registry`; the attacks follow the
        ``attack(model, x, y) -> x_adv`` interface of ``icml22dl.attacks``.

    Example:
        >>> type(get_attack("acg", nn.Linear(2, 2), eps=0.3)).__name__
        'ACG'
    """
    return ATTACKS.get(name)(model, **kwargs)


register_attack("apgd", APGD)
register_attack("acg", ACG)
