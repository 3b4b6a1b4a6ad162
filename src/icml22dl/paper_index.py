"""An index of the registered papers' slugs, claim titles and preset names, read without importing a paper.

Importing :mod:`icml22dl.papers` imports every paper module, and with them torch (about a
second); ``icml22dl list`` and ``icml22dl --help`` need only names. This index answers
them: slugs and preset names are listed here, claim titles are read from
``papers/targets.toml`` (the claims' own source). ``tests/test_paper_index.py`` checks the
index against the registry, so a paper added to :mod:`icml22dl.papers` (or a preset added
to one) without its line here fails the test suite.
"""

from __future__ import annotations

import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["PRESETS", "list_index"]

#: slug -> the names of its presets, in the session's order (the registry's order).
PRESETS: dict[str, tuple[str, ...]] = {
    "momentum": ("quick", "paper", "gpu_check"),
    "interpolation": ("quick", "paper", "gpu_check"),
    "deq_init": ("quick", "paper", "gpu_check"),
    "paraunitary": ("quick", "paper"),
    "efld": ("quick", "paper"),
    "local_augmentation": ("quick", "paper", "gpu_check"),
    "deep_linear": ("quick", "paper"),
    "adai": ("quick", "paper", "gpu_check"),
    "acg": ("quick", "paper"),
    "collapse_mse": ("quick", "paper"),
    "time_then_graph": ("quick", "paper"),
    "sop": ("quick", "paper"),
    "step_size_bias": ("quick", "paper"),
    "extended_ufm": ("quick", "paper"),
    "sgilo": ("quick", "paper"),
}


def list_index() -> list[tuple[str, str, tuple[str, ...]]]:
    """``(slug, claim title, preset names)`` of every registered paper, sorted by slug.

    Returns:
        One tuple per paper, as ``icml22dl list`` prints them; no paper module is imported.

    Example:
        >>> rows = list_index()
        >>> [slug for slug, _, _ in rows] == sorted(PRESETS)
        True
        >>> dict((slug, presets) for slug, _, presets in rows)["sop"]
        ('quick', 'paper')

    References:
        The paper registry :data:`icml22dl.papers.PAPERS` (which this mirrors) and the
        claims table ``papers/targets.toml`` (TOML v1.0.0, read with :mod:`tomllib`).
    """
    # read through the top-level package: importing icml22dl.papers would import every paper
    text = resources.files("icml22dl").joinpath("papers").joinpath("targets.toml").read_text()
    targets = tomllib.loads(text)
    return [(slug, str(targets[slug]["title"]), PRESETS[slug]) for slug in sorted(PRESETS)]
