"""Run directories, atomic writes and the step-wise metrics log.

Layout: ``<root>/<slug>/<config hash>/seed_<k>/`` holding ``config.json``,
``metrics.jsonl`` and ``result.json``; the claim verdict over seeds sits beside the seed
folders as ``claim.json``. ``result.json`` is written last and atomically, so its presence
means the run finished: a run with one is never recomputed, and a killed sweep resumes
with exactly the runs that had not finished.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _jsonable(value: Any) -> Any:
    """Floats that are not finite become ``None`` so the files stay strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _jsonable(value.item())
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temp file and ``os.replace``.

    A reader (or a killed writer) never sees a half-written file.

    Non-finite floats become ``null`` (strict JSON); numpy and torch scalars become numbers.

    References:
        JSON (RFC 8259); atomic replacement by :func:`os.replace` (POSIX ``rename(2)``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "run" / "result.json"
        >>> write_json_atomic(path, {"acc": 0.5, "loss": float("nan")})
        >>> read_json(path)
        {'acc': 0.5, 'loss': None}
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_jsonable(data), handle, indent=2, sort_keys=True, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """Read one JSON file.

    References:
        JSON (RFC 8259), read with :func:`json.load`.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "claim.json"
        >>> _ = path.write_text('{"verdict": "reproduced"}')
        >>> read_json(path)["verdict"]
        'reproduced'
    """
    with open(path) as handle:
        return json.load(handle)


@dataclass(frozen=True)
class RunDir:
    """The directory of one (slug, config, seed) run.

    References:
        The run directory layout ``<root>/<slug>/<config hash>/seed_<k>/`` of
        ``docs/architecture.md`` (run directory layout).

    Example:
        >>> run = RunDir(Path("results"), "momentum", "0123456789ab", 2)
        >>> run.result_file.as_posix()
        'results/momentum/0123456789ab/seed_2/result.json'
        >>> run.is_done()
        False
    """

    root: Path
    slug: str
    config_hash: str
    seed: int

    @property
    def claim_dir(self) -> Path:
        return self.root / self.slug / self.config_hash

    @property
    def path(self) -> Path:
        return self.claim_dir / f"seed_{self.seed}"

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def result_file(self) -> Path:
        return self.path / "result.json"

    def is_done(self) -> bool:
        """True once ``result.json`` exists: the run is finished and is never recomputed."""
        return self.result_file.exists()

    def load_result(self) -> dict[str, Any]:
        return read_json(self.result_file)


class RunLog:
    """What a paper's ``run(config, seed, log)`` reports through.

    ``log.metrics(step, **values)`` appends one line to ``metrics.jsonl`` (flushed, so a
    killed run keeps its curve up to the kill); ``log.progress(iterable)`` wraps a loop in
    a tqdm bar, shown only on a terminal and never with ``quiet``.

    References:
        JSON Lines (one JSON object per line, https://jsonlines.org) for ``metrics.jsonl``;
        tqdm for the progress bar.

    Example:
        >>> import json, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> with RunLog(path) as log:
        ...     for step in log.progress(range(2)):
        ...         log.metrics(step, loss=1.0 / (step + 1))
        >>> [json.loads(line) for line in path.read_text().splitlines()]
        [{'step': 0, 'loss': 1.0}, {'step': 1, 'loss': 0.5}]
    """

    def __init__(self, metrics_file: Path | None, *, quiet: bool = True, desc: str = "") -> None:
        self._handle = open(metrics_file, "w") if metrics_file is not None else None
        self._quiet = quiet
        self._desc = desc

    def metrics(self, step: int, **values: float) -> None:
        """Record the values of one step."""
        if self._handle is None:
            return
        self._handle.write(json.dumps(_jsonable({"step": int(step), **values}), allow_nan=False) + "\n")
        self._handle.flush()

    def progress(self, iterable: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """Iterate with a progress bar (quiet when not on a terminal or when asked)."""
        label = f"{self._desc} {desc}".strip()
        return iter(tqdm(iterable, total=total, desc=label, leave=False, disable=self._quiet or None))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def null_log() -> RunLog:
    """A log that records nothing: for calling a paper's ``run`` from a notebook or a test.

    References:
        The :class:`RunLog` interface, with no file behind it.

    Example:
        >>> log = null_log()
        >>> log.metrics(0, loss=1.0)  # recorded nowhere
        >>> list(log.progress(range(3)))
        [0, 1, 2]
    """
    return RunLog(None)
