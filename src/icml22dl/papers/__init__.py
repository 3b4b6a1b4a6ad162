"""The registry of papers: one module per paper, each registering one :class:`Paper`.

Adding a paper is one module here (``Config``, presets, ``run``, ``PAPER``), one row in
``targets.toml`` and one test file in ``tests/papers/``.
"""

from icml22dl.papers import momentum
from icml22dl.registry import Registry
from icml22dl.runner.experiment import Paper

PAPERS: Registry[Paper] = Registry("paper slug")
for _module in (momentum,):
    PAPERS.register(_module.PAPER.slug, _module.PAPER)

list_papers = PAPERS.list
get_paper = PAPERS.get


__all__ = ["PAPERS", "Paper", "get_paper", "list_papers"]
