"""``icml22dl data list / fetch / verify``, and the data pre-flight of ``run``, ``sweep`` and ``reproduce``.

The data sets, their files and checksums are :data:`icml22dl.data.catalog.CATALOG`; what a
paper reads at a scale is its ``Paper.data`` declaration. Before any work starts, ``run``
and ``reproduce`` check that data under the data root and fetch what is missing (saying
what and how large), unless ``--offline`` is given: then a missing file is one line naming
it and the command that fetches it (exit 2 for ``run``; ``reproduce`` records that claim as
``skipped`` and runs the others).

This module imports neither torch nor a paper at import time (``icml22dl --help`` stays
fast); the catalogue and the registry are imported when a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: Exit codes of ``icml22dl data``: a failed download or a corrupt file, and a bad argument / missing data.
EXIT_FAILED, EXIT_INPUT = 1, 2


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--offline`` and ``--mirror`` to a command that runs claims (``run``, ``sweep``, ``reproduce``)."""
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never download: missing data is an error naming the files and the command that fetches them",
    )
    parser.add_argument(
        "--mirror",
        default=None,
        metavar="URL",
        help="fetch missing data from URL/<path under the data root> instead of the upstream sources "
        "(default: $ICML22DL_MIRROR)",
    )


def add_parser(subparsers: Any) -> None:
    """Add the ``data`` command (``list``, ``fetch``, ``verify``) to the CLI's sub-parsers."""
    data = subparsers.add_parser("data", help="list, fetch and verify the data sets the claims read")
    sub = data.add_subparsers(dest="data_command", required=True)

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", default=None, help="data root (else $ICML22DL_DATA, else ~/.cache/icml22dl)")

    listing = sub.add_parser("list", help="every data set: files, sizes, the claims that need it, its state here")
    data_dir(listing)
    fetch = sub.add_parser("fetch", help="download missing data (default: what the quick scale needs)")
    fetch.add_argument("names", nargs="*", help="data sets to fetch (see 'icml22dl data list')")
    fetch.add_argument("--all", action="store_true", help="everything every scale needs (the paper scale too)")
    fetch.add_argument(
        "--mirror",
        default=None,
        metavar="URL",
        help="fetch from URL/<path under the data root> instead of the upstream sources (default: $ICML22DL_MIRROR)",
    )
    fetch.add_argument("--quiet", action="store_true", help="no progress bars")
    data_dir(fetch)
    verify = sub.add_parser(
        "verify", help="check every present file's SHA-256 (and that the quick scale's data is here)"
    )
    verify.add_argument("names", nargs="*", help="data sets to check (default: all present, and the quick scale's)")
    data_dir(verify)


def main(args: argparse.Namespace) -> int:
    """Run ``icml22dl data <list|fetch|verify>``; return the exit code."""
    from icml22dl.data import catalog

    catalog.check_names(list(getattr(args, "names", []) or []))
    if args.data_command == "list":
        return _list(args.data_dir)
    if args.data_command == "verify":
        return _verify(args.names, args.data_dir)
    names = list(args.names) or _scale_sets(None if args.all else "quick")
    return _fetch(names, args.data_dir, args.mirror, quiet=args.quiet, explicit=bool(args.names))


def needs() -> dict[str, list[str]]:
    """Data set name -> ``["slug (scale, scale)", ...]``: which claims and scales read it."""
    from icml22dl.papers import PAPERS

    found: dict[str, dict[str, list[str]]] = {}
    for slug, paper in PAPERS.items():
        for scale, names in paper.data.items():
            for name in names:
                found.setdefault(name, {}).setdefault(slug, []).append(scale)
    return {name: [f"{slug} ({', '.join(scales)})" for slug, scales in by.items()] for name, by in found.items()}


def _scale_sets(scale: str | None) -> list[str]:
    """The data sets every paper needs at ``scale`` (None: at any scale), in catalogue order."""
    from icml22dl.data.catalog import CATALOG
    from icml22dl.papers import PAPERS

    wanted = {
        name
        for paper in PAPERS.values()
        for preset, names in paper.data.items()
        if scale is None or preset == scale
        for name in names
    }
    return [name for name in CATALOG if name in wanted]


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _list(data_dir: str | None) -> int:
    from icml22dl.data import catalog
    from icml22dl.data.root import data_root

    root = data_root(data_dir)
    users = needs()
    print(f"data root: {root}")
    for name, dataset in catalog.CATALOG.items():
        needed_by = ", ".join(users.get(name, [])) or (
            "stands in for " + ", ".join(n for n, d in catalog.CATALOG.items() if name in d.alternatives)
            if any(name in d.alternatives for d in catalog.CATALOG.values())
            else "no claim"
        )
        print(f"\n{name}: {dataset.title}")
        print(f"  {catalog.format_size(dataset.size)}; needed by: {needed_by}")
        if dataset.notes:
            print(f"  note: {dataset.notes}")
        rows = [[f.relpath, catalog.format_size(f.size), catalog.file_status(f, root)] for f in dataset.files]
        print("  " + _table(rows, ["file", "size", "state"]).replace("\n", "\n  "))
    return 0


def _verify(names: Sequence[str], data_dir: str | None) -> int:
    from icml22dl.data import catalog
    from icml22dl.data.root import data_root

    root = data_root(data_dir)
    required = list(names) or _scale_sets("quick")
    checked = bad = 0
    absent: list[str] = []
    for name, dataset in catalog.CATALOG.items():
        states = [(f, catalog.file_status(f, root)) for f in dataset.files]
        if name not in required and all(state == catalog.MISSING for _, state in states):
            stand_in = [n for n in dataset.alternatives if catalog.complete(n, root)]
            absent.append(f"{name} ({stand_in[0]} stands in)" if stand_in else name)
            continue
        for file, state in states:
            if state == catalog.MISSING and name not in required:
                continue
            checked += 1
            bad += state in (catalog.MISSING, catalog.CORRUPT)
            label = {catalog.PRESENT: "verified", catalog.UNVERIFIED: "unverified"}.get(state, state.upper())
            print(f"{label:10}  {file.relpath}")
    print(f"\n{checked - bad} of {checked} files present and verified under {root}", end="")
    print(f"; not fetched: {', '.join(absent)}" if absent else "")
    if bad:
        print(f"fix: icml22dl data fetch {' '.join(required)}" + _dir_flag(data_dir), file=sys.stderr)
        return EXIT_FAILED
    return 0


def _dir_flag(data_dir: str | None) -> str:
    return f" --data-dir {data_dir}" if data_dir else ""


def _todo(names: Iterable[str], data_dir: str | None, explicit: bool) -> list[Any]:
    """The missing or corrupt files of ``names`` (a set satisfied by an alternative needs none, unless named)."""
    from icml22dl.data import catalog

    files = []
    for name in names:
        if not explicit and catalog.satisfied(name, data_dir):
            continue
        files += [f for f in catalog.CATALOG[name].files if catalog.file_status(f, data_dir) != catalog.PRESENT]
    return [f for f in files if catalog.file_status(f, data_dir) != catalog.UNVERIFIED]


def _download(names: Iterable[str], data_dir: str | None, mirror: str | None, quiet: bool, explicit: bool) -> None:
    """Fetch the missing files of each data set; a set the mirror lacks may come as one of its stand-ins.

    With a mirror, a data set that has ``alternatives`` (the canonical CIFAR-10 archive) and
    cannot be downloaded is replaced by the first alternative the mirror serves (the JPEG
    pack of a data-pack mirror), with a note; a data set named explicitly is never replaced.
    """
    from icml22dl.data import catalog
    from icml22dl.data.download import DownloadError, fetch_file

    for name in names:
        try:
            for file in _todo([name], data_dir, explicit):
                fetch_file(file, data_dir, mirror, quiet=quiet)
        except DownloadError as error:
            stand_ins = catalog.CATALOG[name].alternatives if mirror and not explicit else ()
            for other in stand_ins:
                try:
                    for file in _todo([other], data_dir, explicit=True):
                        fetch_file(file, data_dir, mirror, quiet=quiet)
                except DownloadError:
                    continue
                print(f"{name} is not on the mirror ({error}); fetched its stand-in {other}", file=sys.stderr)
                break
            else:
                raise


def _fetch(names: Sequence[str], data_dir: str | None, mirror: str | None, quiet: bool, explicit: bool) -> int:
    from icml22dl.data.catalog import format_size
    from icml22dl.data.download import DownloadError, mirror_from_env
    from icml22dl.data.root import data_root

    mirror = mirror_from_env(mirror)
    todo = _todo(names, data_dir, explicit)
    root = data_root(data_dir)
    if not todo:
        print(f"{', '.join(names) or 'nothing'}: present and verified under {root}", file=sys.stderr)
        return 0
    size = format_size(sum(f.size or 0 for f in todo))
    origin = f"mirror {mirror}" if mirror else "the upstream sources"
    print(f"fetching {len(todo)} files ({size}) of {', '.join(names)} into {root} from {origin}", file=sys.stderr)
    try:
        _download(names, data_dir, mirror, quiet, explicit)
    except (DownloadError, ValueError, PermissionError) as error:
        print(f"icml22dl: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_FAILED
    print(f"fetched {len(todo)} files; all verified", file=sys.stderr)
    return 0


def missing_for(slug: str, scale: str, data_dir: str | None = None) -> list[Any]:
    """The catalogue files that ``slug`` at ``scale`` needs and that are missing or corrupt here."""
    from icml22dl.data.catalog import needed

    return _todo(needed(slug, scale), data_dir, explicit=False)


def ensure_data(
    slug: str,
    scale: str,
    data_dir: str | None = None,
    offline: bool = False,
    mirror: str | None = None,
    quiet: bool = False,
) -> str | None:
    """Check (and unless ``offline``, fetch) the data ``slug`` needs at ``scale``.

    Returns:
        None when everything is present and verified; else one line saying what is missing
        (or why the fetch failed) and the command that fetches it.
    """
    from icml22dl.data.catalog import format_size, needed
    from icml22dl.data.download import DownloadError, mirror_from_env
    from icml22dl.data.root import data_root

    todo = missing_for(slug, scale, data_dir)
    if not todo:
        return None
    names = " ".join(needed(slug, scale))
    command = f"icml22dl data fetch {names}{_dir_flag(data_dir)}"
    root = data_root(data_dir)
    if offline:
        files = ", ".join(f.relpath for f in todo)
        return f"{slug} ({scale}) needs data missing under {root}: {files}; fetch them with: {command}"
    mirror = mirror_from_env(mirror)
    origin = f"mirror {mirror}" if mirror else "the upstream sources"
    size = format_size(sum(f.size or 0 for f in todo))
    print(f"{slug} ({scale}) needs {names}: fetching {len(todo)} files ({size}) from {origin}", file=sys.stderr)
    try:
        _download(needed(slug, scale), data_dir, mirror, quiet, explicit=False)
    except (DownloadError, ValueError, PermissionError) as error:
        return f"{slug} ({scale}): fetching its data failed: {' '.join(str(error).split())} (retry: {command})"
    return None


def preflight(slugs: Sequence[str], args: argparse.Namespace) -> None:
    """``run`` / ``sweep``: make sure the data is here before any work, or raise one clear error.

    Raises:
        FileNotFoundError: With the one line of :func:`ensure_data` (the CLI exits 2).
    """
    if getattr(args, "dry_run", False):  # a sweep's dry run computes nothing
        return
    for slug in slugs:
        reason = ensure_data(slug, args.scale, _data_dir(args), args.offline, args.mirror, quiet=_quiet(args))
        if reason is not None:
            raise FileNotFoundError(reason)


def reproduce_all(slugs: Sequence[str], session: Any, run: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """``reproduce``: run each claim whose data is here (fetched if needed), record the others as skipped.

    A claim whose data is missing (``--offline``) or could not be fetched, or whose run
    raises an input error (a missing extra, a missing or corrupt file), is recorded as
    ``skipped`` with its reason (:func:`icml22dl.runner.skip.record_skipped`) and the next
    claim runs.

    Args:
        slugs: The claims, in order.
        session: The CLI's session (``args``, ``config(paper, overrides)``, ``seeds``, ``root``).
        run: Runs one claim and returns its record.
    """
    args = session.args
    records = []
    for slug in slugs:
        reason = ensure_data(slug, args.scale, _data_dir(args), args.offline, args.mirror, quiet=_quiet(args))
        if reason is None:
            try:
                records.append(run(slug))
                continue
            except (ValueError, ImportError, OSError) as error:
                reason = f"{slug} ({args.scale}) failed: {type(error).__name__}: {' '.join(str(error).split())}"
        print(f"icml22dl: skipped {reason}", file=sys.stderr)
        records.append(_skip(session, slug, reason))
    return records


def _skip(session: Any, slug: str, reason: str) -> dict[str, Any]:
    from icml22dl.papers import get_paper
    from icml22dl.runner.skip import record_skipped

    paper = get_paper(slug)
    seeds = session.seeds or list(paper.seeds)
    return record_skipped(paper, session.config(paper, []), seeds, session.root, session.args.scale, reason)


def _data_dir(args: argparse.Namespace) -> str | None:
    return args.data_dir or os.environ.get("ICML22DL_DATA") or None


def _quiet(args: argparse.Namespace) -> bool:
    return bool(args.quiet) or not sys.stderr.isatty()
