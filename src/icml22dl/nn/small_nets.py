"""Small CPU-scale classifiers: the MNIST CNN of the ACG quick check and a plain MLP."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class SmallConvNet(nn.Module):
    """conv(1->16, 4x4, s2, p1) - ReLU - conv(16->32, same) - ReLU - FC(32 (H/4)(W/4) -> 100) - ReLU - FC(100 -> C).

    The small MNIST model of Wong & Kolter / Madry-style adversarial-training baselines, used
    by the ``acg`` quick check (card 09). Inputs are images in [0, 1].

    Args:
        in_channels: image channels (MNIST 1).
        num_classes: output classes.
        image_size: side of the square input (28: FC input 1568).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size={image_size} must be divisible by 4")
        side = image_size // 4
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * side * side, 100),
            nn.ReLU(),
            nn.Linear(100, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MLPClassifier(nn.Module):
    """Flatten, then Linear-ReLU layers of the given widths and a final Linear (e.g. 64-512-512-10).

    Args:
        sizes: input dimension, hidden widths..., number of classes (at least 2 entries).
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"sizes={list(sizes)} must hold at least 2 positive widths")
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
