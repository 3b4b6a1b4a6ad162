"""The mean squared error to one-hot targets, the classification loss of the MSE neural-collapse papers.

Math: ``L = 1/(N K) sum_{i, k} (z_ik - [y_i = k])^2`` for logits ``z`` (N x K): the mean
over all N x K entries, ``nn.MSELoss`` against one-hot targets.

References:
    Zhou et al., On the optimization landscape of neural collapse under MSE loss, ICML 2022,
    Sec. 5: the official ``Rescale_Square_Loss`` with ``k = M = 1`` (no rescaling) is this
    loss; Tirer & Bruna, ICML 2022, train with the same MSE.

Example:
    >>> import torch
    >>> from icml22dl.losses.mse import OneHotMSELoss
    >>> loss = OneHotMSELoss(3)
    >>> float(loss(torch.eye(3), torch.arange(3)))  # perfect one-hot logits
    0.0
    >>> float(loss(torch.zeros(2, 3), torch.tensor([0, 1])))  # one wrong entry of 3 per row
    0.3333333432674408
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from icml22dl.validation import check_int

__all__ = ["OneHotMSELoss"]


class OneHotMSELoss(nn.Module):
    """``mean((logits - one_hot(y, K))^2)`` over every entry of the N x K logits.

    Args:
        num_classes: K (>= 2).

    Shape: logits (N, K), targets (N,) integers in [0, K); returns a 0-d tensor.

    References: Zhou et al., ICML 2022, Sec. 5 (``Rescale_Square_Loss`` with k = M = 1);
    Tirer & Bruna, ICML 2022.

    Example:
        >>> OneHotMSELoss(2)(torch.tensor([[1.0, 1.0]]), torch.tensor([1])).item()
        0.5
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_int("num_classes", num_classes, low=2)
        self.num_classes = num_classes

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        one_hot = nn.functional.one_hot(targets, self.num_classes).to(torch.float32)
        return ((logits - one_hot) ** 2).mean()
