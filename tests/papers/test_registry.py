"""Conformance of every registered paper: presets, pinned hashes, targets rows."""

import pytest

from icml22dl.papers import get_paper, list_papers
from icml22dl.runner import load_targets

# Pinned run-directory hashes of every preset: a change orphans stored results, so it
# must be deliberate (update the pin in the same commit and say why).
PINNED = {
    ("momentum", "quick"): "6a42f79f4b0f",
    ("momentum", "paper"): "63f66270092a",
}


@pytest.mark.parametrize("slug", list_papers())
def test_paper_has_quick_and_paper_presets_and_a_targets_row(slug):
    paper = get_paper(slug)
    assert {"quick", "paper"} <= set(paper.presets)
    assert slug in load_targets()
    assert paper.claim.for_scale("quick"), f"{slug} has no quick criterion"
    assert paper.components, f"{slug} names no components"


@pytest.mark.parametrize("slug, scale", sorted(PINNED))
def test_preset_hash_is_pinned(slug, scale):
    assert get_paper(slug).preset(scale).config_hash() == PINNED[slug, scale]


def test_every_registered_preset_is_pinned():
    registered = {(slug, scale) for slug in list_papers() for scale in ("quick", "paper")}
    assert registered <= set(PINNED)


def test_unknown_slug_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown paper slug 'nope'; registered: .*momentum"):
        get_paper("nope")
