"""Deterministic input transforms on image tensors (the random ones are in :mod:`icml22dl.data.augment`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "ChannelStandardize"]

#: The per-channel mean and std of CIFAR-10 in [0, 1] used by most CIFAR training code
#: (kuangliu/pytorch-cifar; the Adai official notebook).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


class ChannelStandardize:
    """Scale images with values in 0..255 to [0, 1], then standardise each channel: ``(x / 255 - mean) / std``.

    The statistics are given (e.g. :data:`CIFAR10_MEAN`, :data:`CIFAR10_STD`) or taken from a
    reference set with :meth:`fit`.

    Args:
        mean: (C,) per-channel means in [0, 1] units (or a tensor that reshapes to it).
        std: (C,) per-channel standard deviations in [0, 1] units, all > 0.

    Example:
        >>> images = torch.randint(0, 256, (20, 3, 4, 4), dtype=torch.uint8)
        >>> out = ChannelStandardize.fit(images)(images)
        >>> bool(out.mean(dim=(0, 2, 3)).abs().max() < 1e-5), bool((out.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-5)
        (True, True)
        >>> ChannelStandardize((0.5,), (0.5,))(torch.full((1, 1, 1, 1), 255.0)).item()
        1.0

    References:
        torchvision's ``transforms.Normalize(mean, std)`` after ``ToTensor()``. The SOP CIFAR-10
        run standardises with its training split's statistics (Liu et al., ICML 2022;
        docs/papers/sop.md#defaults), the Adai one with :data:`CIFAR10_MEAN`/:data:`CIFAR10_STD`
        (Xie et al., ICML 2022, official notebook).
    """

    def __init__(self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean and std differ in length: {self.mean.numel()} != {self.std.numel()}")
        if not bool((self.std > 0).all()):
            raise ValueError(f"std={self.std.flatten().tolist()} is out of range: must be > 0")

    @classmethod
    def fit(cls, reference: Tensor) -> ChannelStandardize:
        """The transform with the per-channel mean and (unbiased) std of ``reference`` (N, C, H, W), in float32."""
        if reference.ndim != 4 or len(reference) < 2:
            raise ValueError(f"reference must have shape (N >= 2, C, H, W), got {tuple(reference.shape)}")
        mean = reference.float().mean(dim=(0, 2, 3), keepdim=True) / 255
        std = reference.float().std(dim=(0, 2, 3), keepdim=True) / 255
        return cls(mean, std)

    def __call__(self, x: Tensor) -> Tensor:
        """``(x / 255 - mean) / std`` in float32, on ``x``'s device; ``x`` is (N, C, H, W)."""
        return (x.float() / 255 - self.mean.to(x.device)) / self.std.to(x.device)
