"""Auto-PGD (APGD): projected gradient ascent with momentum and an automatic step-size schedule."""

from __future__ import annotations

from torch import Tensor, nn

from icml22dl.attacks.base import StepSizeAttack
from icml22dl.validation import check_probability

__all__ = ["APGD"]


class APGD(StepSizeAttack):
    """Auto-PGD (Croce & Hein, ICML 2020), L-inf or L2, CE / CW / DLR loss, restarts, targeted loss.

    Math (maximise L within B = {z : ||z - x|| <= eps} cap [0, 1], projection P)::

        z_{k+1} = P(x_k + eta * sign(grad L(x_k)))          (L2: grad / ||grad||_2)
        x_{k+1} = P(x_k + a (z_{k+1} - x_k) + (1 - a)(x_k - x_{k-1})),  a = 1 at k = 0, then ``momentum``

    with the step-size schedule and best-point restore of :mod:`icml22dl.attacks.base`
    (APGD restores x and its gradient). Returns the misclassified visited point where one
    was found, else the best-loss point.

    Args:
        model: maps images in [0, 1] to logits; run in eval mode, its modes restored after.
        eps: radius of the ball (> 0).
        norm: ``"Linf"`` (default) or ``"L2"``.
        n_iter: iterations per restart (AutoAttack default 100).
        n_restarts: restarts (only unbroken points are re-attacked).
        loss: ``"cw"`` (default here), ``"ce"`` (AutoAttack's APGD-CE) or ``"dlr"``.
        momentum: a after the first step (0.75, the paper's alpha).
        rho: checkpoint threshold (0.75).
        init: ``"random"`` (AutoAttack's start, default), ``"center"`` or a tensor.
        seed: seed of the random starts.
        track_di: record the Diversity Index (see :func:`icml22dl.attacks.diversity_index`).
        checks: AutoAttack-style sanity checks (warnings).

    Returns:
        Calling the attack returns ``x_adv``; :meth:`run` returns an :class:`AttackResult`.

    Example:
        >>> import torch
        >>> model = nn.Linear(2, 2)  # logits = inputs: class 1 wins iff x_1 > x_0
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
        >>> x, y = torch.tensor([[0.6, 0.5]]), torch.tensor([0])
        >>> x_adv = APGD(model, eps=0.1, n_iter=10, loss="ce")(x, y)
        >>> model(x_adv).argmax(1).tolist(), bool((x_adv - x).abs().max() <= 0.1 + 1e-6)
        ([1], True)

    References:
        Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
        diverse parameter-free attacks", ICML 2020, Alg. 1; official ``fra31/auto-attack``
        (``APGDAttack``: n_iter 100, rho 0.75, step 2 eps, momentum 0.75).
    """

    name = "apgd"

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        *,
        norm: str = "Linf",
        n_iter: int = 100,
        n_restarts: int = 1,
        loss: str = "cw",
        momentum: float = 0.75,
        rho: float = 0.75,
        init: str | Tensor = "random",
        seed: int = 0,
        track_di: bool = False,
        di_points: int = 10,
        checks: bool = True,
    ) -> None:
        check_probability("momentum", momentum)
        super().__init__(
            model,
            eps,
            norm=norm,
            n_iter=n_iter,
            n_restarts=n_restarts,
            loss=loss,
            rho=rho,
            init=init,
            seed=seed,
            track_di=track_di,
            di_points=di_points,
            checks=checks,
        )
        self._momentum = float(momentum)
