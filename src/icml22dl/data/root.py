"""Where data sets live (the data root), and the separate folder for derived caches.

The data root is only read (and written by an explicit download); derived files such as
decoded arrays go to the cache folder, which does not depend on the data root, so a data
pack named by ``--data-dir`` or ``$ICML22DL_DATA`` is never written into.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

ENV_VAR = "ICML22DL_DATA"
CACHE_ENV_VAR = "ICML22DL_CACHE"


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


def cache_root() -> Path:
    """Resolve the folder for derived files: ``$ICML22DL_CACHE``, else ``~/.cache/icml22dl/cache``.

    The cache does not depend on the data root, so decoding a data pack never writes into
    it. (The default cache is the ``cache`` sub-folder of the default data root
    ``~/.cache/icml22dl``, the user's own folder.) An empty ``ICML22DL_CACHE`` is ignored.
    The folder is not created.

    Returns:
        The absolute, resolved path of the cache folder.

    Example:
        >>> expected = os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "icml22dl" / "cache"
        >>> cache_root() == Path(expected).expanduser().resolve()
        True
    """
    root = Path(os.environ[CACHE_ENV_VAR]) if os.environ.get(CACHE_ENV_VAR) else default_root() / "cache"
    return root.expanduser().resolve()


def cache_dir() -> Path | None:
    """Return the writable cache folder for derived files (decoded arrays), creating it.

    The folder is :func:`cache_root` (``$ICML22DL_CACHE``, else ``~/.cache/icml22dl/cache``),
    whatever the data root is.

    Returns:
        The cache folder, or None when it is read-only or cannot be created.
    """
    folder = cache_root()
    if not is_writable(folder):
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder
