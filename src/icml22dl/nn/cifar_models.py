"""CIFAR-sized ResNet-18 and VGG-19-BN, the paper-scale models of Jelassi & Li (ICML 2022)."""

from __future__ import annotations

from torch import Tensor, nn

from icml22dl.validation import check_int

__all__ = ["BasicBlock", "ResNetCIFAR", "VGGCIFAR", "resnet18_cifar", "vgg19_bn"]

VGG19_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


class BasicBlock(nn.Module):
    r"""ResNet basic block: two 3x3 conv-BN layers and a shortcut, then ReLU.

    .. math::
        y = \mathrm{relu}\big(\mathrm{bn}_2(\mathrm{conv}_2\,
            \mathrm{relu}(\mathrm{bn}_1(\mathrm{conv}_1 x))) + s(x)\big)

    The shortcut :math:`s` is the identity, or a strided 1x1 convolution with BatchNorm when the
    stride or the width changes (He et al., 2016, option B).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the first 3x3 convolution and of the shortcut.

    Returns:
        ``forward(x)`` maps ``(B, in_channels, H, W)`` to ``(B, out_channels, H / stride, W / stride)``.

    Example:
        >>> import torch
        >>> BasicBlock(64, 128, stride=2)(torch.randn(1, 64, 8, 8)).shape
        torch.Size([1, 128, 4, 4])

    References:
        K. He, X. Zhang, S. Ren, J. Sun. Deep residual learning for image recognition. CVPR 2016.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """CIFAR ResNet: 3x3 stem (no max-pool), four stages of basic blocks, global average pool, linear.

    Args:
        blocks: basic blocks per stage; widths are 64, 128, 256, 512 with strides 1, 2, 2, 2.
        num_classes: output classes.

    Returns:
        ``forward(x)`` maps ``(B, 3, 32, 32)`` images to logits ``(B, num_classes)``.

    Example:
        >>> import torch
        >>> ResNetCIFAR((2, 2, 2, 2))(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])

    References:
        K. He, X. Zhang, S. Ren, J. Sun. Deep residual learning for image recognition. CVPR 2016.
    """

    def __init__(self, blocks: tuple[int, int, int, int], num_classes: int = 10) -> None:
        super().__init__()
        check_int("num_classes", num_classes, low=1)
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        in_channels = 64
        for width, stride, count in zip((64, 128, 256, 512), (1, 2, 2, 2), blocks):
            layers = []
            for i in range(count):
                layers.append(BasicBlock(in_channels, width, stride if i == 0 else 1))
                in_channels = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


class VGGCIFAR(nn.Module):
    """CIFAR VGG with BatchNorm: 3x3 conv-BN-ReLU layers and 2x2 max-pools, then one linear layer.

    Args:
        config: channel widths, with ``"M"`` for a 2x2 max-pool; five pools take 32x32 to 1x1.
        num_classes: output classes.

    Returns:
        ``forward(x)`` maps ``(B, 3, 32, 32)`` images to logits ``(B, num_classes)``.

    Example:
        >>> import torch
        >>> VGGCIFAR(VGG19_CONFIG)(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])

    References:
        K. Simonyan, A. Zisserman. Very deep convolutional networks for large-scale image
        recognition. ICLR 2015. S. Ioffe, C. Szegedy. Batch normalization. ICML 2015.
    """

    def __init__(self, config: tuple[int | str, ...], num_classes: int = 10) -> None:
        super().__init__()
        check_int("num_classes", num_classes, low=1)
        layers: list[nn.Module] = []
        in_channels = 3
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                width = int(item)
                conv = nn.Conv2d(in_channels, width, 3, padding=1)
                layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                in_channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


def resnet18_cifar(num_classes: int = 10) -> ResNetCIFAR:
    """Standard CIFAR ResNet-18 (11,173,962 parameters at 10 classes), used by Jelassi & Li (ICML 2022).

    3x3 stem convolution with 64 channels and no max-pool, basic blocks [2, 2, 2, 2] with widths
    64-128-256-512, global average pool, ``Linear(512, num_classes)``.

    Args:
        num_classes: output classes, in ``[1, inf)``.

    Returns:
        The model, PyTorch default initialisation.

    Example:
        >>> import torch
        >>> resnet18_cifar()(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])

    References:
        K. He et al. Deep residual learning for image recognition. CVPR 2016. S. Jelassi, Y. Li.
        ICML 2022, arXiv:2207.05931 (Section 2 experiments).
    """
    return ResNetCIFAR((2, 2, 2, 2), num_classes)


def vgg19_bn(num_classes: int = 10) -> VGGCIFAR:
    """CIFAR VGG-19 with BatchNorm (20,040,522 parameters at 10 classes), used by Jelassi & Li (ICML 2022).

    Configuration [64, 64, M, 128, 128, M, 256 x4, M, 512 x4, M, 512 x4, M] of biased 3x3 convolutions
    each followed by BatchNorm and ReLU, then ``Linear(512, num_classes)``.

    Args:
        num_classes: output classes, in ``[1, inf)``.

    Returns:
        The model, PyTorch default initialisation.

    Example:
        >>> import torch
        >>> vgg19_bn()(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])

    References:
        K. Simonyan, A. Zisserman. ICLR 2015. S. Jelassi, Y. Li. ICML 2022, arXiv:2207.05931
        (Section 2 experiments).
    """
    return VGGCIFAR(VGG19_CONFIG, num_classes)
