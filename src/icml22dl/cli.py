"""The icml22dl command line: list and show the papers, check their claims, fetch their data, report.

Exit codes: 0 when every requested claim is reproduced; 1 when a claim is not reproduced,
is inconclusive or was skipped by ``reproduce --offline`` for want of its data (and for
``readme --check``, when the README's table is stale), never for anything else; 2 for a
problem with the input or the file system, reported in one line on stderr without a
traceback: a bad argument or ``--set``, an unknown slug or scale, a results root that is a
file or is not writable, a missing optional extra, a missing or corrupt data file; 130 when
interrupted (Ctrl-C), leaving no partial ``result.json`` (an interrupted run is recomputed
next time); 3 for an unexpected error, a bug, reported with its traceback.

``icml22dl --help`` and ``icml22dl list`` import no paper and no torch, so they answer
at once (``list`` reads :mod:`icml22dl.paper_index`).

``icml22dl gpu-check --budget SECONDS`` probes every paper's ``paper`` preset for a share of
the budget, runs the Adai / SGD-M / Adam CIFAR-10 headline with the time left and writes
``gpu_check.json`` and ``gpu_check.md`` (:mod:`icml22dl.runner.gpu_check`); it exits 0 once
they are written, 2 for a bad argument (or ``--device cuda`` without a CUDA device).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from icml22dl import __version__, data_commands

# Nothing here imports torch, the runner or a paper at module level: --help and list stay
# fast. The runner's names the parser shows are repeated here; tests/test_cli.py checks
# them against icml22dl.runner.
DEFAULT_ROOT = "results"
SCALES = ("quick", "paper")
EXECUTORS = ("serial", "process", "submitit", "ray")
DEVICES = ("cpu", "cuda", "auto")

#: Exit codes (see the module docstring).
EXIT_NOT_REPRODUCED, EXIT_INPUT, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, like every other input error."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_INPUT, f"icml22dl: error: {self.prog}: {message} (see '{self.prog} --help')\n")


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
    parser = _Parser(prog="icml22dl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"icml22dl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the registered papers")

    show = sub.add_parser("show", help="a paper's config fields, presets and criteria")
    show.add_argument("slug", help="a paper's slug (see 'icml22dl list')")

    def add_run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--scale", default="quick", help=f"preset to run: {', '.join(SCALES)} (or a paper's extra preset)"
        )
        p.add_argument("--seeds", default=None, help="e.g. 0-2 or 0,3,5-6 (default: the paper's seeds)")
        p.add_argument("--root", default=DEFAULT_ROOT, help="results root (default: ./results)")
        p.add_argument("--executor", default="serial", help=f"one of {', '.join(EXECUTORS)}")
        p.add_argument(
            "--executor-opt",
            dest="executor_options",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="executor option, repeatable: cluster=local (submitit), address=auto (ray), "
            "slurm_partition=..., timeout_min=...",
        )
        p.add_argument("--workers", type=int, default=None, help="parallel workers (process, ray, submitit arrays)")
        p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per run (default 1)")
        p.add_argument(
            "--device",
            default=None,
            choices=DEVICES,
            help="the device of every config that has one (CPU-only papers have none)",
        )
        p.add_argument("--data-dir", default=None, help="data root (else $ICML22DL_DATA, else ~/.cache/icml22dl)")
        p.add_argument("--track", default=None, choices=("tensorboard", "mlflow"), help="also log to a tracker")
        p.add_argument(
            "--track-uri",
            default=None,
            help="tracker location (default: <root>/tensorboard, or sqlite:///<root>/mlflow.db)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        data_commands.add_options(p)

    def add_overrides(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="override a config field (repeatable); see 'icml22dl show SLUG'",
        )

    run = sub.add_parser("run", help="check one paper's claim over seeds")
    run.add_argument("slug", help="a paper's slug (see 'icml22dl list')")
    add_run_options(run)
    add_overrides(run)

    sweep = sub.add_parser("sweep", help="a grid of configs x seeds, each point judged as a claim")
    sweep.add_argument("slug", help="a paper's slug (see 'icml22dl list')")
    add_run_options(sweep)
    add_overrides(sweep)
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=V1,V2",
        help="a grid axis (repeatable; the grid is their cartesian product)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="list what would run and what is done; run nothing")

    reproduce = sub.add_parser("reproduce", help="check every registered claim, then write the report")
    add_run_options(reproduce)
    reproduce.add_argument("--only", default=None, help="comma-separated slugs (default: all)")

    report = sub.add_parser("report", help="write report.html and CSVs for a results root")
    report.add_argument("root", nargs="?", default=DEFAULT_ROOT)

    readme = sub.add_parser("readme", help="regenerate the README's paper table (in the repository root)")
    readme.add_argument("--root", default=None, help="record the verdicts of this results root first")
    readme.add_argument("--repo", default=".", help="repository root holding README.md and docs/verdicts.json")
    readme.add_argument("--check", action="store_true", help="exit 1 if the table is out of date; write nothing")
    data_commands.add_parser(sub)

    gpu = sub.add_parser("gpu-check", help="time every paper's paper preset, then a headline run, within a budget")
    gpu.add_argument("--budget", type=float, default=540.0, help="seconds for the whole check (default 540)")
    gpu.add_argument("--device", default="auto", choices=DEVICES, help="where every config with a device computes")
    gpu.add_argument("--out", default="results/gpu-check", help="folder of gpu_check.json and gpu_check.md")
    gpu.add_argument("--max-steps", type=int, default=50, help="steps per paper's probe at most (default 50)")
    gpu.add_argument("--only", default=None, help="comma-separated slugs (default: all)")
    gpu.add_argument("--data-dir", default=None, help="data root (else $ICML22DL_DATA, else ~/.cache/icml22dl)")
    gpu.add_argument("--fetch", action="store_true", help="download missing data (default: never; skip the paper)")
    return parser


def _print_claim(paper: Any, record: dict[str, Any], root: Path) -> None:
    from icml22dl.runner.store import read_json

    seeds = record["seeds"]
    claim_dir = root / paper.slug / record["config_hash"]
    metrics = {seed: read_json(claim_dir / f"seed_{seed}" / "result.json").get("metrics", {}) for seed in seeds}
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
    print(
        f"verdict: {record['verdict'].upper()}  ({len(record['computed_seeds'])} of {len(seeds)} seeds computed "
        f"now, {record['wall_time_s']:.1f} s wall)"
    )


class _Session:
    """The validated options shared by run, sweep and reproduce."""

    def __init__(self, args: argparse.Namespace) -> None:
        from icml22dl.runner import parse_seeds
        from icml22dl.runner.executors import check_executor, parse_options
        from icml22dl.runner.tracking import make_tracker
        from icml22dl.validation import check_int

        check_executor(args.executor)
        self.seeds = parse_seeds(args.seeds) if args.seeds else None
        check_int("--threads", args.threads, low=1)
        if args.workers is not None:
            check_int("--workers", args.workers, low=1)
        if args.data_dir:
            os.environ["ICML22DL_DATA"] = str(Path(args.data_dir).resolve())
        self.args = args
        self.root = Path(args.root)
        check_root(self.root)
        self.options = parse_options(args.executor_options)
        self.quiet = args.quiet or not sys.stderr.isatty()
        self.tracker = make_tracker(args.track, self.root, args.track_uri) if args.track else None

    def config(self, paper: Any, overrides: Sequence[str]) -> Any:
        config = paper.preset(self.args.scale).with_overrides(overrides)
        if self.args.device:
            if hasattr(config, "device"):
                config = config.replace(device=self.args.device)
            else:
                print(f"icml22dl: {paper.slug} computes on the CPU only; --device does not apply", file=sys.stderr)
        return config

    def kwargs(self) -> dict[str, Any]:
        on_finished: Callable[[Any], None] | None = None
        if self.tracker is not None:
            tracker = self.tracker
            on_finished = lambda task: tracker.log_run(task.run_dir)  # noqa: E731
        return dict(
            executor=self.args.executor,
            workers=self.args.workers,
            threads=self.args.threads,
            quiet=self.quiet,
            options=self.options,
            on_finished=on_finished,
        )

    def finish(self, paper: Any, record: dict[str, Any]) -> dict[str, Any]:
        if self.tracker is not None:
            self.tracker.log_claim(record)
        _print_claim(paper, record, self.root)
        return record


def _run(session: _Session, slug: str, overrides: Sequence[str]) -> dict[str, Any]:
    from icml22dl.papers import get_paper
    from icml22dl.runner import run_claim

    paper = get_paper(slug)
    config = session.config(paper, overrides)
    seeds = session.seeds or list(paper.seeds)
    record = run_claim(paper, config, seeds, session.root, session.args.scale, **session.kwargs())
    return session.finish(paper, record)


def _sweep(session: _Session, args: argparse.Namespace) -> list[dict[str, Any]] | None:
    from icml22dl.papers import get_paper
    from icml22dl.runner.sweep import changed_fields, parse_grid, plan_sweep, run_sweep

    paper = get_paper(args.slug)
    base = session.config(paper, args.overrides)
    configs = parse_grid(base, args.grid)
    seeds = session.seeds or list(paper.seeds)
    if args.dry_run:
        plan = plan_sweep(paper, configs, seeds, session.root, args.scale)
        rows = [
            [
                t.config.config_hash(),
                ", ".join(f"{k}={v}" for k, v in changed_fields(t.config, base).items()) or "(base)",
                t.seed,
                "done" if t.run_dir.is_done() else "todo",
            ]
            for t in plan.tasks
        ]
        print(_table(rows, ["config", "grid point", "seed", "status"]))
        print(f"{len(plan.todo)} to run, {len(plan.done)} done")
        return None
    records = run_sweep(paper, configs, seeds, session.root, args.scale, **session.kwargs())
    for record in records:
        session.finish(paper, record)
    from icml22dl.report import write_csv

    write_csv(session.root)
    return records


def _print_verdicts(records: Sequence[dict[str, Any]]) -> None:
    rows = [[r["slug"], r["scale"], r["config_hash"], ",".join(map(str, r["seeds"])), r["verdict"]] for r in records]
    print("\n" + _table(rows, ["claim", "scale", "config", "seeds", "verdict"]))


#: Errors that are the user's input or the machine's files, not a bug: one line on stderr, exit 2.
#: ValueError covers validation (a bad --set, an unknown slug or scale) and
#: icml22dl.data.ChecksumError; ImportError a missing optional extra (the runner's
#: MissingExtraError names the pip extra); OSError a root that is a file or unwritable, a
#: missing data file, a full disk.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, ImportError, OSError)


def _one_line(error: BaseException) -> str:
    """The error's message on one line (an OS error as its reason and file), else its type's name."""
    text = str(error).strip()
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.strerror}: {error.filename!r}"  # e.g. a root that is a file
    if isinstance(error, ImportError) and not text:
        text = f"a module could not be imported: {error.name}"
    return " ".join(text.split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``icml22dl`` command; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("icml22dl: interrupted; finished runs are kept, unfinished ones rerun next time", file=sys.stderr)
        return EXIT_INTERRUPTED
    except INPUT_ERRORS as error:
        print(f"icml22dl: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_INPUT
    except Exception:
        import traceback

        traceback.print_exc()
        print("icml22dl: internal error (a bug, please report it with the traceback above)", file=sys.stderr)
        return EXIT_BUG


def check_root(root: Path) -> None:
    """Reject a results root that is not a directory or cannot be written, before any work.

    Raises:
        ValueError: naming the root and the problem (nothing is created).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> check_root(folder / "results")  # absent, under a writable folder: fine
        >>> _ = (folder / "notes.txt").write_text("not a folder")
        >>> check_root(folder / "notes.txt" / "results")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: --root '...results' is a file, not a directory (its parent '...notes.txt' is a file)
    """
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == root else f" (its parent {str(existing)!r} is a file)"
        raise ValueError(f"--root {str(root)!r} is a file, not a directory{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--root {str(root)!r} is not writable ({str(existing)!r} denies writing)")


def _show(slug: str) -> None:
    from icml22dl.papers import get_paper

    paper = get_paper(slug)
    print(f"{paper.slug}: {paper.title}\n")
    print(_table(paper.config_class.describe(), ["field", "type", "default", "allowed", "help"]))
    defaults = paper.config_class().flat_dict()
    for name, preset in paper.presets.items():
        changed = {k: v for k, v in preset.flat_dict().items() if v != defaults.get(k)}
        print(f"\npreset {name} (config {preset.config_hash()}): {changed or 'the defaults'}")
    claim = paper.claim
    print(f"\nclaim: {claim.statement}\npaper: {claim.paper}\n")
    rows = [
        [
            c.id,
            c.metric,
            c.op,
            c.threshold,
            "-" if c.inconclusive is None else f"{c.inconclusive:g}",
            c.reduce,
            ",".join(c.scales),
            "yes" if c.informational else "no",
        ]
        for c in claim.criteria
    ]
    print(_table(rows, ["criterion", "metric", "op", "bar", "inconclusive", "reduce", "scales", "informational"]))
    print("\nwhy each bar:")
    for c in claim.criteria:
        print(f"  {c.id}: {' '.join(c.why.split()) or '-'}")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "list":
        from icml22dl.paper_index import list_index

        rows = [[slug, title, ", ".join(presets)] for slug, title, presets in list_index()]
        print(_table(rows, ["slug", "claim", "presets"]))
        return 0
    if args.command == "show":
        _show(args.slug)
        return 0
    if args.command == "data":
        return data_commands.main(args)
    if args.command == "gpu-check":
        return _gpu_check(args)

    from icml22dl.papers import get_paper, list_papers

    if args.command == "readme":
        return _readme(args)
    if args.command == "report":
        print(f"report: {_write_report(Path(args.root))}")
        return 0

    slugs = [args.slug] if args.command in ("run", "sweep") else (args.only.split(",") if args.only else list_papers())
    for slug in slugs:  # validate every slug and scale before any work
        get_paper(slug).preset(args.scale)
    session = _Session(args)
    if args.command != "reproduce":
        data_commands.preflight(slugs, args)  # the data is here (fetched if needed) before any work
    if args.command == "sweep":
        records = _sweep(session, args)
        if records is None:
            return 0
    elif args.command == "run":
        records = [_run(session, args.slug, args.overrides)]
    else:
        records = data_commands.reproduce_all(slugs, session, lambda slug: _run(session, slug, []))
        print(f"report: {_write_report(session.root)}")
    _print_verdicts(records)
    from icml22dl.runner import REPRODUCED
    from icml22dl.runner.claims import verdict_of

    return 0 if verdict_of(records) == REPRODUCED else EXIT_NOT_REPRODUCED


def _gpu_check(args: argparse.Namespace) -> int:
    started = time.perf_counter()  # the budget counts from here: after start-up and parsing
    from icml22dl.papers import get_paper, list_papers
    from icml22dl.runner.gpu_check import run_gpu_check
    from icml22dl.validation import check_int

    check_int("--max-steps", args.max_steps, low=1)
    if not (args.budget > 0 and math.isfinite(args.budget)):
        raise ValueError(f"--budget={args.budget} must be a positive number of seconds")
    if args.data_dir:
        os.environ["ICML22DL_DATA"] = str(Path(args.data_dir).resolve())
    check_root(Path(args.out))
    papers = [get_paper(slug) for slug in (args.only.split(",") if args.only else list_papers())]
    data_dir = args.data_dir or os.environ.get("ICML22DL_DATA") or None

    def missing(slug: str) -> str | None:
        return data_commands.ensure_data(slug, "paper", data_dir, offline=not args.fetch, quiet=True)

    result = run_gpu_check(
        papers,
        budget=args.budget,
        device=args.device,
        out=Path(args.out),
        max_steps=args.max_steps,
        missing_data=missing,
        started=started,
    )
    print(result.markdown_path.read_text())
    print(f"gpu-check: {result.json_path} and {result.markdown_path} ({result.summary['wall_s']:.1f} s)")
    return 0


def _readme(args: argparse.Namespace) -> int:
    from icml22dl.papers import PAPERS
    from icml22dl.report.readme import collect_verdicts, merge_verdicts, not_run_records, render_table, update_readme
    from icml22dl.runner.claims import tomllib
    from icml22dl.runner.store import write_json_atomic

    repo = Path(args.repo)
    verdicts_file = repo / "docs" / "verdicts.json"
    verdicts = json.loads(verdicts_file.read_text()) if verdicts_file.exists() else {}
    not_run_file = repo / "docs" / "paper_scale.toml"
    if not_run_file.exists():  # settings timed but not run: their measured reason, unless a verdict exists
        verdicts = merge_verdicts(verdicts, not_run_records(tomllib.loads(not_run_file.read_text())))
    if args.root:
        verdicts = merge_verdicts(verdicts, collect_verdicts(Path(args.root)))
    table = render_table(PAPERS, verdicts)
    if args.check:
        if table not in (repo / "README.md").read_text():
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
        problem = "is a file, not a directory" if root.exists() else "does not exist"
        raise ValueError(f"results root {str(root)!r} {problem}")
    return write_report(root)


if __name__ == "__main__":
    sys.exit(main())
