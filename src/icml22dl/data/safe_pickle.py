"""A restricted unpickler: only an explicit allow-list of harmless classes may be loaded.

Plain ``pickle.load`` runs whatever callable the file names (``os.system`` included).
:func:`safe_load` resolves every global through :data:`DEFAULT_ALLOWED` (or the
mapping passed in) and refuses anything else, so a crafted file cannot execute code.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
from collections.abc import Mapping
from types import MappingProxyType
from typing import IO, Any

import numpy as np
import scipy.sparse

try:
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

# private numpy helpers that pickled arrays name; looked up by name (not in numpy's stubs)
_reconstruct = vars(_multiarray)["_reconstruct"]
scalar = vars(_multiarray)["scalar"]
_frombuffer = vars(_numeric)["_frombuffer"]

_BUILTINS = (bool, bytearray, bytes, complex, dict, float, frozenset, int, list, set, slice, str, tuple)


def _numpy_entries() -> dict[tuple[str, str], Any]:
    """Allow-list entries that rebuild numpy arrays, dtypes and scalars (numpy 1 and 2 paths)."""
    entries: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        entries[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        entries[(f"{core}.multiarray", "scalar")] = scalar
        entries[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return entries


def _scipy_entries() -> dict[tuple[str, str], Any]:
    """Allow-list entries for CSR matrices under the module paths old and new scipy used."""
    return {
        (module, "csr_matrix"): scipy.sparse.csr_matrix
        for module in ("scipy.sparse", "scipy.sparse.csr", "scipy.sparse._csr")
    }


def _latin1_encode(text: str, encoding: str) -> bytes:
    """Stand-in for ``_codecs.encode``, which Python 3 uses to pickle ``bytes`` at protocol <= 2.

    Only the latin-1 codec that pickling emits is accepted.
    """
    try:
        is_latin1 = codecs.lookup(encoding).name == "iso8859-1"
    except LookupError:
        is_latin1 = False
    if not is_latin1:
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}: only latin1 is allowed")
    return text.encode("latin1")


def _builtin_entries() -> dict[tuple[str, str], Any]:
    """Allow-list entries for containers, numbers and bytes (Python 3 and Python 2 module names)."""
    entries: dict[tuple[str, str], Any] = {
        ("collections", "defaultdict"): collections.defaultdict,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _latin1_encode,
    }
    for obj in _BUILTINS:
        entries[("builtins", obj.__name__)] = obj
        entries[("__builtin__", obj.__name__)] = obj
    return entries


#: (module, name) as written in the pickle -> the object it resolves to.
DEFAULT_ALLOWED: Mapping[tuple[str, str], Any] = MappingProxyType(
    {**_numpy_entries(), **_scipy_entries(), **_builtin_entries()}
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` only resolves globals in an allow-list."""

    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any], encoding: str) -> None:
        """Create the unpickler.

        Args:
            file: A binary file object positioned at the pickle.
            allowed: (module, name) -> object that global resolves to.
            encoding: How Python 2 ``str`` objects are decoded (``"latin1"``, ``"bytes"``, ...).
        """
        super().__init__(file, encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a global from the allow-list.

        Args:
            module: The module path written in the pickle.
            name: The attribute name written in the pickle.

        Returns:
            The allowed object.

        Raises:
            pickle.UnpicklingError: If (module, name) is not allowed.
        """
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global {module}.{name}: it is not in the allow-list"
            ) from None


def safe_load(
    file_or_bytes: bytes | bytearray | memoryview | IO[bytes],
    allowed: Mapping[tuple[str, str], Any] = DEFAULT_ALLOWED,
    encoding: str = "latin1",
) -> Any:
    """Unpickle data, refusing every global outside an allow-list.

    The default allow-list rebuilds numpy arrays/dtypes/scalars, scipy CSR matrices
    (including the ``scipy.sparse.csr`` path of old pickles), ``collections.defaultdict``
    and ``OrderedDict``, builtin containers and numbers, and ``_codecs.encode`` restricted
    to latin-1 (how Python 3 pickles ``bytes`` at protocol <= 2). ``encoding="latin1"`` reads
    Python 2 pickles (such as the Planetoid files) with their numpy arrays intact.

    Args:
        file_or_bytes: The pickle as bytes, or a binary file object.
        allowed: (module, name) -> object; pass a bigger mapping to allow more.
        encoding: How Python 2 ``str`` objects are decoded.

    Returns:
        The unpickled object.

    Raises:
        pickle.UnpicklingError: If the pickle names a global that is not allowed, or is malformed.
        TypeError: If ``file_or_bytes`` is neither bytes-like nor a binary file.

    References:
        The Python :mod:`pickle` documentation ("Restricting globals": override
        :meth:`pickle.Unpickler.find_class`).

    Example:
        >>> import os, pickle
        >>> safe_load(pickle.dumps({"x": np.arange(3)}))["x"]
        array([0, 1, 2])
        >>> class Exploit:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo pwned",))
        >>> safe_load(pickle.dumps(Exploit()))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        _pickle.UnpicklingError: refusing to unpickle global posix.system: it is not in the allow-list
    """
    if isinstance(file_or_bytes, (bytes, bytearray, memoryview)):
        file_or_bytes = io.BytesIO(file_or_bytes)
    elif not hasattr(file_or_bytes, "read"):
        raise TypeError(f"file_or_bytes must be bytes or a binary file, got {type(file_or_bytes).__name__}")
    return RestrictedUnpickler(file_or_bytes, allowed, encoding).load()
