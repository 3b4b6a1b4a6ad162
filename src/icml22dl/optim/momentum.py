"""Gradient descent with momentum in the EMA form of Jelassi & Li (ICML 2022), or the heavy ball."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast, overload

import torch
from torch import Tensor
from torch.optim.optimizer import _default_to_fused_or_foreach

from icml22dl.validation import check_choice, check_number

__all__ = ["EMAMomentum", "FORMS"]

FORMS: tuple[str, ...] = ("ema", "heavy_ball")


def _default_foreach(params: list[Tensor]) -> bool:
    """torch.optim.SGD's rule: foreach when every tensor sits on a device with foreach kernels (CUDA...)."""
    return _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)[1]


class EMAMomentum(torch.optim.Optimizer):
    r"""Full-batch GD with momentum as an exponential moving average of gradients (Jelassi & Li, 2022).

    The ``"ema"`` form is the paper's GD+M (full-batch gradients, same step as its GD):

    .. math::
        g^{(0)} = 0,\quad g^{(t+1)} = \gamma g^{(t)} + (1-\gamma)\nabla L(W^{(t)}),\quad
        W^{(t+1)} = W^{(t)} - \eta\, g^{(t+1)},

    and the ``"heavy_ball"`` form is Polyak's heavy ball with a zero-initialised buffer:

    .. math::
        v^{(0)} = 0,\quad v^{(t+1)} = \gamma v^{(t)} + \nabla L(W^{(t)}),\quad
        W^{(t+1)} = W^{(t)} - \eta\, v^{(t+1)}.

    Weight decay ``lambda`` is added to the gradient before the buffer,
    :math:`\nabla L \leftarrow \nabla L + \lambda W`, as in ``torch.optim.SGD``; with ``maximize``
    the gradient is negated first. ``momentum=0`` is plain GD, :math:`W \leftarrow W - \eta\nabla L`,
    and keeps no buffer. The buffer (``g`` or ``v``) lives in ``state[p]["momentum_buffer"]``,
    the key ``torch.optim.SGD`` uses; in the EMA form it is :math:`(1-\gamma)` times SGD's buffer.
    The EMA update runs as one ``lerp`` pass, :math:`g \leftarrow g + (1-\gamma)(\nabla L - g)`.

    Which ``torch.optim.SGD`` settings equal the EMA form with step ``eta`` and momentum ``gamma``
    (float64, 300 steps of a small tanh network; ``tests/optim/test_momentum.py``):

    ================================================== ====== ========================================
    ``torch.optim.SGD`` setting                        equal? why
    ================================================== ====== ========================================
    ``SGD(lr=eta*(1-gamma), momentum=gamma)``          yes    torch seeds its buffer with the raw
                                                              gradient, i.e. the zero-started heavy
                                                              ball ``v = gamma*v + grad``, and
                                                              ``eta*(1-gamma)*v = eta*g`` (2e-16)
    ``SGD(lr=eta, momentum=gamma, dampening=gamma)``   no     its first buffer is ``grad``, not
                                                              ``(1-gamma)*grad``; the surplus
                                                              ``gamma*grad(W0)`` decays as
                                                              ``gamma**t`` but shifts the whole
                                                              trajectory (18 % here). Equal (2e-16)
                                                              only with ``momentum_buffer``
                                                              pre-seeded with zeros
    ``SGD(lr=eta, momentum=gamma)``                    no     effective step ``eta/(1-gamma)``, 10x
                                                              at 0.9: confounds momentum with a
                                                              larger step
    ================================================== ====== ========================================

    ``form="heavy_ball"`` with step ``eta`` equals ``SGD(lr=eta, momentum=gamma)`` (torch's
    raw-gradient seed is exactly ``gamma*0 + grad``), and ``form="ema"`` with step ``eta`` equals
    ``form="heavy_ball"`` with step ``eta*(1-gamma)``.

    Args:
        params: iterable of parameters or of parameter-group dicts.
        lr: step size ``eta``, in ``[0, inf)``.
        momentum: ``gamma``, in ``[0, 1)``; the paper uses 0.9.
        form: ``"ema"`` (default, the paper's GD+M) or ``"heavy_ball"``.
        weight_decay: L2 coefficient ``lambda`` added to the gradient, in ``[0, inf)``.
        foreach: ``True`` uses the multi-tensor ``torch._foreach_*`` kernels (grouped by device and
            dtype), ``False`` a per-tensor loop; both give bitwise the same result on CPU. ``None``
            (default) follows ``torch.optim.SGD``: foreach when every parameter is a plain tensor on
            a device with multi-tensor kernels (CUDA, XPU, ...), the loop otherwise (on CPU the
            foreach ops run the same per-tensor kernels, so they save nothing there; measured equal
            within 5 % on ResNet-18).
        maximize: maximise the objective instead of minimising it.

    Returns:
        ``step(closure)`` returns the closure's loss, or ``None`` without a closure.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = EMAMomentum([w], lr=1.0, momentum=0.9)
        >>> w.grad = torch.tensor([1.0, -2.0])
        >>> opt.step()  # g = 0.9 * 0 + 0.1 * grad, w = w - g
        >>> [round(v, 6) for v in w.tolist()]
        [-0.1, 0.2]

    References:
        S. Jelassi, Y. Li. Towards understanding how momentum improves generalization in deep
        learning. ICML 2022, PMLR 162:9965-10040, arXiv:2207.05931.
        B. T. Polyak. Some methods of speeding up the convergence of iteration methods. 1964.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        form: str = "ema",
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        check_number("lr", lr, low=0.0)
        check_number("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        check_number("weight_decay", weight_decay, low=0.0)
        check_choice("form", form, FORMS)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "form": form,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _init_group(self, group: dict[str, Any]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Collect the parameters that have a gradient, their gradients and (zero-started) buffers."""
        params: list[Tensor] = []
        grads: list[Tensor] = []
        bufs: list[Tensor] = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("EMAMomentum does not support sparse gradients")
            params.append(p)
            grads.append(p.grad)
            if group["momentum"] != 0:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                bufs.append(state["momentum_buffer"])
        return params, grads, bufs

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one update; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, bufs = self._init_group(group)
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                foreach = _default_foreach(params)
            update = _multi_tensor_update if foreach else _single_tensor_update
            update(
                params,
                grads,
                bufs,
                lr=group["lr"],
                momentum=group["momentum"],
                form=group["form"],
                weight_decay=group["weight_decay"],
                maximize=group["maximize"],
            )
        return loss


def _single_tensor_update(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor],
    *,
    lr: float,
    momentum: float,
    form: str,
    weight_decay: float,
    maximize: bool,
) -> None:
    """Per-tensor loop: weight decay, buffer update, then the parameter step."""
    for i, (param, grad) in enumerate(zip(params, grads)):
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        if momentum != 0:
            buf = bufs[i]
            if form == "ema":
                buf.lerp_(grad, 1 - momentum)
            else:
                buf.mul_(momentum).add_(grad)
            grad = buf
        param.add_(grad, alpha=-lr)


def _multi_tensor_update(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor],
    *,
    lr: float,
    momentum: float,
    form: str,
    weight_decay: float,
    maximize: bool,
) -> None:
    """Multi-tensor path: the same update with ``torch._foreach_*`` ops per (device, dtype) group."""
    lists = [params, grads, bufs] if momentum != 0 else [params, grads]
    grouped = torch.optim.Optimizer._group_tensors_by_device_and_dtype(cast(Any, lists))
    for tensors, _ in grouped.values():
        device_params, device_grads = cast(list[Tensor], tensors[0]), cast(list[Tensor], tensors[1])
        if maximize:
            device_grads = list(torch._foreach_neg(device_grads))
        if weight_decay != 0:
            if maximize:
                torch._foreach_add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = list(torch._foreach_add(device_grads, device_params, alpha=weight_decay))
        if momentum != 0:
            device_bufs = cast(list[Tensor], tensors[2])
            if form == "ema":
                torch._foreach_lerp_(device_bufs, device_grads, 1 - momentum)
            else:
                torch._foreach_mul_(device_bufs, momentum)
                torch._foreach_add_(device_bufs, device_grads)
            device_grads = device_bufs
        torch._foreach_add_(device_params, device_grads, alpha=-lr)
