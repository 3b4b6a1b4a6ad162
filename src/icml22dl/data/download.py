"""Download data files with urllib: to a temporary file, verified, then renamed into place.

Every transfer goes to a temporary file beside its target, shows a progress bar on stderr
(unless ``quiet``), is checked against the announced ``Content-Length`` and the SHA-256 of
the catalogue, and only then is renamed into place; an interrupted transfer (Ctrl-C, a
connection cut) or a corrupt one leaves nothing behind. A mirror (``$ICML22DL_MIRROR`` or
``mirror=``) replaces every upstream source by ``<mirror>/<path relative to the data root>``.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request
import warnings
from collections.abc import Collection
from pathlib import Path

from tqdm import tqdm

from icml22dl.data import catalog
from icml22dl.data.catalog import CATALOG, DataFile
from icml22dl.data.checksums import (
    CHUNK_SIZE,
    ChecksumError,
    known_digests,
    normalise_digests,
    sha256_file,
    verified_path,
)
from icml22dl.data.root import ENV_VAR, data_root, is_writable

#: The environment variable naming a mirror: ``<mirror>/<relpath>`` replaces every upstream URL.
MIRROR_ENV_VAR = "ICML22DL_MIRROR"

#: Relative path under the data root -> upstream download URL, from :data:`~icml22dl.data.catalog.CATALOG`
#: (files without an upstream source, e.g. the CIFAR-10 JPEG pack, are absent). The checksums
#: live in :mod:`icml22dl.data.checksums`; PubMed's ``allx`` is the one file accepted unverified.
URLS: dict[str, str] = {
    file.relpath: file.url for dataset in CATALOG.values() for file in dataset.files if file.url is not None
}


class DownloadError(OSError):
    """A transfer failed (connection refused or cut, HTTP error, fewer bytes than announced).

    Example:
        >>> isinstance(DownloadError("x"), OSError)
        True
    """


_SCHEMES = ("http", "https", "file")


def _check_scheme(url: str) -> None:
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"url={url!r} has unsupported scheme {scheme!r}; use one of {_SCHEMES}")


def _transfer(url: str, out: Path, timeout: float, quiet: bool, desc: str) -> int:
    """Copy ``url`` into the file ``out`` with a progress bar; return the number of bytes.

    Raises:
        DownloadError: On a connection error, an HTTP error, or fewer (or more) bytes than
            the announced ``Content-Length`` (a transfer cut midway).
    """
    try:
        with open(out, "wb") as handle, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=quiet, file=sys.stderr
            ) as bar:
                while chunk := response.read(CHUNK_SIZE):
                    handle.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
    except OSError as error:  # URLError, HTTPError, a reset connection, a timeout
        if isinstance(error, DownloadError):
            raise
        raise DownloadError(f"download of {url} failed: {error}") from error
    if total is not None and done != total:
        raise DownloadError(f"download of {url} was cut: got {done} of {total} bytes; nothing was kept, try again")
    return done


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | Collection[str] | None,
    timeout: float = 60.0,
    quiet: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, verifying its checksum before it appears there.

    The bytes go to a temporary file next to ``dest``; only after the digest matches
    is it renamed (atomically) to ``dest``, so ``dest`` never holds a partial or wrong
    file. ``sha256=None`` skips verification with a warning: only meant for files whose
    checksum is unknown (PubMed's ``allx``).

    Args:
        url: An ``http``, ``https`` or ``file`` URL.
        dest: Where the file goes; parent folders are created.
        sha256: The expected hex digest (or several accepted ones), or None.
        timeout: Socket timeout in seconds.
        quiet: No progress bar (the default; the command line shows one).

    Returns:
        ``dest`` as a Path.

    Raises:
        ValueError: If the URL scheme is not supported or a digest is malformed.
        ChecksumError: If the downloaded bytes have another digest (``dest`` is untouched).
        DownloadError: If the transfer fails or is cut short (``dest`` is untouched).

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
    _check_scheme(url)
    digests = None if sha256 is None else normalise_digests(sha256)
    dest = Path(dest)
    with _staging(dest) as tmp:
        _transfer(url, tmp, timeout, quiet, dest.name)
        if digests is None:
            warnings.warn(f"no checksum is known for {url}; {dest} is not verified", stacklevel=2)
        else:
            actual = sha256_file(tmp)
            if actual not in digests:
                raise ChecksumError(f"{url} (downloading to {dest})", digests, actual)
    return dest


class _staging:
    """A temporary file beside ``dest``, renamed to ``dest`` on success, removed on any error."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest

    def __enter__(self) -> Path:
        self.created = [p for p in (self.dest.parent, *self.dest.parent.parents) if not p.exists()]
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.dest.parent, prefix=f".{self.dest.name}.", suffix=".part")
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def _clean(self) -> None:
        """Remove the temporary file and the folders made for it, if they stayed empty."""
        self.tmp.unlink(missing_ok=True)
        for folder in self.created:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if kind is None:
            try:
                os.chmod(self.tmp, 0o644)
                os.replace(self.tmp, self.dest)
                return
            except BaseException:
                self._clean()
                raise
        self._clean()


def mirror_from_env(mirror: str | None = None) -> str | None:
    """The mirror to use: ``mirror`` if given, else ``$ICML22DL_MIRROR`` (ignored when empty), else None.

    Example:
        >>> mirror_from_env("http://127.0.0.1:8765/")
        'http://127.0.0.1:8765/'
    """
    if mirror:
        return mirror
    return os.environ.get(MIRROR_ENV_VAR) or None


def source_url(file: DataFile, mirror: str | None = None) -> str:
    """Where ``file`` is downloaded from: ``<mirror>/<relpath>`` with a mirror, else its upstream URL.

    Args:
        file: A catalogue file.
        mirror: A base URL (``http``, ``https`` or ``file``), or None for the upstream source.

    Raises:
        ValueError: If there is no mirror and the file has no upstream source.

    Example:
        >>> file = CATALOG["mnist"].files[3]
        >>> source_url(file, "http://127.0.0.1:8765/pack/")
        'http://127.0.0.1:8765/pack/mnist/t10k-labels-idx1-ubyte.gz'
        >>> source_url(file)
        'https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz'
    """
    if mirror:
        return mirror.rstrip("/") + "/" + urllib.parse.quote(file.relpath)
    if file.url is None:
        raise ValueError(
            f"{file.relpath} has no upstream source: copy it from a data pack, or pass --mirror URL "
            f"(or set {MIRROR_ENV_VAR}) to a mirror that serves it"
        )
    return file.url


def fetch_file(
    file: DataFile,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    quiet: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download one catalogue file into the data root, verified, replacing a missing or corrupt copy.

    From a mirror the bytes are stored as served (layout of the data root) and must match
    ``file.sha256`` or, for a gzip file, ``file.decoded_sha256``. From the upstream source
    of a ``compress`` file the bytes must match ``file.decoded_sha256``, and are gzipped
    locally. Either way they go through a temporary file beside the target, which is
    removed on any failure or interruption.

    Args:
        file: A catalogue file.
        data_dir: An explicit data folder, or None (see :func:`~icml22dl.data.root.data_root`).
        mirror: A mirror base URL, or None for the upstream source.
        quiet: No progress bar.
        timeout: Socket timeout in seconds.

    Returns:
        The path of the verified file.

    Raises:
        ChecksumError: If the bytes have another digest (nothing is left behind).
        DownloadError: If the transfer fails or is cut short (nothing is left behind).
        PermissionError: If the data root is read-only.
        ValueError: If the file has no source.

    References:
        :func:`urllib.request.urlopen`, the ``Content-Length`` header (RFC 9110), SHA-256
        (FIPS 180-4), gzip (RFC 1952), atomic :func:`os.replace`.

    Example:
        >>> import gzip, hashlib, tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "served").mkdir()
        >>> _ = (folder / "served" / "a.json").write_bytes(b"[1]")
        >>> file = DataFile("set/a.json.gz", None, (), (folder / "served" / "a.json").as_uri(),
        ...                 decoded_sha256=hashlib.sha256(b"[1]").hexdigest(), compress=True)
        >>> gzip.decompress(fetch_file(file, folder / "root").read_bytes())
        b'[1]'
    """
    url = source_url(file, mirror)
    _check_scheme(url)
    dest = data_root(data_dir) / file.relpath
    if not is_writable(dest.parent):
        raise PermissionError(
            f"cannot download {file.relpath!r}: {dest.parent} is read-only. Pass --data-dir "
            f"(or set {ENV_VAR}) to a writable folder."
        )
    with _staging(dest) as tmp:
        _transfer(url, tmp, timeout, quiet, file.relpath)
        if file.compress and not mirror:
            assert file.decoded_sha256 is not None
            actual = sha256_file(tmp)
            if actual != file.decoded_sha256:
                raise ChecksumError(f"{url} (downloading to {dest})", (file.decoded_sha256,), actual)
            _gzip_in_place(tmp)
        elif file.verifiable:
            try:
                catalog.check_file(file, tmp)
            except ChecksumError as error:
                raise ChecksumError(f"{url} (downloading to {dest})", error.expected, error.actual) from None
        else:
            warnings.warn(f"no checksum is known for {url}; {dest} is not verified", stacklevel=2)
    return dest


def _gzip_in_place(path: Path) -> None:
    """Replace ``path`` by its gzip (no file name or time in the header), via a sibling temp file."""
    packed = path.with_name(path.name + ".gz")
    try:
        with open(path, "rb") as source, open(packed, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
                shutil.copyfileobj(source, out, CHUNK_SIZE)
        os.replace(packed, path)
    finally:
        packed.unlink(missing_ok=True)


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
        compressed = [f for d in CATALOG.values() for f in d.files if f.relpath == relpath and f.compress]
        if compressed:  # the upstream serves the decompressed bytes: checked, then gzipped here
            fetch_file(dataclasses.replace(compressed[0], url=URLS[relpath]), data_dir)
        else:
            download(URLS[relpath], path, known_digests(relpath))
    return verified_path(relpath, data_dir)


def fetch_sets(
    names: Collection[str],
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    quiet: bool = True,
) -> list[Path]:
    """Download the missing or corrupt files of the data sets ``names``; return the files fetched.

    Present, verified files are left alone. ``mirror`` (else ``$ICML22DL_MIRROR``) replaces
    every upstream source.

    Raises:
        ValueError: If a name is not in the catalogue or a file has no source.
        ChecksumError, DownloadError, PermissionError: As :func:`fetch_file` (files fetched
            before the failure stay, each complete and verified).

    References:
        The catalogue :data:`~icml22dl.data.catalog.CATALOG`; :func:`fetch_file`.

    Example:
        >>> import tempfile
        >>> fetch_sets(["imagenet"], tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: unknown data set(s) ['imagenet']: choose from ['mnist', 'cifar10', ...]
    """
    catalog.check_names(list(names))
    mirror = mirror_from_env(mirror)
    fetched = []
    for name in names:
        for file in CATALOG[name].files:
            if catalog.file_status(file, data_dir) in (catalog.MISSING, catalog.CORRUPT):
                fetched.append(fetch_file(file, data_dir, mirror, quiet))
    return fetched
