"""Conformance of every registered paper: presets, targets rows, pinned hashes, a test file."""

import importlib
from pathlib import Path

import pytest

from icml22dl.papers import get_paper, list_papers
from icml22dl.runner import DEVICES, load_targets

COMPONENT_KINDS = ("optim", "nn", "attacks", "losses", "analysis", "graphs", "inverse", "data")

HERE = Path(__file__).parent


@pytest.mark.parametrize("slug", list_papers())
def test_paper_has_quick_and_paper_presets_and_a_targets_row(slug):
    paper = get_paper(slug)
    assert {"quick", "paper"} <= set(paper.presets)
    assert slug in load_targets()
    assert paper.claim.for_scale("quick"), f"{slug} has no quick criterion"
    assert paper.components, f"{slug} names no components"
    # a paper that computes on the CPU only has no device field (it would be ignored)
    assert all(getattr(preset, "device", "cpu") in DEVICES for preset in paper.presets.values())
    assert getattr(paper.presets["quick"], "device", "cpu") == "cpu"


@pytest.mark.parametrize("slug", list_papers())
def test_every_component_resolves_to_an_exported_name_of_its_kind(slug):
    # "nn.MLP" must be icml22dl.nn.MLP, listed in icml22dl.nn.__all__ (the README table and docs link them)
    for component in get_paper(slug).components:
        kind, dot, name = component.partition(".")
        assert dot and kind in COMPONENT_KINDS and "." not in name, f"{slug}: {component!r} is not '<kind>.<Name>'"
        package = importlib.import_module(f"icml22dl.{kind}")
        assert hasattr(package, name), f"{slug}: icml22dl.{kind} has no {name!r}"
        assert name in package.__all__, f"{slug}: {name!r} is not in icml22dl.{kind}.__all__"


@pytest.mark.parametrize("slug", list_papers())
def test_every_preset_hash_is_pinned_in_the_papers_test_file(slug):
    # Each tests/papers/test_<slug>.py pins its presets' run-directory hashes (a change
    # orphans stored results, so it must be deliberate); here we check that it does.
    text = (HERE / f"test_{slug}.py").read_text()
    for scale, preset in get_paper(slug).presets.items():
        assert preset.config_hash() in text, f"{slug}: preset {scale!r} hash {preset.config_hash()} is not pinned"


def test_every_targets_row_belongs_to_a_registered_paper():
    assert set(load_targets()) <= set(list_papers())


def test_unknown_slug_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown paper slug 'nope'; registered: .*momentum"):
        get_paper("nope")
