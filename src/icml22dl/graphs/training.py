"""A training loop over a list of pre-built graph batches (graph models do not train on (x, y) tensors).

:func:`fit_graph_batches` is :func:`icml22dl.train.fit` for models whose inputs are whole
graph objects (a :class:`~icml22dl.graphs.TemporalBatch`, a PyG ``Batch``...): each epoch
visits the batches in a fresh order from a seeded generator, runs ``loss_fn(model, batch)``,
backward, optional gradient-value clipping and the optimiser step, then calls ``evaluate``
in eval mode without gradients. It records each epoch's values and training time
(evaluation excluded). :class:`GraphTrainer` is the same loop an epoch at a time;
:func:`fit_interleaved` trains several models in turn, epoch by epoch, for fair timings.

References:
    The standard PyTorch loop (zero_grad, backward, step), as :mod:`icml22dl.train`; the
    gradient clipping by value is the official time-then-graph code's (``clip_grad_value_``
    1.0, Gao & Ribeiro 2022).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from icml22dl.train import NonFiniteLossError
from icml22dl.validation import check_int, check_positive

__all__ = ["GraphFitResult", "GraphTrainer", "fit_graph_batches", "fit_interleaved"]


@dataclass
class GraphFitResult:
    """What :func:`fit_graph_batches` did.

    Attributes:
        history: One dict per epoch: ``evaluate(model)``'s values and ``train_loss`` (the
            epoch's mean batch loss).
        ms_per_epoch: Mean wall time of an epoch's training steps, in milliseconds.
        steps: Optimiser steps taken.
        epoch_ms: Each epoch's training wall time, in milliseconds.

    Example:
        >>> result = GraphFitResult([{"train_loss": 0.5}], 1.2, 4, [1.0, 5.0, 2.0])
        >>> result.history[-1]["train_loss"], result.median_ms_per_epoch
        (0.5, 2.0)

    References:
        Gao & Ribeiro (2022) report time per epoch beside accuracy; :class:`icml22dl.train.FitResult`.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    ms_per_epoch: float = math.nan
    steps: int = 0
    epoch_ms: list[float] = field(default_factory=list)

    @property
    def median_ms_per_epoch(self) -> float:
        """Median of :attr:`epoch_ms` (robust to a stalled epoch on a shared machine); NaN if empty."""
        return statistics.median(self.epoch_ms) if self.epoch_ms else math.nan


class GraphTrainer:
    """One model's training over pre-built graph batches, an epoch at a time (see :func:`fit_graph_batches`).

    Args:
        model, optimizer, batches, loss_fn, generator, clip, evaluate, on_epoch: As
            :func:`fit_graph_batches`.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Linear(2, 1)
        >>> batches = [(torch.randn(8, 2), torch.randn(8, 1))]
        >>> mse = lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1])
        >>> trainer = GraphTrainer(model, torch.optim.SGD(model.parameters(), lr=0.1), batches, mse)
        >>> trainer.epoch(); trainer.epoch()
        >>> trainer.result.steps, len(trainer.result.epoch_ms)
        (2, 2)

    References:
        The standard PyTorch loop (zero_grad, backward, step), as :mod:`icml22dl.train`.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batches: Sequence[Any],
        loss_fn: Callable[[nn.Module, Any], torch.Tensor],
        *,
        generator: torch.Generator | None = None,
        clip: float | None = None,
        evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        if clip is not None:
            check_positive("clip", clip)
        if not len(batches):
            raise ValueError("batches is empty: give at least one batch")
        self.model, self.optimizer, self.batches, self.loss_fn = model, optimizer, batches, loss_fn
        self.generator, self.clip, self.evaluate, self.on_epoch = generator, clip, evaluate, on_epoch
        self.result = GraphFitResult()

    def epoch(self) -> None:
        """One pass over the batches in a fresh order, then the evaluation (untimed)."""
        model, result = self.model, self.result
        model.train()
        tick = time.perf_counter()
        total = 0.0
        for i in torch.randperm(len(self.batches), generator=self.generator).tolist():
            self.optimizer.zero_grad()
            loss = self.loss_fn(model, self.batches[i])
            value = loss.item()
            result.steps += 1
            if not math.isfinite(value):
                raise NonFiniteLossError(result.steps, value)
            loss.backward()
            if self.clip is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), self.clip)
            self.optimizer.step()
            total += value
        result.epoch_ms.append((time.perf_counter() - tick) * 1e3)
        result.ms_per_epoch = statistics.fmean(result.epoch_ms)
        model.eval()
        with torch.no_grad():
            values = dict(self.evaluate(model)) if self.evaluate is not None else {}
        values["train_loss"] = total / len(self.batches)
        result.history.append(values)
        if self.on_epoch is not None:
            self.on_epoch(len(result.history), values)


def fit_graph_batches(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Sequence[Any],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    *,
    epochs: int,
    generator: torch.Generator | None = None,
    clip: float | None = None,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> GraphFitResult:
    """Train ``model`` for ``epochs`` passes over pre-built ``batches``; evaluate after each epoch.

    Per epoch: the model in train mode; one permutation of the batch indices drawn from
    ``generator``; per batch ``zero_grad``, ``loss = loss_fn(model, batch)``, ``backward``,
    ``clip_grad_value_(clip)`` when given, ``step``. Then, in eval mode and without
    gradients, ``values = evaluate(model)`` (or ``{}``), ``values["train_loss"]`` = the mean
    batch loss, appended to the history and passed to ``on_epoch(epoch, values)``.

    Args:
        model: The network.
        optimizer: Its optimiser.
        batches: The training batches, any objects ``loss_fn`` understands.
        loss_fn: ``loss_fn(model, batch) -> scalar`` loss.
        epochs: Passes over the batches (>= 1).
        generator: The batch-order generator (CPU), for a reproducible order.
        clip: Clip every gradient entry to [-clip, clip] (official time-then-graph 1.0).
        evaluate: ``evaluate(model) -> {name: value}`` after each epoch.
        on_epoch: ``on_epoch(epoch, values)`` after each epoch, ``epoch`` counted from 1.

    Returns:
        A :class:`GraphFitResult`.

    Raises:
        NonFiniteLossError: when a batch loss is NaN or infinite (before its backward).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Linear(2, 1)
        >>> batches = [(torch.randn(8, 2), torch.randn(8, 1)) for _ in range(3)]
        >>> mse = lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1])
        >>> result = fit_graph_batches(model, torch.optim.SGD(model.parameters(), lr=0.1), batches, mse,
        ...                            epochs=4, generator=torch.Generator().manual_seed(0))
        >>> result.steps, len(result.history), result.history[-1]["train_loss"] < result.history[0]["train_loss"]
        (12, 4, True)

    References:
        Official time-then-graph training script (Adam, shuffled mini-batches, gradient
        value clipping 1.0; Gao & Ribeiro 2022).
    """
    check_int("epochs", epochs, low=1)
    trainer = GraphTrainer(
        model, optimizer, batches, loss_fn, generator=generator, clip=clip, evaluate=evaluate, on_epoch=on_epoch
    )
    for _ in range(epochs):
        trainer.epoch()
    return trainer.result


def fit_interleaved(trainers: Sequence[GraphTrainer], epochs: int) -> list[GraphFitResult]:
    """Train several models epoch by epoch in turn (round robin), so that their timings share the machine's state.

    Epoch e of every trainer runs before epoch e + 1 of any: a slow spell of a shared
    machine lands on all models alike, and the per-epoch medians
    (:attr:`GraphFitResult.median_ms_per_epoch`) compare like with like. Each model's
    numbers are those of training it alone (its own batches, optimiser and order generator).

    Args:
        trainers: One :class:`GraphTrainer` per model.
        epochs: Epochs of each.

    Returns:
        The trainers' results, in order.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> mse = lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1])
        >>> batches = [(torch.randn(8, 2), torch.randn(8, 1))]
        >>> models = [torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)]
        >>> trainers = [GraphTrainer(m, torch.optim.SGD(m.parameters(), lr=0.1), batches, mse) for m in models]
        >>> [len(r.epoch_ms) for r in fit_interleaved(trainers, 3)]
        [3, 3]

    References:
        Interleaved (alternating) timing of competing implementations, a standard benchmarking
        practice; the median per epoch as the robust summary.
    """
    check_int("epochs", epochs, low=1)
    for _ in range(epochs):
        for trainer in trainers:
            trainer.epoch()
    return [trainer.result for trainer in trainers]
