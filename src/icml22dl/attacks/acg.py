"""Auto Conjugate Gradient attack (ACG): APGD's schedule with a conjugate-gradient direction."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from icml22dl.attacks.base import StepSizeAttack
from icml22dl.validation import check_choice

__all__ = ["ACG", "BETA_SIGNS", "NAN_POLICIES", "conjugate_beta"]

BETA_SIGNS = ("official", "textbook")
NAN_POLICIES = ("zero", "legacy")


def conjugate_beta(
    g: Tensor,
    g_prev: Tensor,
    s_prev: Tensor,
    *,
    beta_sign: str = "official",
    clamp_beta: bool = True,
    nan_policy: str = "zero",
) -> tuple[Tensor, Tensor]:
    """Per-sample Hestenes-Stiefel coefficient of ACG, and where its raw value was NaN.

    Math (flattened per sample, y = g - g_prev)::

        official: beta = <g, y> / <s_prev, y>       (paper, official code, ART, ReACG)
        textbook: beta = <g, y> / <s_prev, -y>      (HS for ascent: the negative)
        clamp:    beta <- max(beta, 0)              (torch.clamp keeps NaN)

    ``nan_policy="legacy"`` keeps 0/0 = NaN and x/0 = inf (official behaviour: NaN makes
    sign(s) = 0 and freezes the sample); ``"zero"`` sets beta = 0 where the denominator is 0
    or beta is not finite (steepest ascent for that step).

    Args:
        g, g_prev, s_prev: (batch, ...) current gradient, previous gradient, previous direction.
        beta_sign: ``"official"`` or ``"textbook"``.
        clamp_beta: clamp beta at 0 from below (official yaml: on).
        nan_policy: ``"zero"`` (ours) or ``"legacy"`` (official).

    Returns:
        ``(beta, raw_nan)``: (batch,) coefficients and a bool mask of raw NaN values.

    Example:
        >>> g, g_prev, s_prev = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
        >>> conjugate_beta(g, g_prev, s_prev)  # <g, g - g_prev> / <s_prev, g - g_prev> = 3 / 1
        (tensor([3.]), tensor([False]))

    References:
        Yamamura et al., ICML 2022, Eq. (HS) and Alg. 1; official ``yamamura-k/ACG`` (beta HS,
        clamp on, no epsilon in the denominator).
    """
    check_choice("beta_sign", beta_sign, BETA_SIGNS)
    check_choice("nan_policy", nan_policy, NAN_POLICIES)
    y = (g - g_prev).flatten(1)
    num = (g.flatten(1) * y).sum(dim=1)
    den = (s_prev.flatten(1) * y).sum(dim=1)
    beta = num / den
    raw_nan = torch.isnan(beta)
    if beta_sign == "textbook":
        beta = -beta
    if nan_policy == "zero":
        beta = torch.where((den == 0) | ~torch.isfinite(beta), torch.zeros_like(beta), beta)
    if clamp_beta:
        beta = torch.clamp(beta, min=0.0)
    return beta, raw_nan


class ACG(StepSizeAttack):
    """Auto Conjugate Gradient attack (Yamamura et al., ICML 2022), L-inf or L2.

    Math: APGD's loop with momentum 1 and the search direction
    ``s_k = g_k + beta_k s_{k-1}`` (``s_0 = g_0``), ``beta_k`` from :func:`conjugate_beta`;
    ``x_{k+1} = P(x_k + eta * sign(s_k))`` (L2: ``s / ||s||``). At a step-size halving the
    sample returns to its best point together with the gradient there, the gradient before
    it and the direction that led to it (full CG restore). Start ``center`` = midpoint of
    the box [clip(x - eps), clip(x + eps)]; restarts uniform in the box, seeded per sample.

    Args:
        model: maps images in [0, 1] to logits; run in eval mode, its modes restored after.
        eps: radius (> 0); official: 8/255 CIFAR, 4/255 ImageNet.
        norm: ``"Linf"`` (default) or ``"L2"``.
        n_iter: iterations per restart (100).
        n_restarts: restarts (official evaluator: 1 and 5).
        loss: ``"cw"`` (official default), ``"ce"`` or ``"dlr"``.
        rho: checkpoint threshold (0.75).
        init: ``"center"`` (official), ``"random"`` (AutoAttack's draw) or a tensor.
        beta_sign: ``"official"`` (default) or ``"textbook"``.
        clamp_beta: clamp beta >= 0 (official yaml: on; ReACG's "paper settings": off).
        nan_policy: ``"zero"`` (default: beta = 0 on a zero denominator) or ``"legacy"``
            (official: NaN freezes the sample until a restore).
        seed: seed of the restarts and random starts.
        track_di: record the Diversity Index of the last ``di_points`` iterates.
        checks: AutoAttack-style sanity checks (warnings).

    Returns:
        Calling the attack returns ``x_adv``; :meth:`run` returns an :class:`AttackResult`
        (with ``beta_nan_count`` and ``diversity``).

    Example:
        >>> model = nn.Linear(2, 2)  # logits = inputs: class 1 wins iff x_1 > x_0
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
        >>> x, y = torch.tensor([[0.6, 0.5]]), torch.tensor([0])
        >>> result = ACG(model, eps=0.1, n_iter=10).run(x, y)
        >>> result.success.tolist(), result.n_forward_backward
        ([True], 11)

    References:
        Yamamura, Sato, Tateiwa, Hata, Mitsutake, Oe, Ishikura, Fujisawa, "Diversified
        Adversarial Attacks based on Conjugate Gradient Method", ICML 2022, Alg. 1;
        official ``yamamura-k/ACG`` yaml (CW, 100 iterations, rho 0.75, center start, clamp on).
    """

    name = "acg"
    _conjugate = True

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        *,
        norm: str = "Linf",
        n_iter: int = 100,
        n_restarts: int = 1,
        loss: str = "cw",
        rho: float = 0.75,
        init: str | Tensor = "center",
        beta_sign: str = "official",
        clamp_beta: bool = True,
        nan_policy: str = "zero",
        seed: int = 0,
        track_di: bool = False,
        di_points: int = 10,
        checks: bool = True,
    ) -> None:
        check_choice("beta_sign", beta_sign, BETA_SIGNS)
        check_choice("nan_policy", nan_policy, NAN_POLICIES)
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
        self.beta_sign, self.clamp_beta, self.nan_policy = beta_sign, bool(clamp_beta), nan_policy

    def _conjugate_direction(self, g: Tensor, g_prev: Tensor, s_prev: Tensor) -> tuple[Tensor, Tensor]:
        beta, nan = conjugate_beta(
            g, g_prev, s_prev, beta_sign=self.beta_sign, clamp_beta=self.clamp_beta, nan_policy=self.nan_policy
        )
        return g + beta.view(-1, *([1] * (g.ndim - 1))) * s_prev, nan
