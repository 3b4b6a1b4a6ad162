"""Adversarial attacks ``attack(x, y) -> x_adv`` on models of [0, 1] images, and the attack registry."""

from __future__ import annotations

from typing import Any

from torch import nn

from icml22dl.attacks.acg import ACG, conjugate_beta
from icml22dl.attacks.apgd import APGD
from icml22dl.attacks.base import AttackResult, StepSizeAttack, checkpoint_iterations
from icml22dl.attacks.checks import (
    AttackSanityWarning,
    check_input_range,
    check_logits,
    check_randomized,
    check_zero_gradients,
)
from icml22dl.attacks.diversity import clustering_coefficient, diversity_index, pairwise_distances
from icml22dl.attacks.evaluate import evaluate_attacks
from icml22dl.attacks.losses import ce_loss, cw_loss, dlr_loss
from icml22dl.attacks.pgd import pgd_l2
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
    "cw_loss",
    "diversity_index",
    "dlr_loss",
    "evaluate_attacks",
    "get_attack",
    "list_attacks",
    "pairwise_distances",
    "pgd_l2",
    "register_attack",
]


def _check_attack(cls: type) -> None:
    if not callable(cls):
        raise ValueError(f"attack must be a callable building an attack, got {cls!r}")


ATTACKS: Registry[type] = Registry("attack", _check_attack)
register_attack = ATTACKS.register
list_attacks = ATTACKS.list


def get_attack(name: str, model: nn.Module, **kwargs: Any) -> StepSizeAttack:
    """Build the attack registered as ``name`` on ``model`` (``get_attack("acg", model, eps=0.3)``)."""
    return ATTACKS.get(name)(model, **kwargs)


register_attack("apgd", APGD)
register_attack("acg", ACG)
