"""The HTML report: well-formed, self-contained, escaped, one verdict row per paper, a column per scale."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import pytest

import icml22dl
from icml22dl.report import write_report
from tests.report.conftest import SKIP_REASON

PNG = b"\x89PNG\r\n\x1a\n"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """Walks a page: checks tags nest and close, collects the verdict rows, ids, srcs, hrefs."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.verdict_rows = 0
        self.ids: set[str] = set()
        self.srcs: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._in_verdict_table = False
        self.feed(text)
        self.close()
        self.errors += [f"unclosed <{tag}>" for tag in self.stack]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if "id" in attributes:
            self.ids.add(attributes["id"] or "")
        if tag == "table" and attributes.get("id") == "verdicts":
            self._in_verdict_table = True
        if tag == "tr" and self._in_verdict_table and "tbody" in self.stack:
            self.verdict_rows += 1
        if tag in ("img", "script", "iframe") and "src" in attributes:
            self.srcs.append(attributes["src"] or "")
        if "href" in attributes:
            self.hrefs.append(attributes["href"] or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "table":
            self._in_verdict_table = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, build_fake_root: Callable[[Path], Path]) -> tuple[Path, str]:
    root = build_fake_root(tmp_path_factory.mktemp("html") / "results")
    path = write_report(root, title="Test <report>")
    return path, path.read_text(encoding="utf-8")


def test_report_is_written_beside_the_csvs(report: tuple[Path, str]) -> None:
    path, _ = report
    assert path.name == "report.html"
    assert (path.parent / "claims.csv").is_file() and (path.parent / "runs.csv").is_file()
    assert not list(path.parent.glob(".*.tmp"))


def test_report_is_well_formed_with_one_row_per_paper(report: tuple[Path, str]) -> None:
    page = Page(report[1])
    assert page.errors == []
    assert page.verdict_rows == 2
    anchors = [h[1:] for h in page.hrefs if h.startswith("#") and h != "#top"]
    assert len(anchors) == 2 and set(anchors) <= page.ids  # every row links to its section


def test_report_embeds_png_figures_and_nothing_external(report: tuple[Path, str]) -> None:
    page = Page(report[1])
    prefix = "data:image/png;base64,"
    images = [src for src in page.srcs if src.startswith(prefix)]
    assert len(images) == len(page.srcs) == 5  # per claim, the criteria; curves: 2 + 1
    for src in images:
        assert base64.b64decode(src[len(prefix) :], validate=True).startswith(PNG)
    assert "link" not in page.tags and "script" not in page.tags
    assert all(h.startswith("#") or h in ("claims.csv", "runs.csv") for h in page.hrefs)


def test_strings_from_disk_are_escaped(report: tuple[Path, str]) -> None:
    _, text = report
    assert "<script" not in text
    assert "&lt;script&gt;" in text
    assert "Test &lt;report&gt;" in text
    assert "Jelassi &amp; Li" in text


def test_header_and_sections(report: tuple[Path, str]) -> None:
    _, text = report
    page_text = " ".join(Page(text).text)
    assert f"icml22dl {icml22dl.__version__}" in page_text
    assert f"torch {metadata.version('torch')}" in page_text
    assert "0.4233 ≥ 0.150.43 (Table 1)" in _words(text)  # value op bar, then (next cell) the paper's value and source
    assert "0, 1 (1 of 2 finished)" in page_text
    assert "Momentum helps on small-margin data" in page_text and "smaller data" in page_text
    for badge in ("badge good", "badge bad", "badge neutral"):
        assert badge in text


def test_empty_root_says_so(tmp_path: Path) -> None:
    path = write_report(tmp_path)
    page = Page(path.read_text(encoding="utf-8"))
    assert page.errors == [] and page.verdict_rows == 0
    assert "No claims found" in " ".join(page.text)
    assert (tmp_path / "claims.csv").read_text().count("\n") == 1  # the header only


def test_without_plots_and_without_matplotlib(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install icml22dl\[plots\]"):
        write_report(fake_root)
    assert not (fake_root / "report.html").exists()
    page = Page(write_report(fake_root, plots=False).read_text(encoding="utf-8"))
    assert page.errors == [] and page.verdict_rows == 2 and page.srcs == []


def test_unjudged_claim_is_shown_incomplete(fake_root: Path) -> None:
    (fake_root / "newpaper" / "0123abcd" / "seed_0").mkdir(parents=True)
    page = Page(write_report(fake_root, plots=False).read_text(encoding="utf-8"))
    assert page.errors == [] and page.verdict_rows == 3
    assert "No claim.json yet" in " ".join(page.text)


def _words(text: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join("".join(Page(text).text).split())


def _verdict_cells(text: str) -> dict[str, list[str]]:
    """slug -> the text of each cell of its row in the verdict table."""
    table = text[text.index('<table id="verdicts">') : text.index("</table>")]
    rows: dict[str, list[str]] = {}
    for row in table.split('<tr class="claim-row">')[1:]:
        cells = [_words("<td" + cell.split("</td>")[0] + "</td>") for cell in row.split("<td")[1:]]
        rows[cells[0]] = cells
    return rows


def test_verdict_table_has_a_column_per_scale(scales_root: Path) -> None:
    text = write_report(scales_root, plots=False).read_text(encoding="utf-8")
    page = Page(text)
    assert page.errors == [] and page.verdict_rows == 3  # adai, momentum, sop
    head = text[text.index('<table id="verdicts">') : text.index("</thead>")]
    assert [t for t in Page(head).text if t.strip()] == ["claim", "title", "quick", "paper", "gpu_check"]
    cells = _verdict_cells(text)
    quick, paper, gpu_check = cells["momentum"][2:]
    assert "reproduced" in quick and "seeds 0, 1, 2" in quick
    assert paper.startswith("not reproduced") and "z2_gap = 0.05, bar >= 0.15: small-margin gap" in paper
    assert "wall_time" not in paper  # informational: never a reason, though its bar is not met
    assert gpu_check.startswith("reproduced") and "seeds 0, 1" in gpu_check
    assert cells["adai"][3:] == ["—", "—"]  # no run at the paper scale or gpu_check


def test_informational_criterion_is_greyed_with_its_history(scales_root: Path) -> None:
    text = write_report(scales_root, plots=False).read_text(encoding="utf-8")
    row = text[text.index('<tr class="informational">') :]
    row = row[: row.index("</tr>")]
    words = _words(row + "</tr>")
    assert "informational" in words and "never decides the verdict" in words and "not reproduced" not in words
    assert "previous bar: 600 s: a judging bar until wall times became informational" in words
    assert "pilot: seeds 100-104: 41.0, 40.2, 39.9, 42.3, 40.8" in words
    assert "tr.informational td { color: #9e9e9e; }" in text  # greyed
    assert text.count('<tr class="informational">') == 1


def test_skipped_claim_is_listed_with_its_reason(scales_root: Path) -> None:
    text = write_report(scales_root, plots=False).read_text(encoding="utf-8")
    page_text = _words(text)
    assert f"sop (quick): {SKIP_REASON}" in page_text  # the list of skipped claims
    assert "Skipped (not run, not judged):" in page_text and "No claim.json yet" not in page_text
    sop_quick = _verdict_cells(text)["sop"][2]
    assert sop_quick.startswith("skipped") and SKIP_REASON in sop_quick
    assert "1 skipped" in page_text
