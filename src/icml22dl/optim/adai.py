"""Adaptive Inertia: Adai, AdaiW and AdaiV2 (Xie et al., ICML 2022)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, overload

import torch
from torch import Tensor
from torch.optim.optimizer import _default_to_fused_or_foreach

from icml22dl.validation import check_number

__all__ = ["Adai", "AdaiV2", "AdaiW"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _default_foreach(params: list[Tensor]) -> bool:
    """torch.optim's rule: foreach when every tensor sits on a device with foreach kernels."""
    return _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)[1]


class _Loop:
    """Per-tensor primitives; :class:`_Foreach` offers the same ones as single foreach calls."""

    @staticmethod
    def mul_(xs: list[Tensor], scalars: list[float]) -> None:
        for x, s in zip(xs, scalars):
            x.mul_(s)

    @staticmethod
    def mul(xs: list[Tensor], scalars: list[float]) -> list[Tensor]:
        return [torch.mul(x, s) for x, s in zip(xs, scalars)]

    @staticmethod
    def addcmul_(xs: list[Tensor], ys: list[Tensor], zs: list[Tensor], scalars: list[float]) -> None:
        for x, y, z, s in zip(xs, ys, zs, scalars):
            x.addcmul_(y, z, value=s)

    @staticmethod
    def addcdiv_(xs: list[Tensor], ys: list[Tensor], zs: list[Tensor], scalars: list[float]) -> None:
        for x, y, z, s in zip(xs, ys, zs, scalars):
            x.addcdiv_(y, z, value=s)

    @staticmethod
    def lerp_(xs: list[Tensor], ys: list[Tensor], ws: list[Tensor]) -> None:
        for x, y, w in zip(xs, ys, ws):
            x.lerp_(y, w)


class _Foreach:
    @staticmethod
    def mul_(xs: list[Tensor], scalars: list[float]) -> None:
        torch._foreach_mul_(xs, scalars)

    @staticmethod
    def mul(xs: list[Tensor], scalars: list[float]) -> list[Tensor]:
        return list(torch._foreach_mul(xs, scalars))

    @staticmethod
    def addcmul_(xs: list[Tensor], ys: list[Tensor], zs: list[Tensor], scalars: list[float]) -> None:
        torch._foreach_addcmul_(xs, ys, zs, scalars)

    @staticmethod
    def addcdiv_(xs: list[Tensor], ys: list[Tensor], zs: list[Tensor], scalars: list[float]) -> None:
        torch._foreach_addcdiv_(xs, ys, zs, scalars)

    @staticmethod
    def lerp_(xs: list[Tensor], ys: list[Tensor], ws: list[Tensor]) -> None:
        torch._foreach_lerp_(xs, ys, ws)


class Adai(torch.optim.Optimizer):
    r"""Adai: SGD whose momentum coefficient (inertia) adapts per element (Xie et al., ICML 2022).

    Every ``step()`` makes two passes over all parameters with a gradient, pooled over all
    parameter groups. With :math:`g` the gradient (plus :math:`\lambda\theta` for coupled decay)
    and per-parameter step count :math:`t`:

    .. math::
        v &\leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
        \bar v = \frac{1}{N}\sum_{\text{all elements}} \frac{v}{1-\beta_2^{t}} \quad\text{(pass 1)}\\
        \beta_1 &= \operatorname{clip}\!\Big(1 - \beta_0 \big(\tfrac{v/(1-\beta_2^t)}{\bar v}\big)^{1/(3-2d)},
                    0,\ 1-\epsilon\Big),\qquad P \leftarrow P\,\beta_1 \quad\text{(pass 2)}\\
        m &\leftarrow \beta_1 m + (1-\beta_1)^d g, \qquad
        \theta \leftarrow \theta - \eta\, \beta_0^{1-d}\, \frac{m}{1-P}.

    ``d = 1`` (``dampening``) is Adai (paper Alg. 1); other ``d`` is the official AdaiV2. The
    bias correction uses the running product :math:`P = \prod \beta_1` per element, so the
    first step is the plain SGD step :math:`\theta - \eta g`. ``eps`` caps the inertia
    (:math:`\beta_1 \le 1-\epsilon`); it is not a denominator epsilon, and :math:`1-P \ge \epsilon`.
    With ``decoupled=True`` (AdaiW) decay is :math:`\theta \leftarrow \theta(1-\eta\lambda)` in
    pass 1 instead of the L2 term in :math:`g`. The gradient is never modified in place.

    Implementation: :math:`a = 1-\beta_1 = \operatorname{clip}(\beta_0 \hat v/\bar v, \epsilon, 1)`
    (exactly the clip above), :math:`m` is updated by one ``lerp`` pass and :math:`P` by
    :math:`P - P a`. The global mean :math:`\bar v` sums each tensor in its state dtype (>= float32), then the
    per-tensor sums in float64 in parameter order (so the
    foreach and per-tensor paths agree bitwise) and read once per step as a Python float: one
    host synchronisation per step. float16/bfloat16 parameters keep float32 state and are updated
    in float32, then rounded once.

    Guard (our choice; the official code yields NaN): if :math:`\bar v = 0` (every gradient seen
    so far is zero), :math:`\theta, m, v, P, t` stay unchanged (decoupled decay still applies).
    A non-finite :math:`\bar v` (inf/NaN gradients) is not guarded: it propagates to the
    parameters, as with ``torch.optim.SGD``, so a diverging run is visible.

    Differences from pytorch-optimizer's ``Adai`` (4.1.0, measured in ``tests/optim/test_adai.py``):
    it floors the global mean, :math:`\bar v = \max(S/N, \epsilon)` with the same ``eps`` = 1e-3
    (3.9.0 had no floor). While :math:`\bar v \ge 10^{-3}` both follow the official rule (rounding-level
    differences); on typical cross-entropy problems :math:`\bar v \ll 10^{-3}`, so there
    :math:`\beta_1 \approx 1 - 100\,\hat v` clips to 0.999 almost everywhere: an EMA-SGD with fixed
    inertia, far from the official trajectory. Its default lr is 1e-3 (far too small for Adai), it
    modifies ``p.grad`` in place, and versions <= 3.9.0 still minimised with ``maximize=True``.

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate :math:`\eta` (required; SGD-sized, 0.1 to 1: Adai's ``m`` is an EMA, so its
            lr is about 10x SGD-M(0.9)'s; the official notebook uses 1.0 on CIFAR).
        betas: :math:`(\beta_0, \beta_2)`, default (0.1, 0.99) (official).
        eps: Inertia cap :math:`\epsilon \in (0, 1)`, default 1e-3 (official).
        weight_decay: :math:`\lambda \ge 0`, default 0 (official; 5e-4 for CIFAR CNNs).
        decoupled: Decoupled (AdaiW) instead of coupled L2 decay, default False.
        dampening: :math:`d < 1.5`, default 1.0 (Adai; AdaiV2's knob).
        maximize: Maximise the objective (the gradient is negated once).
        foreach: Use foreach kernels; None picks them where torch.optim would (CUDA).

    Example:
        >>> p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adai([p], lr=0.5)
        >>> (p**2).sum().backward(); opt.step()  # the first step is SGD's: p - 0.5 * 2 p = 0
        >>> torch.allclose(p, torch.zeros(2), atol=1e-5)
        True

    References:
        Z. Xie, X. Wang, H. Zhang, I. Sato, M. Sugiyama. Adaptive Inertia: Disentangling the
        Effects of Adaptive Learning Rate and Momentum. ICML 2022, Algorithm 1 (Adai) and
        Algorithm 2 (AdaiW); official code zeke-xie/adaptive-inertia-adai (defaults above).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        betas: tuple[float, float] = (0.1, 0.99),
        eps: float = 1e-3,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        dampening: float = 1.0,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        _check_hyper(lr, betas, eps, weight_decay, dampening)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            decoupled=decoupled,
            dampening=dampening,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("dampening", 1.0)
            group.setdefault("decoupled", False)

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Adai step over every parameter of every group that has a gradient.

        Args:
            closure: Optional; re-evaluates the model and returns the loss (grad enabled).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        # Collect every parameter with a gradient, in group order (the order of the global sum).
        entries: list[tuple[dict[str, Any], Tensor, Tensor, Tensor, dict[str, Any]]] = []
        for group in self.param_groups:
            _check_hyper(group["lr"], group["betas"], group["eps"], group["weight_decay"], group["dampening"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Adai does not support sparse gradients")
                if torch.is_complex(p):
                    raise RuntimeError("Adai does not support complex parameters")
                state = self.state[p]
                low = p.dtype in _LOW_PRECISION
                if len(state) == 0:
                    kind = torch.float32 if low else p.dtype
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, dtype=kind, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=kind, memory_format=torch.preserve_format)
                    state["beta1_prod"] = torch.ones_like(p, dtype=kind, memory_format=torch.preserve_format)
                work = p.float() if low else p  # float32 working copy of a low-precision parameter
                grad = p.grad.float() if low else p.grad
                if group["maximize"]:
                    grad = torch.neg(grad)
                entries.append((group, p, work, grad, state))
        if not entries:
            return loss

        foreach = self.param_groups[0]["foreach"]
        if foreach is None:
            foreach = _default_foreach([e[1] for e in entries])
        ops = _Foreach if foreach else _Loop

        # Pass 1: decay, step counts, second moments, the global mean.
        grads: list[Tensor] = []
        for group, _, work, grad, state in entries:
            wd = group["weight_decay"]
            if wd != 0.0 and not group["decoupled"]:
                grad = torch.add(grad, work, alpha=wd)  # out of place: p.grad is untouched
            elif wd != 0.0:
                work.mul_(1.0 - group["lr"] * wd)
            state["step"] += 1
            grads.append(grad)
        works = [e[2] for e in entries]
        vs = [e[4]["exp_avg_sq"] for e in entries]
        beta2s = [e[0]["betas"][1] for e in entries]
        bc2 = [1.0 - e[0]["betas"][1] ** e[4]["step"] for e in entries]
        _grouped(ops.mul_, vs, beta2s, foreach=foreach)
        _grouped(ops.addcmul_, vs, grads, grads, [1.0 - b for b in beta2s], foreach=foreach)
        # Each tensor summed in its state dtype (>= float32: a float64 accumulator is ~10x slower on CPU),
        # then combined in float64, in parameter order.
        sums = torch.stack([v.sum().to(device=vs[0].device, dtype=torch.float64) for v in vs])
        inv_bc2 = torch.tensor([1.0 / b for b in bc2], dtype=torch.float64, device=sums.device)
        numel = sum(v.numel() for v in vs)
        vbar = float((sums * inv_bc2).sum()) / numel  # the one host synchronisation

        if vbar == 0.0:  # every gradient so far is zero: no defined inertia, leave the state as it was
            for _, p, work, _, state in entries:
                state["step"] -= 1
                if work is not p:
                    p.copy_(work)
            return loss

        # Pass 2: per-element inertia, momentum, bias-corrected step.
        ms = [e[4]["exp_avg"] for e in entries]
        ps = [e[4]["beta1_prod"] for e in entries]
        standard = [i for i, e in enumerate(entries) if e[0]["dampening"] == 1.0]
        general = [i for i, e in enumerate(entries) if e[0]["dampening"] != 1.0]
        if standard:
            pick = lambda xs: [xs[i] for i in standard]  # noqa: E731
            groups = [entries[i][0] for i in standard]
            scale = [g["betas"][0] / (bc2[i] * vbar) for g, i in zip(groups, standard)]
            # a = 1 - beta1 in a persistent scratch buffer per parameter (no allocation per step:
            # fresh large CPU tensors cost page faults that dominate the step).
            inertia = [self._buffer(entries[i][1], vs[i]) for i in standard]
            for a, v, c, g in zip(inertia, pick(vs), scale, groups):
                torch.mul(v, c, out=a).clamp_(g["eps"], 1.0)
            _grouped(ops.lerp_, pick(ms), pick(grads), inertia, foreach=foreach)  # m = (1-a) m + a g
            self._finish(ops, pick(ps), inertia, pick(works), pick(ms), [-g["lr"] for g in groups], foreach, reuse=True)
        for i in general:
            group, v, m, prod, grad = entries[i][0], vs[i], ms[i], ps[i], grads[i]
            beta0, d = group["betas"][0], group["dampening"]
            a = torch.mul(v, 1.0 / (bc2[i] * vbar)).pow_(1.0 / (3.0 - 2.0 * d)).mul_(beta0)
            a.clamp_(group["eps"], 1.0)
            m.addcmul_(m, a, value=-1.0).addcmul_(torch.pow(a, d), grad)  # m = (1-a) m + a^d g
            self._finish(_Loop, [prod], [a], [works[i]], [m], [-group["lr"] * beta0 ** (1.0 - d)], False)

        for _, p, work, _, _ in entries:
            if work is not p:
                p.copy_(work)
        return loss

    def _buffer(self, p: Tensor, like: Tensor) -> Tensor:
        """A scratch tensor shaped like ``like``, kept per parameter between steps (not in the state)."""
        scratch = self.__dict__.setdefault("_scratch", {})  # id(p) -> (weak reference to p, buffer)
        ref, buf = scratch.get(id(p), (None, None))
        if (
            ref is None
            or ref() is not p
            or buf.shape != like.shape
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = torch.empty_like(like)
            scratch[id(p)] = (weakref.ref(p), buf)
        return buf

    @staticmethod
    def _finish(
        ops: Any,
        prods: list[Tensor],
        inertia: list[Tensor],
        works: list[Tensor],
        ms: list[Tensor],
        steps: list[float],
        foreach: bool,
        reuse: bool = False,
    ) -> None:
        """P <- P (1 - a); theta <- theta + step * m / (1 - P) (1 - P written over a if ``reuse``)."""
        _grouped(ops.addcmul_, prods, prods, inertia, [-1.0] * len(prods), foreach=foreach)
        if reuse:
            ones: dict[tuple[torch.device, torch.dtype], Tensor] = {}
            for prod, a in zip(prods, inertia):
                one = ones.setdefault((prod.device, prod.dtype), torch.ones((), dtype=prod.dtype, device=prod.device))
                torch.add(one, prod, alpha=-1.0, out=a)  # 1 - P, into the free scratch buffer
            denominators = inertia
        else:
            denominators = [torch.rsub(prod, 1.0) for prod in prods]
        _grouped(ops.addcdiv_, works, ms, denominators, steps, foreach=foreach)


def _grouped(fn: Callable[..., Any], *lists: Any, foreach: bool) -> Any:
    """Apply a list primitive; on the foreach path, once per (device, dtype) bucket of the first list.

    Lists of tensors are split by bucket; lists of Python scalars follow. Returns the per-tensor
    results (if any) in the original order.
    """
    first = lists[0]
    if not foreach:
        return fn(*lists)
    buckets: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, t in enumerate(first):
        buckets.setdefault((t.device, t.dtype), []).append(i)
    out: list[Any] = [None] * len(first)
    for idx in buckets.values():
        result = fn(*[[lst[i] for i in idx] for lst in lists])
        if result is not None:
            for i, r in zip(idx, result):
                out[i] = r
    return out


def _check_hyper(lr: float, betas: tuple[float, float], eps: float, weight_decay: float, dampening: float) -> None:
    """Raise a ValueError naming the first invalid hyper-parameter, its value and the allowed range."""
    check_number("lr", lr, low=0.0)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas={betas!r} has the wrong type: expected a pair (beta0, beta2)")
    check_number("betas[0] (beta0)", betas[0], low=0.0)
    check_number("betas[1] (beta2)", betas[1], low=0.0, high=1.0, high_inclusive=False)
    check_number("eps (the inertia cap)", eps, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_number("weight_decay", weight_decay, low=0.0)
    # The exponent 1/(3 - 2d) of the inertia needs 3 - 2d > 0.
    check_number("dampening", dampening, high=1.5, high_inclusive=False)


class AdaiW(Adai):
    r"""AdaiW: :class:`Adai` with decoupled weight decay, :math:`\theta \leftarrow \theta(1-\eta\lambda)`.

    Same arguments as :class:`Adai` except that ``decoupled`` defaults to True.

    Example:
        >>> p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = AdaiW([p], lr=0.5, weight_decay=0.1)
        >>> (p**2).sum().backward(); opt.step()  # p (1 - 0.05) - 0.5 * 2 p
        >>> torch.allclose(p, torch.tensor([-0.05, 0.1]), atol=1e-5)
        True

    References:
        Xie et al., ICML 2022, Algorithm 2 (AdaiW); official ``Adai(decoupled=True)``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        betas: tuple[float, float] = (0.1, 0.99),
        eps: float = 1e-3,
        weight_decay: float = 0.0,
        decoupled: bool = True,
        dampening: float = 1.0,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, decoupled, dampening, maximize, foreach)


class AdaiV2(Adai):
    r"""AdaiV2: :class:`Adai` with the ``dampening`` knob and decoupled decay by default.

    :math:`\beta_1 = \operatorname{clip}(1-\beta_0 (\hat v/\bar v)^{1/(3-2d)}, 0, 1-\epsilon)`,
    :math:`m \leftarrow \beta_1 m + (1-\beta_1)^d g`, :math:`\theta \leftarrow \theta -
    \eta \beta_0^{1-d} m/(1-P)`; ``d = 1`` is AdaiW.

    Example:
        >>> a = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> b = torch.nn.Parameter(a.detach().clone())
        >>> opts = AdaiV2([a], lr=0.5, weight_decay=0.1), AdaiW([b], lr=0.5, weight_decay=0.1)
        >>> for _ in range(3):
        ...     for p, opt in zip((a, b), opts):
        ...         opt.zero_grad(); (p**2).sum().backward(); opt.step()
        >>> torch.equal(a, b)  # d = 1 is AdaiW
        True

    References:
        Official code zeke-xie/adaptive-inertia-adai, ``AdaiV2`` (defaults: decoupled, d = 1).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        betas: tuple[float, float] = (0.1, 0.99),
        eps: float = 1e-3,
        weight_decay: float = 0.0,
        decoupled: bool = True,
        dampening: float = 1.0,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, decoupled, dampening, maximize, foreach)
