"""Where data sets live: the data root, and a writable folder for derived caches."""

from __future__ import annotations

import os
import stat
from pathlib import Path

ENV_VAR = "ICML22DL_DATA"


def default_root() -> Path:
    """Return the data root used when neither an argument nor the env var names one.

    Returns:
        ``~/.cache/icml22dl`` (expanded, not created).
    """
    return Path.home() / ".cache" / "icml22dl"


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the folder that holds the data sets.

    The explicit argument wins; otherwise the environment variable ``ICML22DL_DATA``
    (ignored when empty); otherwise ``~/.cache/icml22dl``. The folder is not created.

    Args:
        data_dir: An explicit data folder, or None.

    Returns:
        The absolute, resolved path of the data root.

    Raises:
        ValueError: If ``data_dir`` is an empty string.

    References:
        The XDG base-directory convention for the default (``~/.cache/icml22dl``).

    Example:
        >>> data_root("/tmp/my-data") == Path("/tmp/my-data").resolve()
        True
        >>> data_root("")
        Traceback (most recent call last):
        ValueError: data_dir='' is not a folder; pass None to use the default
    """
    if data_dir is not None:
        if os.fspath(data_dir) == "":
            raise ValueError("data_dir='' is not a folder; pass None to use the default")
        root = Path(data_dir)
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR])
    else:
        root = default_root()
    return root.expanduser().resolve()


def is_writable(path: str | os.PathLike[str]) -> bool:
    """Tell whether files may be created at ``path`` (or below its nearest existing parent).

    Permission bits are honoured even when running as root, so a data pack that was
    made read-only (``chmod a-w``) is never written into.

    Args:
        path: A folder that may not exist yet.

    Returns:
        True if the nearest existing ancestor is a folder with a write bit set that the
        process may write to.
    """
    existing = Path(path)
    while not existing.exists():
        existing = existing.parent
    mode = existing.stat().st_mode
    has_write_bit = bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return existing.is_dir() and has_write_bit and os.access(existing, os.W_OK)


def cache_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Return a writable folder for derived files (decoded arrays), creating it.

    Tries ``<data_root>/cache`` first and, when the data root is read-only, the user
    cache ``~/.cache/icml22dl/cache``.

    Args:
        data_dir: An explicit data folder, or None (see :func:`data_root`).

    Returns:
        The cache folder, or None when neither candidate is writable.
    """
    for candidate in (data_root(data_dir) / "cache", default_root() / "cache"):
        if not is_writable(candidate):
            continue
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        return candidate
    return None
