"""The ``icml22dl`` command line: list, show, run, reproduce, report.

Exit codes: 0 when every requested claim is reproduced, 1 when one is not (or is
inconclusive), 2 for bad arguments (argparse's own code, and any ``ValueError`` raised by
validation before work starts).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from icml22dl import __version__
from icml22dl.runner import EXECUTORS, REPRODUCED, SCALES, parse_seeds, run_claim
from icml22dl.runner.claims import verdict_of

DEFAULT_ROOT = "results"


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return "-" if value is None else str(value)

    cells = [list(map(str, header))] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icml22dl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"icml22dl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the registered papers")

    show = sub.add_parser("show", help="a paper's config fields, presets and criteria")
    show.add_argument("slug")

    def add_run_options(p: argparse.ArgumentParser, seeds_default: str | None) -> None:
        p.add_argument("--scale", default="quick", help=f"preset to run: {', '.join(SCALES)} (or a paper's extra preset)")
        p.add_argument("--seeds", default=seeds_default, help="e.g. 0-2 or 0,3,5-6 (default: the paper's seeds)")
        p.add_argument("--root", default=DEFAULT_ROOT, help="results root (default: ./results)")
        p.add_argument("--executor", default="serial", help=f"one of {', '.join(EXECUTORS)}")
        p.add_argument("--workers", type=int, default=None, help="processes for --executor process")
        p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per run (default 1)")
        p.add_argument("--data-dir", default=None, help="data root (else $ICML22DL_DATA, else ~/.cache/icml22dl)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    run = sub.add_parser("run", help="check one paper's claim over seeds")
    run.add_argument("slug")
    add_run_options(run, None)
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                     help="override a config field (repeatable); see 'icml22dl show SLUG'")

    reproduce = sub.add_parser("reproduce", help="check every registered claim, then write the report")
    add_run_options(reproduce, None)
    reproduce.add_argument("--only", default=None, help="comma-separated slugs (default: all)")

    report = sub.add_parser("report", help="write report.html and CSVs for a results root")
    report.add_argument("root", nargs="?", default=DEFAULT_ROOT)

    readme = sub.add_parser("readme", help="regenerate the README's paper table (in the repository root)")
    readme.add_argument("--root", default=None, help="record the verdicts of this results root first")
    readme.add_argument("--repo", default=".", help="repository root holding README.md and docs/verdicts.json")
    readme.add_argument("--check", action="store_true", help="exit 1 if the table is out of date; write nothing")
    return parser


def _print_claim(paper: Any, record: dict[str, Any]) -> None:
    seeds = record["seeds"]
    metrics = {seed: _load_metrics(record, paper.slug, seed) for seed in seeds}
    names = list(dict.fromkeys([*paper.summary, *(c["metric"] for c in record["criteria"])]))
    rows = [[name, *(metrics[s].get(name) for s in seeds)] for name in names]
    print(f"\n{paper.slug}: {record['title']}  [scale {record['scale']}, config {record['config_hash']}]")
    print(_table(rows, ["metric", *(f"seed {s}" for s in seeds)]))
    crit_rows = [
        [c["id"], c["reduce"], c["value"], f"{c['op']} {c['threshold']:g}", c["paper_value"], c["verdict"]]
        for c in record["criteria"]
    ]
    print(_table(crit_rows, ["criterion", "over seeds", "value", "bar", "paper", "verdict"]))
    statuses = {s: st for s, st in record["statuses"].items() if st != "ok"}
    if statuses:
        print(f"runs not ok: {statuses}")
    print(f"verdict: {record['verdict'].upper()}  ({len(record['computed_seeds'])} of {len(seeds)} seeds computed "
          f"now, {record['wall_time_s']:.1f} s wall)")


def _load_metrics(record: dict[str, Any], slug: str, seed: int) -> dict[str, Any]:
    from icml22dl.runner.store import read_json

    path = Path(record["root"]) / slug / record["config_hash"] / f"seed_{seed}" / "result.json"
    return read_json(path).get("metrics", {})


def _run_one_paper(slug: str, args: argparse.Namespace, overrides: Sequence[str]) -> dict[str, Any]:
    from icml22dl.papers import get_paper

    paper = get_paper(slug)
    config = paper.preset(args.scale).with_overrides(overrides)
    seeds = parse_seeds(args.seeds) if args.seeds else list(paper.seeds)
    record = run_claim(paper, config, seeds, Path(args.root), args.scale, executor=args.executor,
                       workers=args.workers, threads=args.threads, quiet=args.quiet or not sys.stderr.isatty())
    record["root"] = args.root
    _print_claim(paper, record)
    return record


def _validate_run_args(args: argparse.Namespace) -> None:
    from icml22dl.runner.executors import check_executor

    check_executor(args.executor)
    if args.seeds:
        parse_seeds(args.seeds)
    if args.threads < 1:
        raise ValueError(f"--threads={args.threads} must be >= 1")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers={args.workers} must be >= 1")
    if args.data_dir:
        os.environ["ICML22DL_DATA"] = str(Path(args.data_dir).resolve())


def _print_verdicts(records: Sequence[dict[str, Any]]) -> None:
    rows = [[r["slug"], r["scale"], ",".join(map(str, r["seeds"])), r["verdict"]] for r in records]
    print("\n" + _table(rows, ["claim", "scale", "seeds", "verdict"]))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``icml22dl`` command."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ValueError as error:
        print(f"icml22dl: error: {error}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    from icml22dl.papers import get_paper, list_papers

    if args.command == "list":
        rows = [[slug, get_paper(slug).title, ", ".join(get_paper(slug).presets)] for slug in list_papers()]
        print(_table(rows, ["slug", "claim", "presets"]))
        return 0
    if args.command == "show":
        paper = get_paper(args.slug)
        print(f"{paper.slug}: {paper.title}\n")
        print(_table(paper.config_class.describe(), ["field", "type", "default", "allowed", "help"]))
        for name, preset in paper.presets.items():
            changed = {k: v for k, v in preset.to_dict().items() if v != getattr(paper.config_class(), k)}
            print(f"\npreset {name} (config {preset.config_hash()}): {changed or 'the defaults'}")
        return 0
    if args.command == "readme":
        return _readme(args)
    if args.command == "report":
        path = _write_report(Path(args.root))
        print(f"report: {path}")
        return 0
    _validate_run_args(args)
    if args.command == "run":
        get_paper(args.slug).preset(args.scale)
        records = [_run_one_paper(args.slug, args, args.overrides)]
    else:
        slugs = args.only.split(",") if args.only else list_papers()
        for slug in slugs:
            get_paper(slug).preset(args.scale)
        records = [_run_one_paper(slug, args, []) for slug in slugs]
        print(f"report: {_write_report(Path(args.root))}")
    _print_verdicts(records)
    return 0 if verdict_of(records) == REPRODUCED else 1


def _readme(args: argparse.Namespace) -> int:
    import json

    from icml22dl.papers import PAPERS
    from icml22dl.report.readme import collect_verdicts, render_table, update_readme
    from icml22dl.runner.store import write_json_atomic

    repo = Path(args.repo)
    verdicts_file = repo / "docs" / "verdicts.json"
    verdicts = json.loads(verdicts_file.read_text()) if verdicts_file.exists() else {}
    if args.root:
        for slug, scales in collect_verdicts(Path(args.root)).items():
            verdicts.setdefault(slug, {}).update(scales)
    table = render_table(PAPERS, verdicts)
    if args.check:
        current = (repo / "README.md").read_text()
        if table not in current:
            print("README.md's paper table is out of date: run 'icml22dl readme'", file=sys.stderr)
            return 1
        return 0
    if args.root:
        write_json_atomic(verdicts_file, verdicts)
    changed = update_readme(repo / "README.md", table)
    print("README.md table " + ("updated" if changed else "already up to date"))
    return 0


def _write_report(root: Path) -> Path:
    from icml22dl.report import write_report

    if not root.is_dir():
        raise ValueError(f"results root {str(root)!r} does not exist")
    return write_report(root)


if __name__ == "__main__":
    sys.exit(main())
