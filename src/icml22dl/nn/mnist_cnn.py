"""CNN2, the two-convolution MNIST network of the EFLD experiments, and torch's default init from a generator."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["CNN2", "default_init_"]


class CNN2(nn.Module):
    r"""Two 5x5 convolutions with max pooling and two fully connected layers, for 28 x 28 grey images.

    ``conv5x5(1 -> 32) - ReLU - maxpool2 - conv5x5(32 -> 64) - ReLU - maxpool2 - FC(1024 -> 1024) - ReLU -``
    ``FC(1024 -> 10)`` (no padding: 28 -> 24 -> 12 -> 8 -> 4, so the first FC layer sees 64 * 4 * 4 = 1024 features).
    Inputs of any shape with 784 entries per example (flattened images) are viewed as (N, 1, 28, 28).

    Args:
        num_classes: outputs (>= 1).

    Returns:
        ``forward(x)`` maps (N, 784) or (N, 1, 28, 28) inputs to (N, num_classes) logits.

    Example:
        >>> net = CNN2()
        >>> net(torch.zeros(2, 784)).shape
        torch.Size([2, 10])
        >>> sum(p.numel() for p in net.parameters())
        1111946

    References:
        Banerjee et al., "Stability based generalization bounds for exponential family Langevin
        dynamics", ICML 2022: the MNIST CNN of the experiments (docs/papers/efld.md#defaults), as the
        third-party SGLD bound code builds it (conv 32 and 64 filters of 5x5, FC 1024).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes={num_classes!r} is out of range: must be an integer >= 1")
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 1024),
            nn.ReLU(),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x.reshape(-1, 1, 28, 28))


@torch.no_grad()
def default_init_(model: nn.Module, generator: torch.Generator | None) -> nn.Module:
    r"""Re-draw every ``nn.Linear`` and ``nn.Conv2d`` of ``model`` as torch's default init, from ``generator``.

    Per layer, in ``model.modules()`` order: the weight from ``kaiming_uniform_(a = sqrt(5))``,
    i.e. :math:`U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`, then the bias (when
    present) from the same uniform law; the draws come from ``generator`` only, so the
    initialisation is reproducible from a run's seed and leaves torch's global generator alone.

    Args:
        model: modified in place.
        generator: the CPU generator of the draws (on the parameters' device).

    Returns:
        ``model``.

    Example:
        >>> a = default_init_(nn.Linear(4, 3), torch.Generator().manual_seed(0))
        >>> b = default_init_(nn.Linear(4, 3), torch.Generator().manual_seed(0))
        >>> torch.equal(a.weight, b.weight) and bool(a.weight.abs().max() <= 0.5)
        True

    References:
        ``torch.nn.Linear.reset_parameters`` and ``torch.nn.Conv2d.reset_parameters`` (PyTorch's
        default initialisation), with the ``generator`` argument of ``torch.nn.init``.
    """
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return model
