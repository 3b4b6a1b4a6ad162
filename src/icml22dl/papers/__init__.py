"""The registry of papers: one module per paper, each registering one :class:`Paper`.

Adding a paper is one module here (``Config``, presets, ``run``, ``PAPER``), one row in
``targets.toml`` and one test file in ``tests/papers/``.
"""

from icml22dl.papers import momentum
from icml22dl.runner.experiment import Paper, PaperRegistry

REGISTRY = PaperRegistry()
for _module in (momentum,):
    REGISTRY.register(_module.PAPER)


def list_papers() -> list[str]:
    """The registered slugs, sorted."""
    return REGISTRY.list()


def get_paper(slug: str) -> Paper:
    """The paper registered under ``slug``; unknown slugs raise ``ValueError`` listing the known ones."""
    return REGISTRY.get(slug)


__all__ = ["Paper", "get_paper", "list_papers"]
