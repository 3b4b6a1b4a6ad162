"""CIFAR-10 from the canonical python tarball or from a JPEG pack.

The JPEG pack (``cifar10-jpeg/{train,test}.tar.gz``) is LOSSY: the images were
re-encoded as JPEG at about quality 75, and they are not in the canonical order (they
are returned sorted by class, then file name). Accuracies on it can differ slightly from
those on the original data; say so wherever a result uses it. The canonical
``cifar-10-python.tar.gz`` holds the original pixels in the canonical order.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from icml22dl.data.checksums import SHA256, verified_path
from icml22dl.data.download import fetch
from icml22dl.data.root import cache_dir, data_root
from icml22dl.data.safe_pickle import safe_load
from icml22dl.validation import check_choice

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

PYTHON_TARBALL = "cifar-10-python.tar.gz"
_SPLITS = ("train", "test")
_SOURCES = ("auto", "jpeg", "python")
_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_IMAGE_SHAPE = (32, 32, 3)


def _require_pillow() -> Any:
    """Import and return ``PIL.Image``, or explain how to install it."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError("reading the CIFAR-10 JPEG pack needs Pillow: pip install icml22dl[images]") from err
    return Image


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, path: str | os.PathLike[str]) -> bytes:
    """The bytes of one regular file of a tar archive."""
    handle = archive.extractfile(member)
    if handle is None:
        raise ValueError(f"{path}: member {member.name!r} is not a regular file")
    return handle.read()


def _batch_arrays(batch: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one unpickled CIFAR batch dict and return (images NHWC, labels)."""
    if not isinstance(batch, dict):
        raise ValueError(f"{name} does not hold a dict (got {type(batch).__name__})")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{name} lacks 'data' or 'labels' (keys: {sorted(batch)})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != data.shape[:1]:
        raise ValueError(
            f"{name}: expected uint8 data (N, 3072) and N labels, got {data.dtype} {data.shape}, {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise ValueError(f"{name}: labels outside 0..{len(CIFAR10_CLASSES) - 1}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar10_python(path: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split from a CIFAR-10 python tarball (no checksum check).

    The batches (``cifar-10-batches-py/data_batch_1..5`` or ``test_batch``) are pickled
    dicts; they are read with the restricted unpickler and concatenated in order.

    Args:
        path: The tarball (the canonical ``cifar-10-python.tar.gz`` or one in its format).
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels)``: uint8 array (N, 32, 32, 3), int64 array (N,).

    Raises:
        ValueError: If ``split`` is unknown or a batch is missing or malformed.

    References:
        The CIFAR-10 python archive layout (Krizhevsky, 2009, "Learning multiple layers of
        features from tiny images"; https://www.cs.toronto.edu/~kriz/cifar.html): pickled
        dicts with ``data`` (N, 3072) uint8, channel-major, and ``labels``.

    Example:
        >>> import io, pickle, tempfile
        >>> batch = {b"data": np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072), b"labels": [3, 5]}
        >>> payload = pickle.dumps(batch, protocol=2)
        >>> path = Path(tempfile.mkdtemp()) / "tiny-cifar.tar.gz"
        >>> with tarfile.open(path, "w:gz") as archive:
        ...     member = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        ...     member.size = len(payload)
        ...     archive.addfile(member, io.BytesIO(payload))
        >>> images, labels = read_cifar10_python(path, "test")
        >>> images.shape, labels.tolist(), int(images[0, 0, 1, 0])  # HWC: pixel (0, 1), red channel
        ((2, 32, 32, 3), [3, 5], 1)
    """
    check_choice("split", split, _SPLITS)
    wanted = _BATCHES[split]
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tarfile.open(path, "r|gz") as archive:
        for member in archive:
            base = PurePosixPath(member.name).name
            if member.isfile() and base in wanted:
                data = _read_member(archive, member, path)
                batches[base] = _batch_arrays(safe_load(data), f"{path}:{member.name}")
    missing = [name for name in wanted if name not in batches]
    if missing:
        raise ValueError(f"{path} lacks the CIFAR-10 batches {missing}")
    images = np.concatenate([batches[name][0] for name in wanted])
    labels = np.concatenate([batches[name][1] for name in wanted])
    return np.ascontiguousarray(images), labels


def read_cifar10_jpeg(path: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one split of the CIFAR-10 JPEG pack (no checksum check, no cache).

    Members must be ``<split>/<class>/<name>.jpg``; images are returned sorted by
    (class index, member name), so the order is deterministic (not the canonical one).
    Needs Pillow (``pip install icml22dl[images]``). A progress bar is shown on a TTY.

    Args:
        path: ``train.tar.gz`` or ``test.tar.gz`` of the pack.
        split: ``"train"`` or ``"test"``: the expected top-level folder of the members.

    Returns:
        ``(images, labels)``: uint8 array (N, 32, 32, 3), int64 array (N,).

    Raises:
        ImportError: If Pillow is missing.
        ValueError: If ``split`` is unknown, a member is unexpected or an image is not 32x32.

    References:
        CIFAR-10 (Krizhevsky, 2009) re-encoded as JPEG (ISO/IEC 10918-1) in a gzip tar of
        ``<split>/<class>/<name>.jpg`` members; decoded with Pillow.

    Example:
        >>> import io, tempfile
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "test.tar.gz"
        >>> with tarfile.open(path, "w:gz") as archive:
        ...     for name in ("cat/b.jpg", "airplane/a.jpg"):
        ...         buffer = io.BytesIO()
        ...         Image.new("RGB", (32, 32), (200, 10, 10)).save(buffer, format="JPEG")
        ...         member = tarfile.TarInfo("test/" + name)
        ...         member.size = buffer.tell()
        ...         _ = buffer.seek(0)
        ...         archive.addfile(member, buffer)
        >>> images, labels = read_cifar10_jpeg(path, "test")
        >>> images.shape, labels.tolist()  # sorted by class: airplane (0) before cat (3)
        ((2, 32, 32, 3), [0, 3])
    """
    check_choice("split", split, _SPLITS)
    image_module = _require_pillow()
    class_index = {name: i for i, name in enumerate(CIFAR10_CLASSES)}
    entries: list[tuple[int, str, bytes]] = []
    with tarfile.open(path, "r|gz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            parts = PurePosixPath(member.name).parts
            if len(parts) != 3 or parts[0] != split or parts[1] not in class_index or not parts[2].endswith(".jpg"):
                raise ValueError(f"{path}: unexpected member {member.name!r}, expected '{split}/<class>/<name>.jpg'")
            entries.append((class_index[parts[1]], parts[2], _read_member(archive, member, path)))
    if not entries:
        raise ValueError(f"{path} holds no images")
    entries.sort(key=lambda entry: entry[:2])
    images = np.empty((len(entries), *_IMAGE_SHAPE), dtype=np.uint8)
    for i, (_, name, data) in enumerate(tqdm(entries, desc=f"decoding CIFAR-10 {split}", disable=None)):
        with image_module.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"))
        if pixels.shape != _IMAGE_SHAPE:
            raise ValueError(f"{path}: {name} has shape {pixels.shape}, expected {_IMAGE_SHAPE}")
        images[i] = pixels
    labels = np.array([entry[0] for entry in entries], dtype=np.int64)
    return images, labels


def _save_atomic(array: np.ndarray, dest: Path) -> None:
    """Write ``array`` as .npy to a temporary file beside ``dest``, then rename it into place."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_jpeg_cached(split: str, data_dir: str | os.PathLike[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a JPEG-pack split, reusing (or writing) the .npy cache keyed by the tarball's sha256.

    The cache is :func:`~icml22dl.data.root.cache_dir` (``$ICML22DL_CACHE``, else
    ``~/.cache/icml22dl/cache``), never the data root of ``data_dir``.
    """
    relpath = f"cifar10-jpeg/{split}.tar.gz"
    tarball = verified_path(relpath, data_dir)
    folder = cache_dir()
    if folder is None:
        warnings.warn("no writable cache folder: the decoded CIFAR-10 JPEGs are not cached", stacklevel=3)
        return read_cifar10_jpeg(tarball, split)
    stem = f"cifar10-jpeg-{split}-{SHA256[relpath]}"
    images_file, labels_file = folder / f"{stem}-images.npy", folder / f"{stem}-labels.npy"
    if images_file.is_file() and labels_file.is_file():
        images, labels = np.load(images_file), np.load(labels_file)
        if images.dtype != np.uint8 or images.shape[1:] != _IMAGE_SHAPE or labels.shape != images.shape[:1]:
            raise ValueError(f"cache {images_file} is malformed: delete it and {labels_file}")
        return images, labels
    images, labels = read_cifar10_jpeg(tarball, split)
    try:
        _save_atomic(labels, labels_file)
        _save_atomic(images, images_file)
    except OSError as err:
        warnings.warn(f"could not write the CIFAR-10 cache in {folder}: {err}", stacklevel=3)
    return images, labels


def load_cifar10(
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    download: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the CIFAR-10 train (50,000) or test (10,000) split.

    Sources: ``"python"`` reads the canonical ``<data_root>/cifar-10-python.tar.gz``
    (original pixels, canonical order). ``"jpeg"`` reads the JPEG pack
    ``<data_root>/cifar10-jpeg/<split>.tar.gz``, which is LOSSY (JPEG quality about 75)
    and not in canonical order (sorted by class, then file name); its decoded arrays are
    cached as .npy in the cache folder ``$ICML22DL_CACHE`` (else ``~/.cache/icml22dl/cache``;
    never the data root), keyed by the tarball's sha256. ``"auto"`` uses the python
    tarball if it is present (or ``download`` is set), else the JPEG pack.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: An explicit data folder, or None for the default.
        source: ``"auto"``, ``"jpeg"`` or ``"python"``.
        download: Download the python tarball if missing (the JPEG pack has no download).

    Returns:
        ``(images, labels)``: uint8 tensor (N, 32, 32, 3) (HWC, RGB), int64 tensor (N,);
        label ``i`` is ``CIFAR10_CLASSES[i]``.

    Raises:
        ValueError: If ``split`` or ``source`` is unknown.
        FileNotFoundError: If the needed files are missing.
        ImportError: If the JPEG pack is used and Pillow is missing.

    References:
        Krizhevsky (2009), "Learning multiple layers of features from tiny images"; the
        python archive layout of https://www.cs.toronto.edu/~kriz/cifar.html.

    Example:
        >>> import tempfile
        >>> load_cifar10("val")
        Traceback (most recent call last):
        ValueError: split='val' is not allowed: choose one of ['train', 'test']
        >>> load_cifar10("test", data_dir=tempfile.mkdtemp(), source="python")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        FileNotFoundError: data file .../cifar-10-python.tar.gz not found. ...
        >>> images, labels = load_cifar10("test")  # with the data present  # doctest: +SKIP
        >>> images.shape, labels.shape  # doctest: +SKIP
        (torch.Size([10000, 32, 32, 3]), torch.Size([10000]))
    """
    check_choice("split", split, _SPLITS)
    check_choice("source", source, _SOURCES)
    if source == "auto":
        has_python = download or (data_root(data_dir) / PYTHON_TARBALL).is_file()
        source = "python" if has_python else "jpeg"
    if source == "python":
        tarball = fetch(PYTHON_TARBALL, data_dir) if download else verified_path(PYTHON_TARBALL, data_dir)
        images, labels = read_cifar10_python(tarball, split)
    else:
        images, labels = _load_jpeg_cached(split, data_dir)
    return torch.from_numpy(images), torch.from_numpy(labels)
