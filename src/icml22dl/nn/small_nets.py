"""Small CPU-scale classifiers: the MNIST CNN of the ACG quick check and a plain MLP."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from icml22dl.validation import check_int


class SmallConvNet(nn.Module):
    """conv(1->16, 4x4, s2, p1) - ReLU - conv(16->32, same) - ReLU - FC(32 (H/4)(W/4) -> 100) - ReLU - FC(100 -> C).

    The small MNIST model of Wong & Kolter / Madry-style adversarial-training baselines, used
    by the ``acg`` quick check. Inputs are images in [0, 1]; default torch initialisation
    (from the global generator: seed it around the construction).

    Args:
        in_channels: image channels (MNIST 1).
        num_classes: output classes.
        image_size: side of the square input (28: FC input 1568).

    Example:
        >>> import torch
        >>> net = SmallConvNet()
        >>> net(torch.rand(2, 1, 28, 28)).shape, sum(p.numel() for p in net.parameters())
        (torch.Size([2, 10]), 166406)

    References:
        Wong & Kolter, "Provable defenses against adversarial examples via the convex outer
        adversarial polytope", ICML 2018 (the MNIST model: two 4 x 4 stride-2 convs, FC 100);
        docs/papers/acg.md#defaults.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        check_int("in_channels", in_channels, low=1)
        check_int("num_classes", num_classes, low=1)
        check_int("image_size", image_size, low=4)
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

    Example:
        >>> import torch
        >>> model = MLPClassifier([64, 512, 512, 10])
        >>> model(torch.zeros(5, 8, 8)).shape
        torch.Size([5, 10])
        >>> sum(isinstance(m, nn.Linear) for m in model.modules())
        3

    References:
        The quick-scale networks of two papers: SOP (Liu et al., ICML 2022) on 8x8 digits,
        64-512-512-10 (docs/papers/sop.md#defaults); Adai (Xie et al., ICML 2022) on MNIST,
        784-128-10 (docs/papers/adai.md#defaults). PyTorch's default ``nn.Linear`` init.
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
