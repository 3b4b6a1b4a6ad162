"""The registry of papers: one module per paper, each registering one :class:`Paper`.

Adding a paper is one module here (``Config``, presets, ``run``, ``PAPER``), one row in
``targets.toml`` and one test file in ``tests/papers/``.
"""

from icml22dl.papers import (
    acg,
    adai,
    collapse_mse,
    deep_linear,
    deq_init,
    efld,
    extended_ufm,
    interpolation,
    local_augmentation,
    momentum,
    paraunitary,
    sgilo,
    sop,
    step_size_bias,
    time_then_graph,
)
from icml22dl.registry import Registry
from icml22dl.runner.experiment import Paper

PAPERS: Registry[Paper] = Registry("paper slug")
for _module in (  # the session's order
    momentum,
    interpolation,
    deq_init,
    paraunitary,
    efld,
    local_augmentation,
    deep_linear,
    adai,
    acg,
    collapse_mse,
    time_then_graph,
    sop,
    step_size_bias,
    extended_ufm,
    sgilo,
):
    PAPERS.register(_module.PAPER.slug, _module.PAPER)

list_papers = PAPERS.list
get_paper = PAPERS.get


__all__ = ["PAPERS", "Paper", "get_paper", "list_papers"]
