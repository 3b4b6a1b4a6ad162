"""Download data files with urllib: to a temporary file, verified, then renamed into place."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings
from collections.abc import Collection
from pathlib import Path

from icml22dl.data.checksums import (
    CHUNK_SIZE,
    PLANETOID_EXTENSIONS,
    ChecksumError,
    known_digests,
    normalise_digests,
    sha256_file,
    verified_path,
)
from icml22dl.data.root import ENV_VAR, data_root, is_writable

_MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
_PLANETOID_BASE = "https://github.com/kimiyoung/planetoid/raw/master/data/"

#: Relative path under the data root -> download URL. The checksums live in
#: :mod:`icml22dl.data.checksums`; PubMed's are unknown, so PubMed downloads are the
#: only ones accepted unverified.
URLS: dict[str, str] = {
    **{f"mnist/{name}": _MNIST_MIRROR + name for name in _MNIST_FILES},
    "cifar-10-python.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    **{
        f"planetoid/ind.{name}.{ext}": f"{_PLANETOID_BASE}ind.{name}.{ext}"
        for name in ("cora", "citeseer", "pubmed")
        for ext in PLANETOID_EXTENSIONS
    },
}

_SCHEMES = ("http", "https", "file")


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | Collection[str] | None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, verifying its checksum before it appears there.

    The bytes go to a temporary file next to ``dest``; only after the digest matches
    is it renamed (atomically) to ``dest``, so ``dest`` never holds a partial or wrong
    file. ``sha256=None`` skips verification with a warning: only meant for files whose
    checksum is unknown (PubMed).

    Args:
        url: An ``http``, ``https`` or ``file`` URL.
        dest: Where the file goes; parent folders are created.
        sha256: The expected hex digest (or several accepted ones), or None.
        timeout: Socket timeout in seconds.

    Returns:
        ``dest`` as a Path.

    Raises:
        ValueError: If the URL scheme is not supported or a digest is malformed.
        ChecksumError: If the downloaded bytes have another digest (``dest`` is untouched).

    References:
        :func:`urllib.request.urlopen` (``http``, ``https``, ``file`` URLs, RFC 8089 for
        ``file``), SHA-256 (FIPS 180-4), atomic :func:`os.replace`.

    Example:
        >>> import hashlib, tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> source = folder / "source.bin"
        >>> _ = source.write_bytes(b"abc")
        >>> digest = hashlib.sha256(b"abc").hexdigest()
        >>> download(source.as_uri(), folder / "copy" / "abc.bin", digest).read_bytes()
        b'abc'
        >>> download(source.as_uri(), folder / "bad.bin", "0" * 64)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        icml22dl.data.checksums.ChecksumError: checksum mismatch for file://...
        >>> (folder / "bad.bin").exists()
        False
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"url={url!r} has unsupported scheme {scheme!r}; use one of {_SCHEMES}")
    digests = None if sha256 is None else normalise_digests(sha256)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, CHUNK_SIZE)
        if digests is None:
            warnings.warn(f"no checksum is known for {url}; {dest} is not verified", stacklevel=2)
        else:
            actual = sha256_file(tmp)
            if actual not in digests:
                raise ChecksumError(f"{url} (downloading to {dest})", digests, actual)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def fetch(relpath: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return a verified data file, downloading it first if it is missing.

    An existing file is never overwritten: if it is corrupt, :class:`ChecksumError`
    tells the user to delete it.

    Args:
        relpath: The file's path relative to the data root (a key of :data:`URLS`).
        data_dir: An explicit data folder, or None (see :func:`~icml22dl.data.root.data_root`).

    Returns:
        The absolute path of the verified file.

    Raises:
        ValueError: If no download source is known for ``relpath``.
        PermissionError: If the file is missing and the data root is read-only.

    References:
        The download sources of :data:`URLS` (the original hosts); SHA-256 (FIPS 180-4).

    Example:
        >>> import tempfile
        >>> fetch("imagenet/train.tar", tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: relpath='imagenet/train.tar' has no download source; known: [...]
        >>> images = fetch("mnist/t10k-images-idx3-ubyte.gz")  # doctest: +SKIP
    """
    path = data_root(data_dir) / relpath
    if not path.is_file():
        if relpath not in URLS:
            raise ValueError(f"relpath={relpath!r} has no download source; known: {sorted(URLS)}")
        if not is_writable(path.parent):
            raise PermissionError(
                f"cannot download {relpath!r}: {path.parent} is read-only. Pass data_dir= "
                f"or set {ENV_VAR} to a writable folder."
            )
        download(URLS[relpath], path, known_digests(relpath))
    return verified_path(relpath, data_dir)
