"""Runtime sanity checks in the spirit of AutoAttack's ``checks.py``: they warn, never raise.

A gradient-based robustness number is unreliable when the model is randomised, when some
inputs have zero gradient (masking), when the inputs are not images in [0, 1], or when the
model returns probabilities instead of logits. Each check returns whether it warned.

References:
    Croce & Hein, ICML 2020; official ``fra31/auto-attack`` ``checks.py`` (randomised
    defence, zero gradients, softmax outputs, input range).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

__all__ = [
    "AttackSanityWarning",
    "check_input_range",
    "check_logits",
    "check_randomized",
    "check_zero_gradients",
]


class AttackSanityWarning(UserWarning):
    """A condition under which a gradient-based robustness evaluation may be unreliable.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = check_input_range(torch.tensor([2.0]))
        >>> caught[0].category.__name__
        'AttackSanityWarning'

    References:
        AutoAttack's warnings (official ``fra31/auto-attack``, ``checks.py``).
    """


def check_input_range(x: Tensor) -> bool:
    """Warn if ``x`` leaves [0, 1] (the attacks assume images in [0, 1]).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     check_input_range(torch.tensor([-0.5, 0.5])), check_input_range(torch.tensor([0.0, 1.0]))
        (True, False)

    References:
        AutoAttack's input-range check (official ``fra31/auto-attack``, ``checks.py``).
    """
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        warnings.warn(
            f"inputs span [{low:.4g}, {high:.4g}], outside [0, 1]: the attacks clip to [0, 1], so "
            "normalise inside the model, not before the attack",
            AttackSanityWarning,
            stacklevel=3,
        )
        return True
    return False


@torch.no_grad()
def check_randomized(model: nn.Module, x: Tensor, repeats: int = 2, tol: float = 1e-4) -> bool:
    """Warn if ``repeats`` forward passes on ``x`` (in the model's current mode) disagree by more than ``tol``.

    AutoAttack: 'it seems to be a randomized defense'; such models need EOT (not implemented here).

    Example:
        >>> check_randomized(nn.Identity(), torch.zeros(2, 3))
        False

    References:
        AutoAttack's ``check_randomized`` (official ``fra31/auto-attack``, ``checks.py``).
    """
    outputs = [model(x) for _ in range(repeats)]
    spread = max(float((o - outputs[0]).abs().max()) for o in outputs[1:])
    if spread > tol:
        warnings.warn(
            f"two forward passes on the same input differ by {spread:.3g}: the model looks randomised, "
            "so a single-sample gradient attack may overestimate robustness",
            AttackSanityWarning,
            stacklevel=3,
        )
        return True
    return False


def check_logits(logits: Tensor, tol: float = 1e-5) -> bool:
    """Warn if the outputs look like probabilities (rows in [0, 1] summing to 1) rather than logits.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     check_logits(torch.tensor([[0.25, 0.75]])), check_logits(torch.tensor([[2.0, -1.0]]))
        (True, False)

    References:
        AutoAttack's softmax-output check (official ``fra31/auto-attack``, ``checks.py``).
    """
    if (
        logits.numel()
        and float(logits.min()) > -tol
        and float(logits.max()) < 1 + tol
        and bool(((logits.sum(dim=-1) - 1).abs() < tol).all())
    ):
        warnings.warn(
            "the model's outputs look like probabilities: attack the logits", AttackSanityWarning, stacklevel=3
        )
        return True
    return False


def check_zero_gradients(grad: Tensor) -> bool:
    """Warn if any sample's input gradient is exactly zero (gradient masking or saturated loss).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     check_zero_gradients(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        True

    References:
        AutoAttack's zero-gradient check (official ``fra31/auto-attack``, ``checks.py``).
    """
    zero = int((grad.flatten(1).abs().sum(dim=1) == 0).sum())
    if zero:
        warnings.warn(
            f"{zero} of {grad.shape[0]} points have an exactly zero input gradient: the gradient-based "
            "evaluation may be unreliable for them",
            AttackSanityWarning,
            stacklevel=3,
        )
        return True
    return False
