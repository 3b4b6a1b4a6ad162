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
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.validation import check_choice, check_int

__all__ = ["Batch", "EvalResult", "FitResult", "NonFiniteLossError", "autocast", "evaluate", "fit"]

SCHEDULER_INTERVALS = ("epoch", "step")


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; ``step`` is the 1-based step, ``value`` the loss."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"the training loss is {value} at step {step}")
        self.step = step
        self.value = value


@dataclass(frozen=True)
class Batch:
    """One mini-batch: inputs, targets and the examples' indices into the training set."""

    x: Tensor
    y: Tensor
    index: Tensor


@dataclass
class FitResult:
    """What :func:`fit` did: steps taken, the last step's loss and each epoch's mean loss."""

    steps: int = 0
    last_loss: float = math.nan
    epoch_losses: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class EvalResult:
    """Accuracy, error (``1 - accuracy``) and mean loss of a model on a data set."""

    accuracy: float
    error: float
    loss: float


LossFn = Callable[[nn.Module, Batch], Tensor]


def cross_entropy_loss(model: nn.Module, batch: Batch) -> Tensor:
    """The default loss of :func:`fit`: cross-entropy of ``model(batch.x)`` (in float32) against ``batch.y``."""
    return F.cross_entropy(model(batch.x).float(), batch.y)


def autocast(device: torch.device | str, enabled: bool) -> AbstractContextManager[object]:
    """bfloat16 autocast on a CUDA device when ``enabled``; a no-op context otherwise (CPU runs stay float32)."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _batches(n: int, batch_size: int | None, generator: torch.Generator | None, shuffle: bool) -> list[Tensor]:
    if shuffle:
        order = torch.randperm(n, generator=generator)
    else:
        order = torch.arange(n)
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
    progress: Callable[[range], Sequence[int]] | None = None,
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

    Returns:
        A :class:`FitResult`.

    Raises:
        NonFiniteLossError: when a step's loss is NaN or infinite (before its backward).
        ValueError: for a negative ``epochs``, a ``batch_size`` below 1, an unknown
            ``scheduler_interval`` or mismatched ``x`` and ``y``.
    """
    check_int("epochs", epochs, low=0)
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1)
    check_choice("scheduler_interval", scheduler_interval, SCHEDULER_INTERVALS)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    optimizers = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else list(optimizer)
    result = FitResult()
    epoch_range = range(1, epochs + 1)
    for epoch in progress(epoch_range) if progress is not None else epoch_range:
        model.train()
        total = 0.0
        batches = _batches(len(x), batch_size, generator, shuffle)
        for idx in batches:
            idx = idx.to(x.device)
            xb = x[idx] if augment is None else augment(x[idx])
            with autocast(x.device, amp):
                loss = loss_fn(model, Batch(xb, y[idx], idx))
            value = loss.item()
            result.steps += 1
            if not math.isfinite(value):
                raise NonFiniteLossError(result.steps, value)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            if scheduler is not None and scheduler_interval == "step":
                scheduler.step()
            total += value
            result.last_loss = value
        result.epoch_losses.append(total / max(len(batches), 1))
        if scheduler is not None and scheduler_interval == "epoch":
            scheduler.step()
        if on_epoch is not None:
            on_epoch(epoch, result)
    return result


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
) -> EvalResult:
    """Accuracy, error and mean loss of ``model`` on ``(x, y)``, in eval mode and in batches.

    Args:
        model: a classifier returning logits; it is left in eval mode.
        x, y: inputs and integer targets, on the model's device.
        batch_size: examples per forward pass.
        transform: applied to each input batch first (e.g. a normalisation).
        loss: ``loss(logits, y) -> mean``; summed over batches weighted by their size.
        amp: bfloat16 autocast on CUDA.

    Raises:
        ValueError: for an empty set, mismatched ``x`` and ``y``, or a ``batch_size`` below 1.
    """
    check_int("batch_size", batch_size, low=1)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x and y must be non-empty and of one length: {len(x)} and {len(y)}")
    model.eval()
    correct, total_loss = 0, 0.0
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        if transform is not None:
            xb = transform(xb)
        with autocast(x.device, amp):
            logits = model(xb).float()
        correct += int((logits.argmax(1) == yb).sum())
        total_loss += float(loss(logits, yb)) * len(yb)
    accuracy = correct / len(y)
    return EvalResult(accuracy=accuracy, error=1.0 - accuracy, loss=total_loss / len(y))
