"""Per-sample attack losses on logits: cross-entropy, Carlini-Wagner margin and DLR.

Every loss is *maximised* by the attacks and returns one value per sample. With a
``target`` the targeted variant is returned (also to be maximised).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["ATTACK_LOSSES", "LOSS_FUNCTIONS", "ce_loss", "cw_loss", "dlr_loss"]

ATTACK_LOSSES = ("ce", "cw", "dlr")


def _check(logits: Tensor, labels: Tensor) -> None:
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must have shape (batch, classes >= 2), got {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")


def cw_loss(logits: Tensor, labels: Tensor, target: Tensor | None = None) -> Tensor:
    """Carlini-Wagner margin: ``max_{j != y} z_j - z_y`` (> 0 iff misclassified).

    Targeted (``target`` = t): ``z_t - max_{j != t} z_j`` (> 0 iff classified as t).

    Args:
        logits: (batch, classes).
        labels: (batch,) true classes.
        target: optional (batch,) target classes.

    Returns:
        (batch,) margins.

    Example:
        >>> import torch
        >>> cw_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([0]))
        tensor([-1.])

    References:
        Carlini & Wagner (2017); the default loss of ACG (Yamamura et al., ICML 2022, official yaml).
    """
    _check(logits, labels)
    cls = labels if target is None else target
    own = logits.gather(1, cls[:, None]).squeeze(1)
    other = logits.masked_fill(F.one_hot(cls, logits.shape[1]).bool(), float("-inf")).amax(dim=1)
    return other - own if target is None else own - other


def ce_loss(logits: Tensor, labels: Tensor, target: Tensor | None = None) -> Tensor:
    """Cross-entropy ``-log softmax(z)_y``; targeted: ``+log softmax(z)_t`` (AutoAttack's ``ce-targeted``).

    Args:
        logits: (batch, classes).
        labels: (batch,) true classes.
        target: optional (batch,) target classes.

    Returns:
        (batch,) losses to maximise.

    Example:
        >>> import torch
        >>> ce_loss(torch.zeros(1, 4), torch.tensor([2]))  # uniform logits: log 4
        tensor([1.3863])

    References:
        Croce & Hein, ICML 2020 (APGD-CE); official ``fra31/auto-attack`` (``ce`` and
        ``ce-targeted`` losses of ``APGDAttack``).
    """
    _check(logits, labels)
    if target is None:
        return F.cross_entropy(logits, labels, reduction="none")
    return -F.cross_entropy(logits, target, reduction="none")


def dlr_loss(logits: Tensor, labels: Tensor, target: Tensor | None = None) -> Tensor:
    """Difference of logits ratio (Croce & Hein, 2020, Eq. 6 and its targeted form).

    Untargeted: ``-(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12)``; targeted:
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)``, with ``z_pi`` the sorted logits
    (decreasing). The targeted form needs at least 4 classes, the untargeted 3.

    Args:
        logits: (batch, classes).
        labels: (batch,) true classes.
        target: optional (batch,) target classes.

    Returns:
        (batch,) losses to maximise.

    Example:
        >>> import torch
        >>> dlr_loss(torch.tensor([[3.0, 1.0, 2.0, 0.0]]), torch.tensor([0]))  # -(3 - 2) / (3 - 1)
        tensor([-0.5000])

    References:
        Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
        parameter-free attacks", ICML 2020, Eq. (6) and Sec. 4 (targeted DLR); official
        ``fra31/auto-attack`` ``dlr_loss`` (denominator ``+ 1e-12``).
    """
    _check(logits, labels)
    need = 3 if target is None else 4
    if logits.shape[1] < need:
        raise ValueError(f"dlr loss needs at least {need} classes, got {logits.shape[1]}")
    ordered, order = logits.sort(dim=1)
    z_y = logits.gather(1, labels[:, None]).squeeze(1)
    if target is None:
        top_is_y = (order[:, -1] == labels).to(logits.dtype)
        runner_up = ordered[:, -2] * top_is_y + ordered[:, -1] * (1.0 - top_is_y)
        return -(z_y - runner_up) / (ordered[:, -1] - ordered[:, -3] + 1e-12)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12)


LOSS_FUNCTIONS = {"ce": ce_loss, "cw": cw_loss, "dlr": dlr_loss}
