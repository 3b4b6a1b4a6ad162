"""SHA-256 checksums of every data file, and verification that caches its results."""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings
import zlib
from collections.abc import Collection
from pathlib import Path, PurePosixPath

from icml22dl.data.root import ENV_VAR, data_root

CHUNK_SIZE = 1 << 20

#: Relative path under the data root -> SHA-256 of the file in the data pack
#: (``SHA256SUMS``), plus the canonical CIFAR-10 python tarball.
SHA256: dict[str, str] = {
    "cifar10-jpeg/test.tar.gz": "2e4e37e7e6d02e4ed9542ffa5917a14fe66f3a9d20f1ed8e6abd6c8ea3234379",
    "cifar10-jpeg/train.tar.gz": "a175af766e1d77fe8da3a8b92927e56a698cd810d4fc746d5be1dd3ac65327d7",
    "mnist/t10k-images-idx3-ubyte.gz": "5634745efa576a17e7d4cf5cd9d09123c75e6538e5114267c2d156edaf519341",
    "mnist/t10k-labels-idx1-ubyte.gz": "ae18e77e031ccde52407f794d123116439864147d33ac992975f85dd4dc42af6",
    "mnist/train-images-idx3-ubyte.gz": "71524e2cd1ad2968737f7f2f2ff69cbfc32df8ccddff51593f7cb2d4e0eb5b64",
    "mnist/train-labels-idx1-ubyte.gz": "fe03b8bd7915f70bf5aa08be480aa413fbd85afcaa58b35d230d335f284fd88e",
    "planetoid/ind.citeseer.allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
    "planetoid/ind.citeseer.ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
    "planetoid/ind.citeseer.graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
    "planetoid/ind.citeseer.test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
    "planetoid/ind.citeseer.tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
    "planetoid/ind.citeseer.ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
    "planetoid/ind.citeseer.x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
    "planetoid/ind.citeseer.y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
    "planetoid/ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
    "planetoid/ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
    "planetoid/ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
    "planetoid/ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    "planetoid/ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
    "planetoid/ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
    "planetoid/ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
    "planetoid/ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    "england-covid/england_covid.json.gz": "e6558c609a89c1ea7078b571193c34012a1985443c52db4972ea6f91ecabbd05",
    # Canonical tarball from https://www.cs.toronto.edu/~kriz/ (published md5
    # c58f30108f718f92721af3b95e74349a).
    "cifar-10-python.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
}

#: Digests of upstream files that the data pack lacks or holds in other bytes. The data
#: pack's MNIST files were re-gzipped (identical pixels, different gzip bytes), so a freshly
#: downloaded original has another digest; both are accepted. PubMed's digests are those of
#: ``kimiyoung/planetoid`` at commit af6abf4 (``data/ind.pubmed.*``), except ``allx``,
#: whose bytes were not available to hash.
UPSTREAM_SHA256: dict[str, str] = {
    "mnist/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "mnist/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "mnist/train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "mnist/train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "planetoid/ind.pubmed.ally": "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e",
    "planetoid/ind.pubmed.graph": "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9",
    "planetoid/ind.pubmed.test.index": "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5",
    "planetoid/ind.pubmed.tx": "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d",
    "planetoid/ind.pubmed.ty": "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd",
    "planetoid/ind.pubmed.x": "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33",
    "planetoid/ind.pubmed.y": "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3",
}

#: Gzipped files whose decompressed content is also checked: relpath -> SHA-256 of the
#: decompressed bytes. A file whose own digest is unknown (e.g. gzipped locally from the
#: upstream download, whose gzip header and compression differ from the pack's) is accepted
#: when its content has this digest. England-COVID's is the digest of PyTorch Geometric
#: Temporal's ``dataset/england_covid.json`` (1,436,945 bytes, the same as the pack's file
#: decompressed).
DECODED_SHA256: dict[str, str] = {
    "england-covid/england_covid.json.gz": "497056cc4585b58951fd5cd17554fe0c535f68ea0c907a5b5727ae30e3913450",
}

#: The raw files of a Planetoid data set, ``planetoid/ind.<name>.<extension>``.
PLANETOID_EXTENSIONS: tuple[str, ...] = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")

#: Files whose checksum is not known here (PubMed's ``allx`` was never available to hash):
#: they are used unverified, with a warning.
UNVERIFIED: frozenset[str] = frozenset({"planetoid/ind.pubmed.allx"})

_digest_cache: dict[tuple[str, int, int, int, bool], str | None] = {}


class ChecksumError(ValueError):
    """A file's SHA-256 digest differs from the expected one.

    References:
        SHA-256 (FIPS 180-4); a :class:`ValueError`, so the CLI reports it as bad input.

    Example:
        >>> error = ChecksumError("mnist/t10k-labels-idx1-ubyte.gz", ["ab" * 32], "cd" * 32)
        >>> isinstance(error, ValueError), str(error).split(":")[0]
        (True, 'checksum mismatch for mnist/t10k-labels-idx1-ubyte.gz')
    """

    def __init__(self, name: str, expected: Collection[str], actual: str) -> None:
        """Build the message naming the file, the expected and the actual digest.

        Args:
            name: The file (or URL) that failed.
            expected: The accepted digests.
            actual: The digest the file has.
        """
        self.name = name
        self.expected = tuple(expected)
        self.actual = actual
        wanted = self.expected[0] if len(self.expected) == 1 else "one of " + ", ".join(self.expected)
        super().__init__(
            f"checksum mismatch for {name}: expected sha256 {wanted}, got {actual}. "
            "The file is corrupt, truncated or a different version: delete it and "
            "download it again."
        )


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Compute the SHA-256 digest of a file.

    The file is read in 1 MiB chunks, so memory stays flat for large files.

    Args:
        path: The file to hash.

    Returns:
        The lowercase hex digest.

    References:
        SHA-256 (FIPS 180-4), computed with :mod:`hashlib`; the same digest as ``sha256sum``.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "abc.txt"
        >>> _ = path.write_bytes(b"abc")
        >>> sha256_file(path)  # the FIPS 180-4 test vector for "abc"
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def normalise_digests(expected: str | Collection[str]) -> tuple[str, ...]:
    """Validate expected SHA-256 digests and return them as a tuple.

    Args:
        expected: One hex digest or a collection of accepted ones.

    Returns:
        The digests, lowercase.

    Raises:
        ValueError: If none is given or one is not a 64-character hex string.
    """
    digests = (expected,) if isinstance(expected, str) else tuple(expected)
    if not digests:
        raise ValueError("expected=() names no digest")
    for digest in digests:
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise ValueError(f"expected digest {digest!r} is not a 64-character hex SHA-256")
    return tuple(d.lower() for d in digests)


def _cached_sha256(path: Path, decompressed: bool = False) -> str | None:
    """Hash ``path`` (or its gunzipped content), cached while its size, mtime and inode are unchanged."""
    info = path.stat()
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino, decompressed)
    if key not in _digest_cache:
        _digest_cache[key] = sha256_gunzip(path) if decompressed else sha256_file(path)
    return _digest_cache[key]


def verify(path: str | os.PathLike[str], expected: str | Collection[str]) -> str:
    """Check that a file has the expected SHA-256 digest.

    Digests are cached in-process per (path, size, mtime, inode), so verifying the
    same unchanged file again does not re-read it.

    Args:
        path: The file to check.
        expected: The expected hex digest, or several accepted ones.

    Returns:
        The file's digest.

    Raises:
        ChecksumError: If the digest is not one of ``expected``.
        ValueError: If an expected digest is not a hex SHA-256.

    References:
        SHA-256 (FIPS 180-4); the ``SHA256SUMS`` convention of ``sha256sum -c``.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "abc.txt"
        >>> _ = path.write_bytes(b"abc")
        >>> verify(path, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")[:8]
        'ba7816bf'
        >>> verify(path, "0" * 64)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        icml22dl.data.checksums.ChecksumError: checksum mismatch for ...abc.txt: expected sha256 000..., got ba78...
    """
    digests = normalise_digests(expected)
    actual = str(_cached_sha256(Path(path)))
    if actual not in digests:
        raise ChecksumError(str(path), digests, actual)
    return actual


def sha256_gunzip(path: str | os.PathLike[str]) -> str | None:
    """Compute the SHA-256 digest of a gzip file's decompressed content.

    Args:
        path: A gzip file.

    Returns:
        The lowercase hex digest of the decompressed bytes, or None if the file is not a
        valid gzip stream (corrupt or truncated).

    References:
        gzip (RFC 1952), read with :mod:`gzip`; SHA-256 (FIPS 180-4).

    Example:
        >>> import gzip, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "abc.gz"
        >>> _ = path.write_bytes(gzip.compress(b"abc"))
        >>> sha256_gunzip(path)[:8], sha256_gunzip(__file__)
        ('ba7816bf', None)
    """
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def verify_data_file(path: str | os.PathLike[str], relpath: str) -> str:
    """Check a data file against every digest the catalogue accepts for ``relpath``.

    The file passes when its own SHA-256 is a known digest of ``relpath`` (the pack's or
    the upstream one), or, for a file of :data:`DECODED_SHA256`, when its decompressed
    content has the recorded digest (a copy gzipped locally from the upstream download).

    Args:
        path: The file to check.
        relpath: Its path relative to the data root (a key of :data:`SHA256`,
            :data:`UPSTREAM_SHA256` or :data:`DECODED_SHA256`).

    Returns:
        The file's own digest.

    Raises:
        ChecksumError: If neither the file nor its decompressed content matches.
        ValueError: If ``relpath`` is not a known data file, or is one of :data:`UNVERIFIED`.

    Example:
        >>> import gzip, tempfile
        >>> relpath = "england-covid/england_covid.json.gz"
        >>> path = Path(tempfile.mkdtemp()) / "covid.json.gz"
        >>> _ = path.write_bytes(gzip.compress(b"{}"))
        >>> verify_data_file(path, relpath)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        icml22dl.data.checksums.ChecksumError: checksum mismatch for ...covid.json.gz (decompressed): ...
    """
    key = _normalise_relpath(relpath)
    digests = known_digests(key)
    if digests is None:
        raise ValueError(f"relpath={relpath!r} has no known checksum")
    actual = str(_cached_sha256(Path(path)))
    if actual in digests:
        return actual
    decoded = DECODED_SHA256.get(key)
    if decoded is None:
        raise ChecksumError(str(path), digests, actual)
    content = _cached_sha256(Path(path), decompressed=True)
    if content != decoded:
        raise ChecksumError(f"{path} (decompressed)", (decoded,), str(content))
    return actual


def _normalise_relpath(relpath: str) -> str:
    """Return ``relpath`` in the POSIX form used as key of the checksum tables."""
    return PurePosixPath(str(relpath).replace(os.sep, "/")).as_posix()


def known_digests(relpath: str) -> tuple[str, ...] | None:
    """Return the accepted digests of a data file.

    Args:
        relpath: The file's path relative to the data root, e.g. ``"mnist/t10k-labels-idx1-ubyte.gz"``.

    Returns:
        The accepted digests, or None for a file in :data:`UNVERIFIED`.

    Raises:
        ValueError: If ``relpath`` is not a known data file.
    """
    key = _normalise_relpath(relpath)
    if key in UNVERIFIED:
        return None
    digests = tuple(d for d in (SHA256.get(key), UPSTREAM_SHA256.get(key)) if d is not None)
    if not digests:
        raise ValueError(f"relpath={relpath!r} is not a known data file (see icml22dl.data.checksums.SHA256)")
    return digests


def verified_path(relpath: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Locate a data file under the data root and verify its checksum.

    Args:
        relpath: The file's path relative to the data root.
        data_dir: An explicit data folder, or None (see :func:`~icml22dl.data.root.data_root`).

    Returns:
        The absolute path of the verified file.

    Raises:
        FileNotFoundError: If the file is missing; the message names the full path.
        ChecksumError: If its digest is wrong.
        ValueError: If ``relpath`` is not a known data file.

    References:
        The data layout of :data:`SHA256` (paths relative to the data root) and SHA-256
        (FIPS 180-4).

    Example:
        >>> import tempfile
        >>> verified_path("mnist/t10k-labels-idx1-ubyte.gz", tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        FileNotFoundError: data file .../mnist/t10k-labels-idx1-ubyte.gz not found. Point ...
        >>> verified_path("imagenet/train.tar")
        Traceback (most recent call last):
        ValueError: relpath='imagenet/train.tar' is not a known data file (see icml22dl.data.checksums.SHA256)
    """
    digests = known_digests(relpath)
    path = data_root(data_dir) / _normalise_relpath(relpath)
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {path} not found. Point the environment variable {ENV_VAR} (or the "
            f"data_dir argument) at the folder that holds {relpath!r}, or fetch it: "
            "icml22dl data fetch (see icml22dl data list)."
        )
    if digests is None:
        warnings.warn(f"no checksum is known for {path}; it is used unverified", stacklevel=2)
    else:
        verify_data_file(path, relpath)
    return path
