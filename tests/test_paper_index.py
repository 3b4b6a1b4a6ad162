"""The light paper index (slugs, titles, presets without importing a paper) matches the registry."""

import subprocess
import sys

from icml22dl.paper_index import PRESETS, list_index
from icml22dl.papers import PAPERS, get_paper, list_papers


def test_index_lists_every_registered_paper_in_the_registry_order():
    assert list(PRESETS) == list(PAPERS._items)  # the session's order, as registered


def test_index_presets_and_titles_match_the_registered_papers():
    rows = list_index()
    assert [slug for slug, _, _ in rows] == list_papers()
    for slug, title, presets in rows:
        paper = get_paper(slug)
        assert presets == tuple(paper.presets), slug
        assert title == paper.title, slug


def test_index_imports_no_paper_and_no_torch():
    code = "import sys; from icml22dl.paper_index import list_index; list_index(); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'torch'" not in loaded and "'icml22dl.papers'" not in loaded


def test_papers_bib_cites_every_registered_paper_as_its_page_links_it():
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    bib = (repo / "docs" / "papers.bib").read_text()
    entries = re.findall(r"% (\w+)\n@InProceedings\{pmlr-v162-(\w+),", bib)
    assert [slug for slug, _ in entries] == list(PRESETS)  # one entry per paper, in the session's order
    for slug, key in entries:
        page = (repo / "docs" / "papers" / f"{slug}.md").read_text()
        assert f"proceedings.mlr.press/v162/{key}" in page, slug
    assert bib.count("volume    = {162}") == len(PRESETS) and bib.count("{") == bib.count("}")
