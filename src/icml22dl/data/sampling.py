"""Mini-batch samplers for :func:`icml22dl.train.fit` (its ``batches`` argument).

:class:`StreamSampler` cuts an endless stream of shuffled epochs into batches of a fixed
size: when fewer than ``batch_size`` indices remain, the next permutation is appended, so a
batch may hold the end of one epoch and the start of the next (the infinite data loader of
step-counted training loops; no batch is ever smaller than ``batch_size``).

References:
    The sampling of step-counted training loops (e.g. ``itertools.cycle`` over a shuffling
    ``DataLoader`` without ``drop_last`` differs only at epoch ends); here one
    ``torch.randperm(n, generator=generator)`` per pass, drawn when it is needed.

Example:
    >>> import torch
    >>> from icml22dl.data.sampling import StreamSampler
    >>> sampler = StreamSampler(5, 2, torch.Generator().manual_seed(0))
    >>> batches = [sampler.next_batch() for _ in range(5)]
    >>> [len(b) for b in batches]
    [2, 2, 2, 2, 2]
    >>> sorted(torch.cat(batches[:2] + [batches[2][:1]]).tolist())  # the first pass: every index once
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import torch
from torch import Tensor

from icml22dl.validation import check_int

__all__ = ["StreamSampler"]


class StreamSampler:
    """Batches of ``batch_size`` indices into ``range(n)`` from an endless stream of permutations.

    Call :meth:`next_batch` for one batch, or pass the sampler as ``fit(..., batches=sampler,
    epochs=steps)``: each call ``sampler(epoch)`` returns ``steps_per_call`` batches, so one
    "epoch" of :func:`icml22dl.train.fit` is one step by default (per-step callbacks and
    progress through ``on_epoch`` and ``progress``).

    Args:
        n: examples (>= 1).
        batch_size: indices per batch (>= 1).
        generator: the CPU generator each permutation is drawn from.
        steps_per_call: batches returned by one call.

    References: the refill-when-short sampling of step-counted training loops (see the
    module docstring); deq_init trains with it (docs/papers/deq_init.md#defaults).

    Example:
        >>> sampler = StreamSampler(4, 3, torch.Generator().manual_seed(1), steps_per_call=2)
        >>> [len(b) for b in sampler(1)], sampler.passes  # 6 indices need two passes over 4
        ([3, 3], 2)
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None, steps_per_call: int = 1) -> None:
        check_int("n", n, low=1)
        check_int("batch_size", batch_size, low=1)
        check_int("steps_per_call", steps_per_call, low=1)
        self.n, self.batch_size, self.generator, self.steps_per_call = n, batch_size, generator, steps_per_call
        self.order = torch.empty(0, dtype=torch.long)
        self.passes = 0

    def next_batch(self) -> Tensor:
        """The next ``batch_size`` indices; draws new permutations while fewer remain."""
        while len(self.order) < self.batch_size:
            self.order = torch.cat([self.order, torch.randperm(self.n, generator=self.generator)])
            self.passes += 1
        batch, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return batch

    def __call__(self, epoch: int) -> list[Tensor]:
        """``steps_per_call`` batches (``epoch`` is ignored: the stream carries over)."""
        return [self.next_batch() for _ in range(self.steps_per_call)]
