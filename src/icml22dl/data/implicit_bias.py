"""Wilson et al. (2017)'s over-parameterised linear task, where adaptive learning rates generalise badly.

Every example has the label as feature 0, two constant features and a block of six
features of its own; a positive example switches on one of them, a negative one five. Any
interpolating linear model fits the training set, but only one that puts weight on feature
0 classifies fresh points, which share features 0 to 2 only: gradient descent does, Adam
and RMSprop (whose per-coordinate learning rates favour the many unique features) predict
the majority class.
"""

from __future__ import annotations

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_probability

__all__ = ["wilson_data", "wilson_labels"]


def wilson_labels(n: int, positive_rate: float, generator: torch.Generator | None = None) -> Tensor:
    """(n,) float64 labels in {+1, -1}, +1 with probability ``positive_rate`` (one ``torch.rand(n)`` draw).

    Args:
        n: number of labels (>= 0).
        positive_rate: P(y = +1), in [0, 1].
        generator: the seeded generator.

    References:
        Wilson, Roelofs, Stern, Srebro, Recht, "The Marginal Value of Adaptive Gradient
        Methods in Machine Learning", NeurIPS 2017, Sec. 3.3 (P(y = 1) = p > 1/2).

    Example:
        >>> y = wilson_labels(1000, 0.6, torch.Generator().manual_seed(0))
        >>> set(y.tolist()) == {1.0, -1.0}, 0.55 < float((y > 0).double().mean()) < 0.65
        (True, True)
    """
    check_int("n", n, low=0)
    check_probability("positive_rate", positive_rate)
    return torch.where(torch.rand(n, generator=generator) < positive_rate, 1.0, -1.0).double()


def wilson_data(n: int, positive_rate: float, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Wilson et al. (2017) over-parameterised linear data: ``n`` examples with ``d = 6 n + 3`` features.

    ``x_0 = y``, ``x_1 = x_2 = 1``, then a block of 6 features unique to example ``i``
    (columns ``3 + 6 i`` to ``3 + 6 i + 5``) with the first one on if ``y = +1`` and the
    first five on if ``y = -1``; every other entry is 0. The labels are
    :func:`wilson_labels` ``(n, positive_rate, generator)``.

    Args:
        n: number of training examples (>= 1).
        positive_rate: P(y = +1), in [0, 1].
        generator: the seeded generator of the labels.

    Returns:
        ``(x, y)``: float64 (n, 6 n + 3) features and (n,) labels in {+1, -1}.

    References:
        Wilson et al., NeurIPS 2017, Sec. 3.3 (the construction); used as the quick-scale
        implicit-bias task of the Adai paper (Xie et al., ICML 2022; docs/papers/adai.md#method).

    Example:
        >>> x, y = wilson_data(4, 0.6, torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([4, 27])
        >>> torch.equal(x[:, 3:].sum(1), torch.where(y > 0, 1.0, 5.0).double())
        True
    """
    check_int("n", n, low=1)
    y = wilson_labels(n, positive_rate, generator)
    x = torch.zeros(n, 6 * n + 3, dtype=torch.float64)
    x[:, 0], x[:, 1], x[:, 2] = y, 1.0, 1.0
    for i in range(n):
        on = 1 if y[i] > 0 else 5
        x[i, 3 + 6 * i : 3 + 6 * i + on] = 1.0
    return x, y
