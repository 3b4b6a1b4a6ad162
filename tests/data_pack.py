"""The data pack as the tests see it: which files a data set needs, and a write guard.

``tests/conftest.py`` uses these helpers for the ``requires_data`` marker (skip a test whose
data files are absent under the data root) and for the session guard (fail the run if any
test added, removed or changed a file under the data root).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from icml22dl.data.checksums import PLANETOID_EXTENSIONS, SHA256, UNVERIFIED
from icml22dl.data.planetoid import PLANETOID_NAMES


def _under(folder: str) -> tuple[str, ...]:
    """The checksummed files of one folder of the data pack."""
    return tuple(sorted(relpath for relpath in SHA256 if relpath.startswith(f"{folder}/")))


#: Data set name (as in ``icml22dl.data.registry``, plus ``england-covid``) -> the files it
#: reads, relative to the data root. ``cifar10`` is the JPEG pack, which the data pack ships
#: and ``load_cifar10(source="auto")`` falls back to.
DATA_FILES: dict[str, tuple[str, ...]] = {
    "mnist": _under("mnist"),
    "cifar10": _under("cifar10-jpeg"),
    **{name: tuple(f"planetoid/ind.{name}.{ext}" for ext in PLANETOID_EXTENSIONS) for name in PLANETOID_NAMES},
    "england-covid": _under("england-covid"),
}

#: Single files a test may name instead of a data set: every known data file and the pack's list
#: of checksums.
KNOWN_FILES: frozenset[str] = frozenset(SHA256) | UNVERIFIED | {"SHA256SUMS"}

#: One entry of a snapshot: (size in bytes, mtime in ns) of a file, None for a folder.
Entry = tuple[int, int] | None


def required_files(names: Iterable[str]) -> list[str]:
    """The files that the data sets (or single files) ``names`` need, relative to the data root.

    Raises:
        ValueError: If a name is neither a data set of :data:`DATA_FILES` nor one of :data:`KNOWN_FILES`
            (so a misspelt marker fails instead of skipping its test forever).
    """
    files: list[str] = []
    for name in names:
        if name in DATA_FILES:
            files.extend(DATA_FILES[name])
        elif name in KNOWN_FILES:
            files.append(name)
        else:
            raise ValueError(
                f"requires_data: unknown data set {name!r}; use one of {sorted(DATA_FILES)} or a known data file"
            )
    return list(dict.fromkeys(files))


def missing_files(names: Iterable[str], root: Path) -> list[str]:
    """The files of ``names`` (see :func:`required_files`) that are not under ``root``."""
    return [relpath for relpath in required_files(names) if not (root / relpath).is_file()]


def snapshot(root: Path) -> dict[str, Entry]:
    """Every file and folder under ``root``: relative POSIX path -> (size, mtime_ns), None for a folder.

    Size and modification time detect any write without reading the files, so this stays
    cheap for a large data pack. A missing ``root`` gives an empty snapshot. Symbolic links
    to folders are listed but not followed.
    """
    entries: dict[str, Entry] = {}
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        for name in dirnames:
            entries[(here / name).relative_to(root).as_posix()] = None
        for name in filenames:
            path = here / name
            try:
                info = path.stat()
            except OSError:  # a dangling link, or a file removed meanwhile
                entries[path.relative_to(root).as_posix()] = (-1, -1)
                continue
            entries[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
    return entries


def compare(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """Describe how ``after`` differs from ``before`` (two :func:`snapshot` results), one line per path.

    Returns:
        Sorted lines ``added <path>``, ``removed <path>`` or ``changed <path> (...)``; empty when equal.
    """
    lines = [f"added {path}" for path in after.keys() - before.keys()]
    lines += [f"removed {path}" for path in before.keys() - after.keys()]
    for path in before.keys() & after.keys():
        if before[path] != after[path]:
            lines.append(f"changed {path} (size, mtime_ns: {before[path]} -> {after[path]})")
    return sorted(lines, key=lambda line: line.split(" ", 2)[1])
