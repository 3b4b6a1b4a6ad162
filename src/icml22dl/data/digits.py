"""scikit-learn's 8x8 handwritten digits (1,797 images), shipped with the package."""

from __future__ import annotations

import os

import numpy as np
import torch


def load_digits(data_dir: str | os.PathLike[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the 1,797 8x8 digit images of ``sklearn.datasets.load_digits``.

    Pixel values 0..16 are divided by 16. Needs scikit-learn (optional extra
    ``datasets``).

    Args:
        data_dir: Unused (scikit-learn ships the data); accepted so that every loader
            of the registry takes it.

    Returns:
        ``(images, labels)``: float32 tensor (1797, 8, 8) in [0, 1], int64 tensor (1797,).

    Raises:
        ImportError: If scikit-learn is missing.

    References:
        The UCI "Optical recognition of handwritten digits" test set (Alpaydin & Kaynak,
        1998), as shipped by scikit-learn.

    Example:
        >>> images, labels = load_digits()
        >>> images.shape, float(images.max()) <= 1.0, labels[:5].tolist()
        (torch.Size([1797, 8, 8]), True, [0, 1, 2, 3, 4])
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as err:
        raise ImportError("load_digits needs scikit-learn: pip install icml22dl[datasets]") from err
    bunch = sklearn_load_digits()
    images = torch.from_numpy((bunch.images / 16.0).astype(np.float32))
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return images, labels
