"""Full-batch gradient by accumulation over a data loader, for the GD runs of Jelassi & Li (ICML 2022)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from icml22dl.validation import check_int

__all__ = ["full_batch_grad"]


def _count_examples(loader: Iterable[tuple[Tensor, Tensor]]) -> int:
    """Data set size from ``loader.dataset``, or the summed batch sizes of a list of batches."""
    dataset = getattr(loader, "dataset", None)
    if dataset is not None and hasattr(dataset, "__len__"):
        return len(dataset)
    if isinstance(loader, Sequence):
        return sum(len(inputs) for inputs, _ in loader)
    raise ValueError(
        f"num_examples must be given for a loader without a sized dataset, got loader {type(loader).__name__}"
    )


def full_batch_grad(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    num_examples: int | None = None,
) -> float:
    r"""Store in ``p.grad`` the gradient of the mean loss over the whole data set; return that loss.

    .. math::
        \nabla L(W) = \frac{1}{N}\sum_{i=1}^{N} \nabla \ell_i(W)
                    = \sum_{b} \frac{|B_b|}{N}\, \nabla\Big(\frac{1}{|B_b|}\sum_{i \in B_b} \ell_i(W)\Big)

    Gradients are zeroed (set to ``None``) first, then each batch's mean loss, weighted by
    ``batch_size / N``, is back-propagated in the loader's (fixed) order, so the result is the
    full-batch GD gradient whatever the batch size, up to float rounding. The ``|B|/N`` weights keep
    every backward pass at the scale of the final gradient (safe under loss scaling in AMP).
    With BatchNorm in training mode each batch is normalised by its own statistics ("ghost"
    batches), so the result is the mean of the per-batch-normalised losses' gradients.

    Args:
        model: the network; batches must already be on its device.
        loader: iterable of ``(inputs, targets)`` batches in a fixed order (a shuffling
            ``DataLoader`` is rejected).
        loss_fn: ``loss_fn(model(inputs), targets)`` returns the batch **mean** loss.
        num_examples: ``N``; by default ``len(loader.dataset)``, or the summed batch sizes when
            ``loader`` is a list or tuple of batches. Must equal the number of examples yielded.

    Returns:
        The mean loss over the ``N`` examples, as a Python float.

    Example:
        >>> import copy
        >>> model = torch.nn.Linear(3, 1)
        >>> x, y = torch.randn(12, 3), torch.randn(12, 1)
        >>> loss = full_batch_grad(model, [(x[:5], y[:5]), (x[5:], y[5:])], torch.nn.functional.mse_loss)
        >>> whole = copy.deepcopy(model)
        >>> torch.nn.functional.mse_loss(whole(x), y).backward()
        >>> torch.allclose(model.weight.grad, whole.weight.grad, atol=1e-6)  # the one-big-batch gradient
        True

    See also :func:`icml22dl.train.fit` with ``chunk_size``, which accumulates the same weighted
    chunk losses inside the library's training loop.

    References:
        S. Jelassi, Y. Li. Towards understanding how momentum improves generalization in deep
        learning. ICML 2022, arXiv:2207.05931 (full-batch GD and GD+M, Section 2).
    """
    if isinstance(getattr(loader, "sampler", None), torch.utils.data.RandomSampler):
        raise ValueError("loader must iterate in a fixed order, got a DataLoader with shuffle=True")
    total = _count_examples(loader) if num_examples is None else num_examples
    check_int("num_examples", total, low=1)

    model.zero_grad(set_to_none=True)
    weighted_losses: list[Tensor] = []
    seen = 0
    for inputs, targets in loader:
        size = len(inputs)
        loss = loss_fn(model(inputs), targets) * (size / total)
        loss.backward()
        weighted_losses.append(loss.detach())
        seen += size
    if seen != total:
        raise ValueError(f"num_examples must equal the examples the loader yields ({seen}), got {total}")
    return torch.stack(weighted_losses).sum().item()
