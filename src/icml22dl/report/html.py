"""One self-contained HTML report of a results root: verdict table, claims, figures.

The page has no external resources (the CSS is inline, the figures are base64 PNG data
URIs), so it can be mailed or archived alone. Every string read from disk is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import icml22dl
from icml22dl.report.aggregate import (
    CLAIMS_CSV,
    RUNS_CSV,
    SKIPPED,
    ClaimRun,
    Criterion,
    criterion_reason,
    load_claims,
    unmet_criteria,
    write_csv,
    write_text_atomic,
)
from icml22dl.report.plots import BAD, GOOD, NEUTRAL, criterion_figure, curve_figures, require_matplotlib

REPORT_HTML = "report.html"
_OPS = {">=": "&ge;", "<=": "&le;", ">": "&gt;", "<": "&lt;"}
_TONES = {"reproduced": "good", "ok": "good", "not reproduced": "bad", "diverged": "bad"}
_CSS = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
  max-width: 72rem; padding: 0 1rem; color: #212121; line-height: 1.45; }}
h1 {{ margin-bottom: 0.2rem; }}
h2 {{ border-top: 1px solid #ddd; padding-top: 1.2rem; margin-top: 2.2rem; }}
table {{ border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ddd; padding: 0.3rem 0.55rem; text-align: left; vertical-align: top; }}
th {{ background: #f5f5f5; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
ul.criteria {{ margin: 0; padding-left: 1rem; }}
ul.reasons {{ margin: 0.2rem 0 0; padding-left: 1rem; font-size: 0.85rem; }}
td.scale {{ min-width: 11rem; }}
tr.informational td {{ color: #9e9e9e; }}
.history {{ display: block; margin-top: 0.3rem; color: #757575; font-size: 0.85rem; }}
.badge {{ display: inline-block; padding: 0.05rem 0.5rem; border-radius: 0.7rem; color: #fff;
  font-size: 0.8rem; font-weight: 600; white-space: nowrap; }}
.good {{ background: {GOOD}; }} .bad {{ background: {BAD}; }} .neutral {{ background: {NEUTRAL}; }}
.text-good {{ color: {GOOD}; }} .text-bad {{ color: {BAD}; }} .text-neutral {{ color: {NEUTRAL}; }}
.meta, .muted {{ color: #616161; font-size: 0.9rem; }}
.text {{ white-space: pre-wrap; }}
.scroll {{ overflow-x: auto; }}
figure {{ display: inline-block; margin: 0.5rem 1rem 0.5rem 0; }}
figcaption {{ font-size: 0.85rem; color: #616161; }}
img {{ max-width: 100%; }}
"""


def write_report(
    root: str | os.PathLike[str], title: str = "icml22dl: ICML 2022 claims", *, plots: bool = True
) -> Path:
    """Write ``<root>/report.html`` (and ``claims.csv``, ``runs.csv`` beside it).

    The page opens with the library and torch versions and the time of writing, then a
    verdict table with one row per paper and one column per scale (``quick``, ``paper``,
    then any other scale found), each cell linking to its claim's section with the verdict,
    the seeds and, when not reproduced, the unmet criteria; then the skipped claims with
    their reasons; then a section per claim run: statement, deviations, criteria (the
    informational ones greyed, each bar with its history and the paper's value and source),
    final metrics per seed and, with ``plots``, the figures. Incomplete runs are shown as
    far as they exist; a root without claims gives a page saying so. Nothing is printed.

    Args:
        root: the results root (``<root>/<slug>/<config_hash>/...``).
        title: the page title.
        plots: embed the figures (needs matplotlib); ``False`` writes tables only.

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: when ``root`` is not a directory.
        ImportError: with ``plots`` and no matplotlib, naming ``pip install icml22dl[plots]``,
            before anything is written.

    References:
        HTML5 (one self-contained file: figures embedded as base64 PNG data URIs, RFC 2397).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> page = write_report(root, plots=False)  # an empty root: a page saying so
        >>> page.name, sorted(p.name for p in root.iterdir())
        ('report.html', ['claims.csv', 'report.html', 'runs.csv'])
    """
    root = Path(root)
    if plots:
        require_matplotlib()
    claims = load_claims(root)
    write_csv(root, claims)
    path = root / REPORT_HTML
    write_text_atomic(path, _page(root, claims, title, plots))
    return path


def _page(root: Path, claims: list[ClaimRun], title: str, plots: bool) -> str:
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    header = (
        f"<h1>{_e(title)}</h1>\n"
        f'<p class="meta">icml22dl {_e(icml22dl.__version__)} &middot; torch {_e(_torch_version())} '
        f"&middot; generated {_e(generated)} &middot; results root <code>{_e(str(root))}</code> "
        f'&middot; tables: <a href="{CLAIMS_CSV}">{CLAIMS_CSV}</a>, <a href="{RUNS_CSV}">{RUNS_CSV}</a></p>\n'
    )
    if claims:
        anchors = [_anchor(i, claim) for i, claim in enumerate(claims)]
        body = (
            _summary(claims)
            + _verdict_table(claims, anchors)
            + _skipped_list(claims, anchors)
            + "".join(_claim_section(c, a, plots) for c, a in zip(claims, anchors, strict=True))
        )
    else:
        body = f'<p class="empty">No claims found under <code>{_e(str(root))}</code>.</p>\n'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body id="top">\n{header}{body}</body>\n</html>\n'
    )


def _summary(claims: list[ClaimRun]) -> str:
    order = ("reproduced", "not reproduced", "inconclusive", SKIPPED)
    verdicts = sorted({c.verdict for c in claims}, key=lambda v: (order.index(v) if v in order else len(order), v))
    parts = ", ".join(f"{sum(c.verdict == v for c in claims)} {_e(v)}" for v in verdicts)
    return f"<p>{len(claims)} claim run{'s' if len(claims) != 1 else ''}: {parts}.</p>\n"


def _verdict_table(claims: list[ClaimRun], anchors: list[str]) -> str:
    """One row per paper, one column per scale; a cell lists that scale's claim runs."""
    known = ("quick", "paper")
    found = {c.scale for c in claims}
    scales = [s for s in known if s in found] + sorted(s for s in found if s not in known)
    cells: dict[str, dict[str, list[str]]] = {}
    titles: dict[str, str] = {}
    for claim, anchor in zip(claims, anchors, strict=True):
        cells.setdefault(claim.slug, {}).setdefault(claim.scale, []).append(_scale_entry(claim, anchor))
        titles[claim.slug] = titles.get(claim.slug) or claim.title
    rows = []
    for slug, by_scale in cells.items():
        entries = "".join(f'<td class="scale">{"".join(by_scale.get(s, [])) or "&mdash;"}</td>' for s in scales)
        rows.append(f'<tr class="claim-row"><td>{_e(slug)}</td><td>{_e(titles[slug])}</td>{entries}</tr>\n')
    head = "".join(f"<th>{_e(scale) or '?'}</th>" for scale in scales)
    return (
        f'<table id="verdicts">\n<thead><tr><th>claim</th><th>title</th>{head}</tr></thead>\n'
        f"<tbody>\n{''.join(rows)}</tbody>\n</table>\n"
    )


def _scale_entry(claim: ClaimRun, anchor: str) -> str:
    """A claim run in the verdict table: verdict badge (linking to its section), seeds, and why it is not reproduced."""
    text = f'<div><a href="#{anchor}">{_badge(claim.verdict)}</a> <span class="muted">seeds {_seeds_cell(claim)}</span>'
    if claim.verdict == SKIPPED:
        text += f'<ul class="reasons"><li>{_e(claim.reason or "no reason recorded")}</li></ul>'
    elif claim.judged and claim.verdict != "reproduced":
        reasons = [criterion_reason(c) for c in unmet_criteria(claim.criteria)] or ["no unmet criterion recorded"]
        text += '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>"
    return text + "</div>"


def _skipped_list(claims: list[ClaimRun], anchors: list[str]) -> str:
    skipped = [(c, a) for c, a in zip(claims, anchors, strict=True) if c.verdict == SKIPPED]
    if not skipped:
        return ""
    items = "".join(
        f'<li><a href="#{a}">{_e(c.slug)}</a> ({_e(c.scale)}): {_e(c.reason or "no reason recorded")}</li>\n'
        for c, a in skipped
    )
    return f'<h2>Skipped claims</h2>\n<ul id="skipped">\n{items}</ul>\n'


def _claim_section(claim: ClaimRun, anchor: str, plots: bool) -> str:
    meta = [f"scale {_e(claim.scale) or '?'}", f"config <code>{_e(claim.config_hash)}</code>"]
    meta.append(f"seeds {_seeds_cell(claim)}")
    if claim.paper:
        meta.insert(0, _e(claim.paper))
    if claim.wall_time_s is not None:
        meta.append(f"wall time {_fmt(claim.wall_time_s)} s")
    if claim.judged:
        meta.append(f"judged by {_e(_provenance(claim.library_version, claim.git_commit))}")
    parts = [
        f'<section id="{anchor}">\n',
        f"<h2>{_e(claim.slug)}{': ' + _e(claim.title) if claim.title else ''} {_badge(claim.verdict)}</h2>\n",
        f'<p class="meta">{" &middot; ".join(meta)}</p>\n',
    ]
    if claim.verdict == SKIPPED:
        reason = _e(claim.reason or "no reason recorded")
        parts.append(f'<p><strong>Skipped</strong> (not run, not judged): <span class="text">{reason}</span></p>\n')
    elif not claim.judged:
        parts.append('<p class="muted">No claim.json yet: the claim has not been judged; the runs so far follow.</p>\n')
    else:
        parts.append(f'<p><strong>Statement.</strong> <span class="text">{_e(claim.statement)}</span></p>\n')
        deviations = _e(claim.deviations or "none stated")
        parts.append(f'<p><strong>Deviations.</strong> <span class="text">{deviations}</span></p>\n')
    if claim.criteria:
        parts.append("<h3>Criteria</h3>\n" + _criteria_table(claim.criteria))
    parts.append("<h3>Final metrics per seed</h3>\n" + _runs_table(claim))
    if plots:
        parts.append(_figures(claim))
    parts.append('<p><a href="#top">back to the verdict table</a></p>\n</section>\n')
    return "".join(parts)


def _provenance(library_version: str, git_commit: str) -> str:
    """``icml22dl 0.2.0 (commit 1a2b3c4d5e6f, uncommitted changes)``: the code a record came from (plain text)."""
    text = f"icml22dl {library_version or 'version unknown'}"
    if git_commit:
        commit, dirty = git_commit.removesuffix("-dirty"), git_commit.endswith("-dirty")
        text += f" (commit {commit[:12]}{', uncommitted changes' if dirty else ''})"
    else:
        text += " (no git commit recorded)"
    return text


def _criteria_table(criteria: Iterable[Criterion]) -> str:
    rows = []
    for c in criteria:
        per_seed = ", ".join(f"{_e(seed)}: {_fmt(value)}" for seed, value in c.per_seed.items())
        paper = _fmt(c.paper_value) + (f' <span class="muted">({_e(c.paper_source)})</span>' if c.paper_source else "")
        test = _criterion_test(c, paper=False)
        if c.bounds is not None:
            test += f'<br><span class="muted">bounds [{_fmt(c.bounds[0])}, {_fmt(c.bounds[1])}]</span>'
        if c.informational:
            verdict = (
                '<span class="badge neutral">informational</span>'
                f'<br><span class="muted">bar {"met" if c.verdict == "reproduced" else "not met"}; '
                "never decides the verdict</span>"
            )
        else:
            verdict = _badge(c.verdict)
        history = "".join(
            f'<span class="history"><em>{label}:</em> {_e(text)}</span>'
            for label, text in (("previous bar", c.previous), ("pilot", c.pilot))
            if text
        )
        row_class = ' class="informational"' if c.informational else ""
        rows.append(
            f"<tr{row_class}>"
            f"<td><strong>{_e(c.id)}</strong><br>{_e(c.description)}</td>"
            f"<td>{_e(c.reduce)} of <code>{_e(c.metric)}</code></td>"
            f"<td>{test}</td>"
            f"<td>{paper}</td>"
            f'<td class="num">{_fmt(c.inconclusive)}</td>'
            f'<td class="num">{_fmt(c.mean)} &plusmn; {_fmt(c.std)}</td>'
            f"<td>{per_seed}</td>"
            f"<td>{verdict}</td>"
            f'<td class="text">{_e(c.why)}{history}</td>'
            "</tr>\n"
        )
    return (
        '<div class="scroll"><table>\n<thead><tr><th>criterion</th><th>over seeds</th>'
        "<th>value op threshold</th><th>paper (source)</th><th>inconclusive bar</th><th>mean &plusmn; std</th>"
        "<th>per seed</th><th>verdict</th>"
        "<th>why this threshold; its history</th></tr></thead>\n"
        f"<tbody>\n{''.join(rows)}</tbody>\n</table></div>\n"
    )


def _runs_table(claim: ClaimRun) -> str:
    if not claim.runs:
        return '<p class="muted">No seed runs on disk.</p>\n'
    names = list(dict.fromkeys(name for run in claim.runs for name in run.metrics))
    head = "".join(f"<th>seed {run.seed}</th>" for run in claim.runs)
    rows = [
        "<tr><th>status</th>" + "".join(f"<td>{_badge(run.status)}</td>" for run in claim.runs) + "</tr>\n",
        "<tr><th>wall time (s)</th>"
        + "".join(f'<td class="num">{_fmt(run.wall_time_s)}</td>' for run in claim.runs)
        + "</tr>\n",
    ]
    for name in names:
        cells = "".join(f'<td class="num">{_fmt(run.metrics.get(name))}</td>' for run in claim.runs)
        rows.append(f"<tr><th><code>{_e(name)}</code></th>{cells}</tr>\n")
    environments = sorted(
        {
            f"{_provenance(r.library_version, r.git_commit)}, torch {r.torch_version}, "
            f"{r.device}, {r.threads} thread(s)"
            for r in claim.finished_runs
        }
    )
    env = f'<p class="muted">Runs on: {_e("; ".join(environments))}.</p>\n' if environments else ""
    return (
        f'<div class="scroll"><table>\n<thead><tr><th>metric</th>{head}</tr></thead>\n'
        f"<tbody>\n{''.join(rows)}</tbody>\n</table></div>\n{env}"
    )


def _figures(claim: ClaimRun) -> str:
    figures = []
    criteria_png = criterion_figure(claim)
    if criteria_png is not None:
        figures.append(_figure(criteria_png, "Criteria: per-seed values, mean, threshold and paper value"))
    for curve, png in curve_figures(claim):
        if png is None:
            figures.append(f'<p class="muted">No data yet for the curve &ldquo;{_e(curve.title)}&rdquo;.</p>\n')
        else:
            figures.append(_figure(png, curve.title))
    return "<h3>Figures</h3>\n" + "".join(figures) if figures else ""


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>\n"
    )


def _criterion_test(c: Criterion, paper: bool = True) -> str:
    """``value op threshold``, with ``(paper: x)`` when asked and the paper has a value."""
    text = f"{_fmt(c.value)} {_OPS.get(c.op, _e(c.op))} {_fmt(c.threshold)}"
    if paper and c.paper_value is not None:
        text += f" (paper: {_fmt(c.paper_value)})"
    return text


def _seeds_cell(claim: ClaimRun) -> str:
    finished = len(claim.finished_runs)
    expected = len(claim.seeds)
    seeds = _e(", ".join(map(str, claim.seeds)))
    return seeds if finished == expected else f"{seeds} ({finished} of {expected} finished)"


def _badge(verdict: str) -> str:
    return f'<span class="badge {_tone(verdict)}">{_e(verdict)}</span>'


def _tone(verdict: str) -> str:
    return _TONES.get(verdict, "neutral")


def _anchor(index: int, claim: ClaimRun) -> str:
    """A unique, URL-safe id for the claim's section."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"claim-{index}-{claim.slug}-{claim.config_hash}")


def _fmt(value: float | None) -> str:
    """A number for display: 4 significant digits, ``&mdash;`` when missing."""
    if value is None:
        return "&mdash;"
    if math.isnan(value):
        return "nan"
    return _e(f"{value:.4g}")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _torch_version() -> str:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"
