"""One training and evaluation engine for every supervised experiment of the library.

:func:`fit` runs mini-batch or full-batch training over tensors held in memory (the data
sets of these experiments fit in memory, on the CPU or on the GPU): a seeded shuffle, an
optional augmentation, a loss that sees the batch's example indices (for per-example
parameters such as SOP's), bfloat16 autocast, a scheduler stepped per epoch or per step,
extra optimisers stepped beside the model's, and an ``on_epoch`` callback. :func:`evaluate`
returns accuracy, error and mean loss in batches, without gradients.

References:
    The loop is the standard PyTorch one (zero_grad, backward, step); the order of the
    random draws (one permutation per epoch from ``generator``, then whatever the
    augmentation and loss draw from their own generators) is part of the contract, so a
    seeded run is reproducible step for step.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from icml22dl.train import fit, evaluate
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(64, 2, generator=g)
    >>> y = (x[:, 0] > 0).long()
    >>> model = nn.Linear(2, 2)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.5)
    >>> result = fit(model, opt, x, y, epochs=20, batch_size=16, generator=g)
    >>> result.steps
    80
    >>> evaluate(model, x, y).accuracy > 0.9
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.validation import check_choice, check_int

__all__ = ["Batch", "EvalResult", "FitResult", "NonFiniteLossError", "autocast", "evaluate", "fit"]

SCHEDULER_INTERVALS = ("epoch", "step")

#: ``hook(steps_done, epochs, batches_in_epoch)``, called by :func:`fit` before each step (and
#: after its last one) while set; ``None`` by default. A bounded probe
#: (:mod:`icml22dl.runner.gpu_check`) sets it to time the steps and to stop a run (by raising)
#: when its time is up; a plain run never sets it.
STEP_HOOK: ContextVar[Callable[[int, int, int], None] | None] = ContextVar("icml22dl_step_hook", default=None)


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; ``step`` is the 1-based step, ``value`` the loss.

    The runner records a run that raises it as ``status: "diverged"`` (never a crash of a sweep).

    References:
        IEEE 754 non-finite values; a :class:`FloatingPointError` like numpy's ``errstate`` errors.

    Example:
        >>> error = NonFiniteLossError(step=3, value=float("nan"))
        >>> str(error), error.step
        ('the training loss is nan at step 3', 3)
    """

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"the training loss is {value} at step {step}")
        self.step = step
        self.value = value


@dataclass(frozen=True)
class Batch:
    """One mini-batch: inputs, targets and the examples' indices into the training set.

    References:
        The ``(x, y)`` batch of a PyTorch ``DataLoader``, plus the indices that per-example
        losses need (e.g. SOP's per-example parameters, Liu et al., ICML 2022, Eq. 5).

    Example:
        >>> x, y = torch.randn(10, 2), torch.arange(10) % 2
        >>> index = torch.tensor([3, 7])
        >>> batch = Batch(x[index], y[index], index)
        >>> batch.y.tolist(), batch.index.tolist()
        ([1, 1], [3, 7])
    """

    x: Tensor
    y: Tensor
    index: Tensor


@dataclass
class FitResult:
    """What :func:`fit` did: steps taken, the last step's loss and each epoch's mean loss.

    References:
        The history object of common training loops (e.g. Keras' ``History``), reduced to numbers.

    Example:
        >>> model = nn.Linear(2, 2)
        >>> result = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.randn(6, 2),
        ...              torch.tensor([0, 1] * 3), epochs=2, batch_size=4, generator=torch.Generator())
        >>> result.steps, len(result.epoch_losses)
        (4, 2)
    """

    steps: int = 0
    last_loss: float = math.nan
    epoch_losses: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class EvalResult:
    """Accuracy, error (``1 - accuracy``) and mean loss of a model on a data set.

    References:
        Top-1 accuracy and the mean cross-entropy, as reported by the papers' tables.

    Example:
        >>> result = EvalResult(accuracy=0.75, error=0.25, loss=0.5)
        >>> result.error == 1 - result.accuracy
        True
    """

    accuracy: float
    error: float
    loss: float


LossFn = Callable[[nn.Module, Batch], Tensor]


def cross_entropy_loss(model: nn.Module, batch: Batch) -> Tensor:
    """The default loss of :func:`fit`: cross-entropy of ``model(batch.x)`` (in float32) against ``batch.y``."""
    return F.cross_entropy(model(batch.x).float(), batch.y)


def autocast(device: torch.device | str, enabled: bool) -> AbstractContextManager[object]:
    """bfloat16 autocast on a CUDA device when ``enabled``; a no-op context otherwise (CPU runs stay float32).

    References:
        :class:`torch.autocast` (PyTorch automatic mixed precision) with ``dtype=torch.bfloat16``.

    Example:
        >>> with autocast("cpu", enabled=True):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.float32
    """
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _batches(
    n: int, batch_size: int | None, generator: torch.Generator | None, shuffle: bool, device: torch.device
) -> list[Tensor]:
    """One epoch's index batches: the order is drawn on the CPU (the generator's device) and
    moved to ``device`` once, not batch by batch."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(device)
    size = n if batch_size is None else batch_size
    return [order[start : start + size] for start in range(0, n, size)]


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer],
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    batch_size: int | None = None,
    loss_fn: LossFn = cross_entropy_loss,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    augment: Callable[[Tensor], Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_interval: str = "epoch",
    amp: bool = False,
    on_epoch: Callable[[int, FitResult], None] | None = None,
    progress: Callable[[range], Iterable[int]] | None = None,
    batches: Callable[[int], Iterable[Tensor]] | None = None,
    chunk_size: int | None = None,
) -> FitResult:
    """Train ``model`` on ``(x, y)`` for ``epochs`` passes and return what happened.

    Each epoch draws one permutation of the examples from ``generator`` (on the CPU, then
    moved to ``x``'s device) unless ``shuffle`` is false, and cuts it into batches of
    ``batch_size`` (the last may be smaller; ``None`` is full-batch gradient descent). Per
    batch: ``augment(x[idx])`` when given, the loss under :func:`autocast`, then every
    optimiser's ``zero_grad``, one ``backward`` and every optimiser's ``step`` in the given
    order. The scheduler steps after each epoch or each step (``scheduler_interval``).

    Args:
        model: the network; put in train mode at the start of every epoch.
        optimizer: one optimiser, or several stepped in order (e.g. SOP's per-example
            parameters before the network's).
        x, y: the training inputs and targets, on the model's device.
        epochs: passes over the data (>= 0).
        batch_size: examples per step; ``None`` for full batch.
        loss_fn: ``loss_fn(model, batch) -> scalar``; it may draw from its own generator
            (adversarial training) and use ``batch.index`` (per-example parameters).
        generator: the shuffling generator (CPU), for a reproducible order.
        shuffle: ``False`` keeps the data order (full-batch methods need no shuffle).
        augment: ``augment(x_batch) -> x_batch``, drawing from its own generator.
        scheduler: stepped per ``scheduler_interval``.
        scheduler_interval: ``"epoch"`` or ``"step"``.
        amp: bfloat16 autocast on CUDA (ignored on the CPU).
        on_epoch: ``on_epoch(epoch, result)`` after each epoch, ``epoch`` counted from 1.
        progress: wraps the ``range`` of epochs (e.g. a progress bar).
        batches: ``batches(epoch) -> index batches`` of that epoch, replacing the shuffle
            (``generator``, ``shuffle`` and ``batch_size`` are then unused): a custom sampler,
            e.g. :class:`icml22dl.data.StreamSampler`, whose batches run across epochs.
        chunk_size: gradient accumulation: a batch larger than this is split into chunks of
            at most ``chunk_size`` examples, each chunk's loss is weighted by its share of the
            batch and back-propagated, then the optimisers step once (full-batch gradient
            descent on a set too large for one forward pass); the step's loss is the sum of
            the weighted chunk losses. ``loss_fn`` must not write ``.grad`` itself then.

    Returns:
        A :class:`FitResult`.

    Raises:
        NonFiniteLossError: when a step's loss is NaN or infinite (before its backward).
        ValueError: for a negative ``epochs``, a ``batch_size`` or ``chunk_size`` below 1, an
            unknown ``scheduler_interval`` or mismatched ``x`` and ``y``.

    References:
        The standard PyTorch loop (``zero_grad``, ``backward``, ``step``; PyTorch "Optimizing
        model parameters" tutorial), with one ``torch.randperm`` per epoch as the shuffle.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(64, 2, generator=g)
        >>> y = (x[:, 0] > 0).long()
        >>> model = nn.Linear(2, 2)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.5)
        >>> fit(model, opt, x, y, epochs=20, batch_size=16, generator=g).steps
        80
        >>> bad = lambda model, batch: model(batch.x).sum() * float("nan")
        >>> fit(model, opt, x, y, epochs=1, loss_fn=bad)
        Traceback (most recent call last):
        icml22dl.train.NonFiniteLossError: the training loss is nan at step 1
    """
    check_int("epochs", epochs, low=0)
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1)
    if chunk_size is not None:
        check_int("chunk_size", chunk_size, low=1)
    check_choice("scheduler_interval", scheduler_interval, SCHEDULER_INTERVALS)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    optimizers = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else list(optimizer)
    result = FitResult()
    hook = STEP_HOOK.get()
    epoch_range = range(1, epochs + 1)
    for epoch in progress(epoch_range) if progress is not None else epoch_range:
        model.train()
        total = 0.0
        if batches is None:
            epoch_batches = _batches(len(x), batch_size, generator, shuffle, x.device)
        else:
            epoch_batches = list(batches(epoch))
        for idx in epoch_batches:
            if hook is not None:
                hook(result.steps, epochs, len(epoch_batches))
            idx = idx.to(x.device)
            result.steps += 1
            value = _step(model, optimizers, x, y, idx, loss_fn, augment, amp, chunk_size, result.steps)
            if scheduler is not None and scheduler_interval == "step":
                scheduler.step()
            total += value
            result.last_loss = value
        result.epoch_losses.append(total / max(len(epoch_batches), 1))
        if scheduler is not None and scheduler_interval == "epoch":
            scheduler.step()
        if on_epoch is not None:
            on_epoch(epoch, result)
    if hook is not None and result.steps:
        hook(result.steps, epochs, 0)
    return result


def _step(
    model: nn.Module,
    optimizers: list[torch.optim.Optimizer],
    x: Tensor,
    y: Tensor,
    idx: Tensor,
    loss_fn: LossFn,
    augment: Callable[[Tensor], Tensor] | None,
    amp: bool,
    chunk_size: int | None,
    step: int,
) -> float:
    """One optimisation step on the examples ``idx`` (in chunks when ``chunk_size`` is set); its loss."""
    parts = [idx] if chunk_size is None or len(idx) <= chunk_size else list(idx.split(chunk_size))
    total = 0.0
    for k, part in enumerate(parts):
        xb = x[part] if augment is None else augment(x[part])
        with autocast(x.device, amp):
            loss = loss_fn(model, Batch(xb, y[part], part))
        if len(parts) > 1:
            loss = loss * (len(part) / len(idx))
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLossError(step, value)
        if k == 0:
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
        loss.backward()
        total += value
    for opt in optimizers:
        opt.step()
    return total


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    batch_size: int = 1000,
    transform: Callable[[Tensor], Tensor] | None = None,
    loss: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    amp: bool = False,
    predict: Callable[[Tensor], Tensor] | None = None,
    set_eval: bool = True,
) -> EvalResult:
    """Accuracy, error and mean loss of ``model`` on ``(x, y)``, in eval mode and in batches.

    Args:
        model: a classifier returning logits; it is left in eval mode (unless ``set_eval`` is false).
        x, y: inputs and integer targets, on the model's device.
        batch_size: examples per forward pass.
        transform: applied to each input batch first (e.g. a normalisation).
        loss: ``loss(logits, y) -> mean``; summed over batches weighted by their size.
        amp: bfloat16 autocast on CUDA.
        predict: ``predict(outputs) -> predictions`` compared with ``y``; the default is
            ``outputs.argmax(1)`` (``torch.sign`` for one real output and labels in {-1, +1}).
        set_eval: put the model in eval mode first; ``False`` leaves its modes as they are
            (e.g. BatchNorm on batch statistics along an interpolation path).

    Raises:
        ValueError: for an empty set, mismatched ``x`` and ``y``, or a ``batch_size`` below 1.

    References:
        Top-1 accuracy (``argmax`` of the logits) and the mean of ``loss`` over the examples.

    Example:
        >>> model = nn.Linear(2, 2)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(2)); _ = model.bias.zero_()
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
        >>> evaluate(model, x, torch.tensor([0, 1, 1]), batch_size=2).accuracy
        0.6666666666666666
    """
    check_int("batch_size", batch_size, low=1)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x and y must be non-empty and of one length: {len(x)} and {len(y)}")
    if set_eval:
        model.eval()
    correct, total_loss = 0, 0.0
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        if transform is not None:
            xb = transform(xb)
        with autocast(x.device, amp):
            logits = model(xb).float()
        predicted = logits.argmax(1) if predict is None else predict(logits)
        correct += int((predicted == yb).sum())
        total_loss += float(loss(logits, yb)) * len(yb)
    accuracy = correct / len(y)
    return EvalResult(accuracy=accuracy, error=1.0 - accuracy, loss=total_loss / len(y))
