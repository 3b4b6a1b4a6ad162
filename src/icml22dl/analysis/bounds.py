r"""Expected-stability generalisation bounds for EFLD (Banerjee et al., ICML 2022) and Li et al. (2020).

Derivation of the form and of the constant (the paper's own constant is not resolved here;
see ``EFLDBound``'s ``constant``). Write :math:`S` and :math:`S'` for training sets that differ
in the last example (:math:`z_n` vs a fresh :math:`z'_n`), :math:`p, q` for the laws of the
trajectories :math:`W_{0:T}` trained on them, batch size :math:`b`, :math:`\gamma = b/n`.

1. Loss in [0, 1]: for :math:`f \in [0,1]`,
   :math:`|\int f (p-q)| \le \tfrac12\int|p-q| \le \tfrac12\sqrt{\int\frac{(p-q)^2}{p+q}}\sqrt{\int(p+q)}
   = \sqrt{\mathrm{LC}(p,q)/2}` (Cauchy-Schwarz; LC is the Le Cam divergence).
2. :math:`\mathrm{LC} \le 2H^2 \le 2\,\mathrm{KL}` (with :math:`H^2=\int(\sqrt p-\sqrt q)^2`,
   since :math:`(\sqrt p+\sqrt q)^2 \le 2(p+q)`), and KL obeys the chain rule over the trajectory:
   :math:`\mathrm{KL}(p\|q) = \sum_t E\,\mathrm{KL}(p_t\|q_t)`, where :math:`p_t, q_t` are the
   laws of step :math:`t` given the same :math:`w_{t-1}`.
3. Batch mixture: :math:`p_t = (1-\gamma) r_t + \gamma s_t`, :math:`q_t = (1-\gamma) r_t + \gamma s'_t`
   (index :math:`n` in the batch with probability :math:`\gamma`), so :math:`p_t - q_t = \gamma (s_t - s'_t)`
   and :math:`\mathrm{KL}(p_t\|q_t) \le \chi^2(p_t\|q_t) = \gamma^2\int (s_t-s'_t)^2/q_t`.
   The small-step (temperature) condition of the theorem is what makes :math:`q_t` comparable to
   :math:`s'_t`, giving :math:`\chi^2(p_t\|q_t) \le \kappa\,\gamma^2\,\chi^2(s_t\|s'_t)`, and for an
   exponential family whose natural parameters differ by
   :math:`\Delta\theta_t = \alpha_t(\nabla\ell(w, z_n) - \nabla\ell(w, z'_n))/b`,
   :math:`\chi^2(s_t\|s'_t) \approx \|\Delta\theta_t\|^2_{\nabla^2\psi}` to leading order (exactly
   :math:`e^{\|\Delta\theta\|^2} - 1` for the Gaussian), :math:`\le \|\Delta\theta_t\|^2` when
   :math:`\nabla^2\psi \preceq I`.
4. Together: :math:`|E_W\,\mathrm{gen}| \le \sqrt{\kappa\sum_t\gamma^2\alpha_t^2\|\Delta_t\|^2/b^2}
   = \frac{\sqrt\kappa}{n}\sqrt{\sum_t\alpha_t^2\|\Delta_t\|^2}`, then the expectation over
   :math:`S, z_n, z'_n` taken outside the root: :math:`E[\mathrm{gen}] \le \frac{c}{n}
   E\sqrt{\sum_t \alpha_t^2 \|\nabla\ell(w_{t-1},z)-\nabla\ell(w_{t-1},z')\|^2}` with :math:`c = \sqrt\kappa`.

Candidate constants: :math:`c = 1` (:math:`\kappa = 1`, the leading-order limit of step 3);
:math:`c = \sqrt{20}` (the third-party SGLD code's choice, this library's default). The Li et al.
(2020) gradient-norm bound :math:`\frac{c_{Li}}{n}\sqrt{\sum_t \alpha_t^2 E\|\nabla\ell(w_{t-1},z)\|^2}`
is computed from the same per-example gradients with :math:`c_{Li} = 8.12` (Li et al., 2020) or
:math:`8.12/\sqrt2` (third party). The step-size condition is checked as
:math:`\alpha_t \max_i\|\Delta_{t,i}\|/b \le` ``max_shift`` (default 1, where :math:`e^x - 1 \le 1.72x`);
a violation warns.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from icml22dl.validation import check_int, check_positive

__all__ = ["EFLDBound", "efld_bound", "efld_bound_trajectory", "li_bound", "per_sample_grads"]

LossFn = Callable[[Tensor, Tensor], Tensor]


def per_sample_grads(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
    """Per-example gradients of ``loss_fn(model(x_i), y_i)`` w.r.t. the trainable parameters.

    Computed with ``torch.func.vmap(grad(...))``; buffers are used as they are (no batch statistics
    are updated: evaluate models with batch norm in ``eval()`` mode).

    Args:
        model: The network.
        loss_fn: ``loss_fn(output, target) -> scalar``, applied to one example (batch of one).
        x: Inputs, shape (B, ...).
        y: Targets, shape (B, ...).

    Returns:
        Tensor (B, P): each row the flattened gradient (parameter order of ``named_parameters``).

    Example:
        >>> net, x, y = torch.nn.Linear(3, 2), torch.randn(5, 3), torch.randint(0, 2, (5,))
        >>> g = per_sample_grads(net, torch.nn.functional.cross_entropy, x, y)
        >>> g.shape  # 5 examples, 2 * 3 + 2 parameters
        torch.Size([5, 8])
        >>> torch.nn.functional.cross_entropy(net(x[:1]), y[:1]).backward()
        >>> torch.allclose(g[0, :6], net.weight.grad.flatten(), atol=1e-6)
        True

    References:
        ``torch.func`` per-sample gradients (``vmap`` over ``grad``); used for the EFLD bound of
        Banerjee et al., ICML 2022 (the gradient discrepancy of a pair of examples).
    """
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def one(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    grads = vmap(grad(one), in_dims=(None, 0, 0))(params, x, y)
    return torch.cat([g.reshape(x.shape[0], -1) for g in grads.values()], dim=1)


def efld_bound(discrepancy_sums: Tensor, n: int, constant: float = math.sqrt(20.0)) -> float:
    r"""The EFLD bound :math:`\frac{c}{n}\,\mathrm{mean}_i\sqrt{S_i}` from accumulated sums.

    Args:
        discrepancy_sums: :math:`S_i = \sum_t \alpha_t^2\|\nabla\ell(w_{t-1}, z_i)-\nabla\ell(w_{t-1}, z'_i)\|^2`,
            one per pair (K,).
        n: Training-set size (> 0).
        constant: :math:`c > 0`.

    Returns:
        The bound (a float).

    Example:
        >>> round(efld_bound(torch.tensor([4.0, 16.0]), n=10, constant=1.0), 12)  # (1/10) * mean(2, 4)
        0.3

    References:
        Banerjee et al., ICML 2022, main theorem (the expectation over pairs outside the root;
        see the module docstring for the constant).
    """
    _validate_n_c(n, constant)
    return constant / n * discrepancy_sums.clamp_min(0).sqrt().mean().item()


def li_bound(grad_norm_sum: float, n: int, constant: float = 8.12) -> float:
    r"""Li et al. (2020): :math:`\frac{c}{n}\sqrt{\sum_t \alpha_t^2 E_z\|\nabla\ell(w_{t-1}, z)\|^2}`.

    Args:
        grad_norm_sum: :math:`\sum_t \alpha_t^2 E_z\|\nabla\ell(w_{t-1},z)\|^2` (>= 0).
        n: Training-set size.
        constant: :math:`c`, 8.12 by default (Li et al., 2020; the third party uses 8.12/sqrt(2)).

    Returns:
        The bound (a float).

    Example:
        >>> round(li_bound(9.0, n=10, constant=1.0), 12)
        0.3

    References:
        J. Li, X. Luo, M. Qiao. On generalization error bounds of noisy gradient methods for
        non-convex learning. ICLR 2020 (the gradient-norm bound for SGLD).
    """
    _validate_n_c(n, constant)
    return constant / n * math.sqrt(max(float(grad_norm_sum), 0.0))


def _validate_n_c(n: int, constant: float, name: str = "constant") -> None:
    check_int("n", n, low=1)
    check_positive(name, constant)


class EFLDBound:
    r"""Streaming estimator of the EFLD expected-stability bound along a training run.

    Call :meth:`update` with :math:`\alpha_t` **before** each optimizer step (the gradients are
    taken at :math:`w_{t-1}`). For SGLD, :math:`\alpha_t = \eta'_t/\sigma_t = 1/` ``std_coef``;
    for noisy sign / quantised SGD it is the optimizer's ``alpha``. Per step it computes the
    per-example gradients of the K pairs (:math:`z_i \in S`, :math:`z'_i` held out) and adds
    :math:`\alpha_t^2\|g(z_i)-g(z'_i)\|^2` to :math:`S_i`, and :math:`\alpha_t^2\,\mathrm{mean}_i\|g(z_i)\|^2`
    to the Li et al. sum. The Euclidean norm upper-bounds :math:`\|\cdot\|_{\nabla^2\psi}` when
    :math:`\nabla^2\psi \preceq` ``curvature`` :math:`\cdot I` (1 for Gaussian, sign and the unit
    grid; :math:`r^2` for a grid of radius :math:`r`). See the module docstring for the derivation.

    Args:
        model: The network being trained (its current parameters are read).
        loss_fn: Per-example training loss ``loss_fn(output, target)``.
        pairs: ``(x_in, y_in, x_out, y_out)``: K training examples and K fresh ones.
        n: Training-set size.
        constant: :math:`c` of the EFLD bound (default :math:`\sqrt{20}`, docs/papers/efld.md#defaults).
        li_constant: :math:`c_{Li}` (default 8.12, Li et al., 2020).
        curvature: Bound on :math:`\nabla^2\psi` (>= 0).
        batch_size: b, for the step-size condition (None: not checked).
        max_shift: Largest allowed :math:`\alpha\|\Delta\|/b` before a warning.

    Example:
        >>> model = torch.nn.Linear(3, 2)
        >>> pairs = (torch.randn(4, 3), torch.randint(0, 2, (4,)), torch.randn(4, 3), torch.randint(0, 2, (4,)))
        >>> bound = EFLDBound(model, torch.nn.functional.cross_entropy, pairs, n=100)
        >>> bound.update(alpha=2.0); bound.value() > 0, bound.steps
        (True, 1)

    References:
        Banerjee et al., ICML 2022, main theorem (EFLD expected stability, O(1/n)); Li, Luo, Qiao,
        ICLR 2020 (gradient-norm bound for SGLD).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        pairs: tuple[Tensor, Tensor, Tensor, Tensor],
        n: int,
        constant: float = math.sqrt(20.0),
        li_constant: float = 8.12,
        curvature: float = 1.0,
        batch_size: int | None = None,
        max_shift: float = 1.0,
    ) -> None:
        _validate_n_c(n, constant)
        _validate_n_c(n, li_constant, "li_constant")
        check_positive("curvature", curvature, allow_zero=True)
        x_in, y_in, x_out, y_out = pairs
        if len(x_in) != len(x_out) or len(x_in) == 0:
            raise ValueError(f"pairs must hold K > 0 examples on each side, got {len(x_in)} and {len(x_out)}")
        self.model, self.loss_fn, self.n = model, loss_fn, n
        self.constant, self.li_constant, self.curvature = constant, li_constant, curvature
        self.batch_size, self.max_shift = batch_size, max_shift
        self._x = torch.cat([x_in, x_out])
        self._y = torch.cat([y_in, y_out])
        self.k = len(x_in)
        self.discrepancy = torch.zeros(self.k, dtype=torch.float64, device=x_in.device)
        self.li_sum = 0.0
        self.steps = 0
        self.condition_violations = 0

    def update(self, alpha: float) -> None:
        """Accumulate step t's terms at the model's current parameters (call before the step).

        Args:
            alpha: :math:`\\alpha_t \\in (0, \\infty)` (``std_coef = 0`` has no finite alpha: rejected).
        """
        check_positive("alpha", alpha)  # std_coef = 0 (alpha = inf) makes the bound undefined
        g = per_sample_grads(self.model, self.loss_fn, self._x, self._y)
        # Row sums in the gradients' dtype (float64 accumulation of the (2K, P) matrix is ~10x slower
        # on CPU), accumulated over steps in float64.
        diff = (g[: self.k] - g[self.k :]).square_().sum(1).double()
        self.discrepancy += self.curvature * alpha**2 * diff
        self.li_sum += alpha**2 * g[: self.k].square().sum(1).double().mean().item()
        self.steps += 1
        if self.batch_size is not None:
            shift = alpha * diff.max().sqrt().item() / self.batch_size
            if shift > self.max_shift:
                self.condition_violations += 1
                if self.condition_violations == 1:
                    warnings.warn(
                        f"EFLD step-size condition fails at step {self.steps}: alpha*|Delta|/b = "
                        f"{shift:.3g} > {self.max_shift}",
                        stacklevel=2,
                    )

    def value(self, constant: float | None = None) -> float:
        """The EFLD bound so far, :math:`(c/n)\\,\\mathrm{mean}_i\\sqrt{S_i}` (``constant`` overrides c)."""
        return efld_bound(self.discrepancy, self.n, self.constant if constant is None else constant)

    def li_value(self, constant: float | None = None) -> float:
        """The Li et al. gradient-norm bound so far (``constant`` overrides :math:`c_{Li}`)."""
        return li_bound(self.li_sum, self.n, self.li_constant if constant is None else constant)


def efld_bound_trajectory(
    model: nn.Module,
    loss_fn: LossFn,
    trajectory: Iterable[Mapping[str, Tensor]],
    alphas: Iterable[float],
    pairs: tuple[Tensor, Tensor, Tensor, Tensor],
    n: int,
    **kwargs: Any,
) -> dict[str, float]:
    r"""The EFLD and Li et al. bounds of a stored trajectory :math:`w_0, \dots, w_{T-1}`.

    Args:
        model: A module of the trained architecture (its parameters are overwritten).
        loss_fn: Per-example loss.
        trajectory: Parameter dicts (``state_dict``-like) at :math:`w_0, \dots, w_{T-1}`.
        alphas: :math:`\alpha_1, \dots, \alpha_T`.
        pairs, n, kwargs: As in :class:`EFLDBound`.

    Returns:
        ``{"efld": ..., "li": ..., "steps": T}``.

    Example:
        >>> model = torch.nn.Linear(2, 2)
        >>> pairs = (torch.randn(3, 2), torch.tensor([0, 1, 0]), torch.randn(3, 2), torch.tensor([1, 1, 0]))
        >>> w = {k: v.clone() for k, v in model.state_dict().items()}
        >>> out = efld_bound_trajectory(model, torch.nn.functional.cross_entropy, [w, w], [1.0, 1.0], pairs, n=50)
        >>> out["steps"], out["efld"] > 0
        (2.0, True)

    References:
        Banerjee et al., ICML 2022, main theorem; the same estimate as :class:`EFLDBound`, from
        stored weights.
    """
    bound = EFLDBound(model, loss_fn, pairs, n, **kwargs)
    for weights, alpha in zip(trajectory, alphas, strict=True):
        model.load_state_dict(weights, strict=False)
        bound.update(alpha)
    return {"efld": bound.value(), "li": bound.li_value(), "steps": float(bound.steps)}
