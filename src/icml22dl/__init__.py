"""icml22dl: the fifteen papers of the ICML 2022 "Deep Learning" oral session as reusable
PyTorch components and reproducible claims.

The component packages load on first use, so ``import icml22dl`` stays cheap (the command
line's ``--help`` and ``list`` import no torch) while ``icml22dl.optim.Adai`` works after a
plain ``import icml22dl``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.2.0"  # the one place the version is written (pyproject.toml reads it)

_SUBPACKAGES = ("analysis", "attacks", "data", "graphs", "inverse", "losses", "nn", "optim", "papers", "train")


def __getattr__(name: str) -> ModuleType:
    """Import a component package on first access: ``icml22dl.optim``, ``icml22dl.nn``..."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBPACKAGES])
