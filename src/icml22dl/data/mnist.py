"""MNIST from the four original IDX files (gzip), as uint8 images and int64 labels."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from icml22dl.data.checksums import verified_path
from icml22dl.data.download import fetch
from icml22dl.validation import check_choice, check_int

#: IDX type code (third byte of the magic number) -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_FILES = {
    "train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a numpy array.

    The magic number is two zero bytes, a type code (see :data:`IDX_DTYPES`) and the
    number of dimensions; then one big-endian uint32 per dimension, then the data.
    Gzip is detected from the file's first bytes, not its name.

    Args:
        path: The IDX file.

    Returns:
        The array, in native byte order, with the shape given by the header.

    Raises:
        ValueError: On a bad magic number or a data size that disagrees with the header;
            the message names the file.

    References:
        The IDX format of LeCun, Cortes & Burges, "The MNIST database of handwritten digits"
        (http://yann.lecun.com/exdb/mnist/).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "labels.idx"
        >>> _ = path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))  # uint8, 1-D, 3 items
        >>> read_idx(path)
        array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if compressed else open(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES or raw[3] == 0:
        raise ValueError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or 'empty'}")
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header, {len(raw)} bytes for {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: header shape {shape} needs {expected} bytes, file holds {len(raw)}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_mnist(
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the MNIST train (60,000) or test (10,000) split in canonical order.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: An explicit data folder (holding ``mnist/``), or None for the default.
        download: Download missing files from the ossci-datasets mirror.

    Returns:
        ``(images, labels)``: uint8 tensor (N, 28, 28) with values 0..255, int64 tensor (N,).

    Raises:
        ValueError: If ``split`` is unknown or the files are inconsistent.
        FileNotFoundError: If a file is missing and ``download`` is False.

    References:
        LeCun, Cortes & Burges, "The MNIST database of handwritten digits" (the four IDX
        files, see :func:`read_idx`).

    Example:
        >>> import tempfile
        >>> load_mnist("validation")
        Traceback (most recent call last):
        ValueError: split='validation' is not allowed: choose one of ['train', 'test']
        >>> load_mnist("test", data_dir=tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        FileNotFoundError: data file .../mnist/t10k-images-idx3-ubyte.gz not found. ...
        >>> images, labels = load_mnist("test")  # with the data present  # doctest: +SKIP
    """
    check_choice("split", split, tuple(_FILES))
    locate = fetch if download else verified_path
    image_path, label_path = (locate(relpath, data_dir) for relpath in _FILES[split])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_path}: expected uint8 images (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.shape != images.shape[:1] or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{label_path}: expected {len(images)} labels in 0..9, got shape {labels.shape}")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


#: Mean and standard deviation of the MNIST training pixels in [0, 1].
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def mnist_split(
    train_size: int,
    test_size: int,
    generator: torch.Generator,
    source: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random, normalised MNIST train and test subsets drawn from ``generator``.

    Args:
        train_size, test_size: subset sizes.
        generator: the seeded generator the subsets are drawn from.
        source: ``"train"``: training images from the 60,000 train split, test images from the
            10,000 test split; ``"test"``: both drawn, disjoint, from the test split (a small,
            fast stand-in).
        data_dir: as in :func:`load_mnist`.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: float32 images (N, 28, 28) normalised with
        :data:`MNIST_MEAN` and :data:`MNIST_STD`, int64 labels.

    References:
        MNIST (LeCun et al.); the normalisation constants of the PyTorch MNIST example
        (mean 0.1307, std 0.3081).

    Example:
        >>> mnist_split(10, 10, torch.Generator(), source="val")
        Traceback (most recent call last):
        ValueError: source='val' is not allowed: choose one of ['train', 'test']
        >>> x, y, x_test, y_test = mnist_split(1000, 500, torch.Generator().manual_seed(0))  # doctest: +SKIP
    """
    check_int("train_size", train_size, low=0)
    check_int("test_size", test_size, low=0)
    check_choice("source", source, ("train", "test"))
    x_test, y_test = load_mnist("test", data_dir)
    if source == "test":
        if train_size + test_size > len(x_test):
            raise ValueError(f"train_size + test_size = {train_size + test_size} exceeds the {len(x_test)} test images")
        perm = torch.randperm(len(x_test), generator=generator)
        train, test = perm[:train_size], perm[train_size : train_size + test_size]
        x_train, y_train = x_test, y_test
    else:
        x_train, y_train = load_mnist("train", data_dir)
        train = torch.randperm(len(x_train), generator=generator)[:train_size]
        test = torch.randperm(len(x_test), generator=generator)[:test_size]

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255 - MNIST_MEAN) / MNIST_STD

    return normalise(x_train[train]), y_train[train], normalise(x_test[test]), y_test[test]


def mnist_as_rgb32(x: torch.Tensor) -> torch.Tensor:
    """Normalised MNIST (B, 28, 28) -> (B, 3, 32, 32): padded with black (in normalised units)
    to 32 x 32 and the channel repeated, the input shape of CIFAR-style networks.

    References:
        The 32 x 32 x 3 input of CIFAR-style networks (Krizhevsky, 2009); MNIST's
        normalisation constants :data:`MNIST_MEAN`, :data:`MNIST_STD`.

    Example:
        >>> black = -MNIST_MEAN / MNIST_STD
        >>> out = mnist_as_rgb32(torch.full((2, 28, 28), black))
        >>> out.shape, bool((out == black).all())
        (torch.Size([2, 3, 32, 32]), True)
    """
    x = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-MNIST_MEAN / MNIST_STD)
    return x[:, None].expand(-1, 3, -1, -1)
