"""MNIST-1D (Greydanus, 2020), generated locally with the ``mnist1d`` package."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from icml22dl.validation import check_int, check_number

#: Generator arguments of ``mnist1d.data.get_dataset_args`` that may be overridden.
OVERRIDABLE: tuple[str, ...] = (
    "template_len",
    "padding",
    "scale_coeff",
    "max_translation",
    "corr_noise_scale",
    "iid_noise_scale",
    "shear_scale",
    "shuffle_seq",
    "final_seq_length",
)


def load_mnist1d(
    num_samples: int = 5000,
    seed: int = 42,
    train_split: float = 0.8,
    **overrides: Any,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Generate MNIST-1D with ``mnist1d.data.make_dataset`` (never downloads).

    The defaults reproduce the published data set (4,000 train, 1,000 test sequences of
    length 40). ``make_dataset`` makes ``num_samples // 10`` samples per class and
    reseeds the global ``random`` and ``numpy`` generators; their previous states are
    restored afterwards. Needs the ``mnist1d`` package (optional extra ``datasets``).

    Args:
        num_samples: Total number of samples (rounded down to a multiple of 10), >= 10.
        seed: Seed of the generator.
        train_split: Fraction of samples in the train split, in (0, 1).
        **overrides: Other generator arguments, named in :data:`OVERRIDABLE`.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: float32 tensors (N, final_seq_length)
        and int64 label tensors (N,).

    Raises:
        ValueError: If an argument is out of range or an override is unknown.
        ImportError: If ``mnist1d`` is missing.

    References:
        Greydanus & Kobak, "Scaling down deep learning with MNIST-1D" (ICML 2024; arXiv
        2011.14439), and its ``mnist1d`` package.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_mnist1d(num_samples=100)
        >>> x_train.shape, x_test.shape
        (torch.Size([80, 40]), torch.Size([20, 40]))
        >>> load_mnist1d(num_samples=5)
        Traceback (most recent call last):
        ValueError: num_samples=5 is out of range: must be >= 10
    """
    check_int("num_samples", num_samples, low=10)
    check_int("seed", seed, low=0)
    check_number("train_split", train_split, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown MNIST-1D arguments {unknown}; allowed: {OVERRIDABLE}")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise ImportError("load_mnist1d needs mnist1d: pip install icml22dl[datasets]") from err
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, train_split
    for name, value in overrides.items():
        setattr(args, name, value)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)

    def tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Convert one split to (float32, int64) tensors."""
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))

    return tensors(data["x"], data["y"]), tensors(data["x_test"], data["y_test"])
