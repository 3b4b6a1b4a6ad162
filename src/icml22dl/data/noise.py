"""Synthetic label noise (symmetric and class-dependent), drawn from a seeded torch.Generator."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch

from icml22dl.validation import check_int, check_probability

#: CIFAR-10 class-dependent noise (Patrini et al., 2017): truck -> automobile,
#: bird -> airplane, deer -> horse, cat <-> dog.
CIFAR10_ASYMMETRIC: Mapping[int, int] = MappingProxyType({9: 1, 2: 0, 4: 7, 3: 5, 5: 3})

#: MNIST class-dependent noise (Patrini et al., 2017): 2 -> 7, 3 -> 8, 5 <-> 6, 7 -> 1.
MNIST_ASYMMETRIC: Mapping[int, int] = MappingProxyType({2: 7, 3: 8, 5: 6, 6: 5, 7: 1})

_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _check_labels(labels: torch.Tensor) -> None:
    """Raise ValueError unless ``labels`` is a 1-D integer tensor of non-negative classes."""
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype not in _INTEGER_DTYPES:
        raise ValueError(f"labels must be a 1-D integer tensor, got {getattr(labels, 'dtype', type(labels))}")
    if labels.numel() and labels.min() < 0:
        raise ValueError(f"labels must be non-negative, got minimum {labels.min().item()}")


def _uniform(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Draw one U[0, 1) number per label on the generator's device, moved to the labels' device."""
    return torch.rand(labels.shape, generator=generator, device=generator.device).to(labels.device)


def symmetric_noise(
    labels: torch.Tensor,
    rate: float,
    num_classes: int,
    generator: torch.Generator,
    include_true_class: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply symmetric (class-independent) label noise.

    Each label is independently selected with probability ``rate`` and replaced by a
    class drawn uniformly from all ``num_classes`` classes (``include_true_class=True``:
    a selected label stays correct with probability 1/C, so the realised flip rate is
    ``rate * (C - 1) / C``) or from the ``C - 1`` other classes
    (``include_true_class=False``: the realised flip rate is ``rate``). The generator is
    consumed identically for every rate, so the same seed gives nested noise sets.

    Args:
        labels: 1-D integer tensor with values in ``[0, num_classes)``.
        rate: Selection probability, in [0, 1].
        num_classes: Number of classes C (>= 2).
        generator: Seeded source of randomness.
        include_true_class: Whether the replacement may be the true class.

    Returns:
        ``(noisy_labels, is_noisy)``: labels of the input's dtype, and a boolean mask of
        the labels that differ from the input.

    Raises:
        ValueError: If ``rate``, ``num_classes`` or ``labels`` is invalid.

    References:
        The symmetric noise of the label-noise benchmarks (Patrini et al., CVPR 2017; used by
        Liu et al., ICML 2022, Sec. 5, for SOP).

    Example:
        >>> labels = torch.arange(10)
        >>> g = torch.Generator().manual_seed(0)
        >>> noisy, flipped = symmetric_noise(labels, 1.0, 10, g, include_true_class=False)
        >>> bool(flipped.all()), bool((noisy != labels).all())
        (True, True)
        >>> symmetric_noise(labels, 0.0, 10, g, include_true_class=True)[0].tolist() == labels.tolist()
        True
    """
    check_probability("rate", rate)
    check_int("num_classes", num_classes, low=2)
    _check_labels(labels)
    if labels.numel() and labels.max() >= num_classes:
        raise ValueError(f"labels hold class {labels.max().item()}, outside num_classes={num_classes}")
    selected = _uniform(labels, generator) < rate
    draw = _uniform(labels, generator)
    if include_true_class:
        replacement = (draw * num_classes).long().clamp_max(num_classes - 1)
    else:
        offset = 1 + (draw * (num_classes - 1)).long().clamp_max(num_classes - 2)
        replacement = (labels + offset) % num_classes
    noisy = torch.where(selected, replacement.to(labels.dtype), labels)
    return noisy, noisy != labels


def asymmetric_noise(
    labels: torch.Tensor,
    rate: float,
    mapping: Mapping[int, int],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply class-dependent label noise along a fixed class mapping.

    Each label whose class ``c`` is a key of ``mapping`` is independently replaced by
    ``mapping[c]`` with probability ``rate``; labels of other classes never change.
    Presets: :data:`CIFAR10_ASYMMETRIC`, :data:`MNIST_ASYMMETRIC`.

    Args:
        labels: 1-D integer tensor of non-negative classes.
        rate: Flip probability, in [0, 1].
        mapping: Source class -> target class (non-negative integers).
        generator: Seeded source of randomness.

    Returns:
        ``(noisy_labels, is_noisy)``: labels of the input's dtype, and a boolean mask of
        the labels that differ from the input.

    Raises:
        ValueError: If ``rate``, ``mapping`` or ``labels`` is invalid.

    References:
        The class-dependent ("asymmetric") noise of Patrini et al., CVPR 2017, with their
        CIFAR-10 and MNIST class maps; used by Liu et al., ICML 2022, Sec. 5.

    Example:
        >>> labels = torch.tensor([2, 3, 4, 7])
        >>> noisy, flipped = asymmetric_noise(labels, 1.0, MNIST_ASYMMETRIC, torch.Generator().manual_seed(0))
        >>> noisy.tolist(), flipped.tolist()
        ([7, 8, 4, 1], [True, True, False, True])
    """
    check_probability("rate", rate)
    _check_labels(labels)
    for source, target in mapping.items():
        if not isinstance(source, int) or not isinstance(target, int) or source < 0 or target < 0:
            raise ValueError(f"mapping entry {source!r} -> {target!r} is not between non-negative class ids")
    size = max([*mapping, *mapping.values(), int(labels.max()) if labels.numel() else 0]) + 1
    table = torch.arange(size, device=labels.device)
    for source, target in mapping.items():
        table[source] = target
    selected = _uniform(labels, generator) < rate
    noisy = torch.where(selected, table[labels.long()].to(labels.dtype), labels)
    return noisy, noisy != labels
