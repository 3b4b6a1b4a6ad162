"""SGILO: intermediate-layer optimisation guided by a score prior, sampled Langevin-style.

Split G = G2 o G1; ILO optimises h within an l1 ball. SGILO replaces the ball by a score
model s_theta of the codes and samples h, averaging the last iterates (an MMSE estimate):

* ``mode="faithful"`` (the official solver's rule): one Adam step on ||A G2(h) - y||^2,
  then the score nudge in normalised coordinates u~ = (h - shift) / scale:
  Delta = (beta(t0) / N) (u~ / 2 + s_theta(u~, t0)) (one Euler-Maruyama reverse-SDE step),
  h += lam * scale * Delta + temperature * xi. The data step is Adam-normalised and the
  score step is raw, so lam and temperature relate only loosely to a Langevin rule.
* ``mode="principled"``: explicit Langevin on the posterior,
  h <- h - eta (grad_h ||A G2(h) - y||^2 - lam s_h(h)) + sqrt(2 eta / beta) xi, with the
  score in h coordinates s_h(h) = s_theta(u~, t0) / scale.

References:
    Daras, Dagan, Dimakis, Daskalakis, "Score-Guided Intermediate Layer Optimization: Fast
    Langevin Mixing for Inverse Problems", ICML 2022, Sec. 4 (official
    ``configs/solve_inverse.yaml``: Adam lr 0.05, 300 steps per round, gen_temperature
    0.1 (tau), t0 = 0.01, noise temperature 0.025, min-max normalisation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from icml22dl.inverse.score import VPSDE, Normaliser, ScoreFn, em_reverse_step
from icml22dl.validation import check_choice, check_int, check_number

Operator = Callable[[torch.Tensor], torch.Tensor]
MODES = ("faithful", "principled")


@dataclass
class SGILOResult:
    """SGILO's output.

    Attributes:
        estimate: the posterior-mean image, the average of G2(h) over the last ``average``
            iterates (batch, n).
        variance: the per-pixel variance of G2(h) over those iterates (batch, n).
        code: the average code over those iterates (batch, d_h).
        last: the final code (batch, d_h).
        data_loss: ||A estimate - y||^2 per image.

    Example:
        >>> norm = Normaliser(torch.zeros(2), torch.ones(2))
        >>> r = sgilo(nn.Identity(), lambda x: x, torch.zeros(1, 2), torch.ones(1, 2), lambda u, t: -u, norm,
        ...           lam=0.0, temperature=0.0, steps=3, average=3)
        >>> r.estimate.shape, r.variance.shape, r.code.shape, r.last.shape, r.data_loss.shape
        (torch.Size([1, 2]), torch.Size([1, 2]), torch.Size([1, 2]), torch.Size([1, 2]), torch.Size([1]))

    References:
        SGILO (ICML 2022), Sec. 4: the posterior mean and variance from the last iterates.
    """

    estimate: torch.Tensor
    variance: torch.Tensor
    code: torch.Tensor
    last: torch.Tensor
    data_loss: torch.Tensor


def sgilo(
    G2: nn.Module,
    A: Operator,
    y: torch.Tensor,
    h0: torch.Tensor,
    score: ScoreFn,
    normaliser: Normaliser,
    mode: str = "faithful",
    lam: float = 0.1,
    t0: float = 0.01,
    steps: int = 300,
    lr: float = 0.05,
    temperature: float = 0.025,
    average: int = 150,
    eta: float = 1e-3,
    beta: float = math.inf,
    sde: VPSDE | None = None,
    generator: torch.Generator | None = None,
) -> SGILOResult:
    """Score-guided intermediate layer optimisation from the code h0, batched over images.

    Args:
        G2: h -> flat image.
        A: forward operator on batches.
        y: measurements (batch, m).
        h0: starting codes (batch, d_h), e.g. G1(z_CSGM).
        score: s_theta(u~, t) in normalised coordinates, t of shape (batch,).
        normaliser: the code normalisation the score model was trained in.
        mode: ``"faithful"`` (official rule) or ``"principled"`` (explicit Langevin).
        lam: weight of the score (faithful: tau, official 0.1; principled: lambda).
        t0: time at which the score is evaluated, in (0, 1] (official 0.01).
        steps: iterations (official 300 per round).
        lr: Adam learning rate of the data step (faithful; official 0.05).
        temperature: std of the added noise per step (faithful; official 0.025).
        average: number of final iterates averaged (1..steps).
        eta: Langevin step (principled).
        beta: inverse temperature (principled; inf: no noise, MAP-like).
        sde: the VP-SDE of the score model (default: official constants).
        generator: torch generator of the noise.

    Returns:
        :class:`SGILOResult`.

    Example:
        >>> G2 = nn.Identity(); A = lambda x: x; y = torch.zeros(2, 3)
        >>> norm = Normaliser(torch.zeros(3), torch.ones(3))
        >>> r = sgilo(G2, A, y, torch.ones(2, 3), lambda u, t: -u, norm, steps=5, average=2)
        >>> r.estimate.shape
        torch.Size([2, 3])

    References:
        SGILO (ICML 2022), Sec. 4 and official ``solve_inverse.py`` (the faithful rule; the
        principled mode is described in docs/papers/sgilo.md#method).
    """
    check_choice("mode", mode, MODES)
    check_int("steps", steps, low=1)
    check_int("average", average, low=1, high=steps)
    check_number("t0", t0, low=0.0, high=1.0, low_inclusive=False)
    check_number("lam", lam, low=0.0)
    check_number("temperature", temperature, low=0.0)
    if mode == "principled":
        check_number("eta", eta, low=0.0, low_inclusive=False)
        check_number("beta", beta, low=0.0, low_inclusive=False, finite=False)
    sde = VPSDE() if sde is None else sde
    h = h0.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([h], lr=lr) if mode == "faithful" else None
    sum_x = sum_x2 = sum_h = torch.zeros(())  # running sums over the last ``average`` iterates
    t_vec = torch.full((h.shape[0],), float(t0), dtype=h.dtype, device=h.device)
    for step in range(1, steps + 1):
        loss = (A(G2(h)) - y).pow(2).sum()
        (grad,) = torch.autograd.grad(loss, h)
        with torch.no_grad():
            u = normaliser(h)
            if mode == "faithful":
                h.grad = grad
                assert optimiser is not None
                optimiser.step()
                if lam > 0:
                    u = normaliser(h)
                    _, u_mean = em_reverse_step(score, u, t_vec, sde, noise=False)
                    h.add_(lam * normaliser.scale * (u_mean - u))
                if temperature > 0:
                    h.add_(temperature * torch.randn(h.shape, generator=generator, dtype=h.dtype, device=h.device))
            else:
                prior = score(u, t_vec) / normaliser.scale if lam > 0 else torch.zeros_like(h)
                h.sub_(eta * (grad - lam * prior))
                if not math.isinf(beta):
                    h.add_(
                        math.sqrt(2 * eta / beta)
                        * torch.randn(h.shape, generator=generator, dtype=h.dtype, device=h.device)
                    )
            if step > steps - average:
                x = G2(h)
                sum_x = sum_x + x
                sum_x2 = sum_x2 + x * x
                sum_h = sum_h + h.detach()
    with torch.no_grad():
        mean_x = sum_x / average
        var_x = (sum_x2 / average - mean_x * mean_x).clamp_min(0.0)
        return SGILOResult(mean_x, var_x, sum_h / average, h.detach(), (A(mean_x) - y).pow(2).sum(dim=-1))
