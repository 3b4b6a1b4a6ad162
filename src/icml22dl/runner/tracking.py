"""Experiment tracking: copy finished runs and verdicts into TensorBoard or MLflow.

Trackers read what the runner wrote (``config.json``, ``metrics.jsonl``, ``result.json``,
``claim.json``) once a run has ended, in the process that launched the sweep. So every
executor, a Slurm array included, is tracked the same way, workers need no access to the
tracking store, and the run directories stay the single source of truth.

- ``tensorboard`` (extra ``track``): event files under ``<uri>`` (default
  ``<root>/tensorboard``)/``<slug>/<config hash>/seed_<k>``: every step-wise metric as a
  scalar, the config and status as text; the claim's verdict as text.
- ``mlflow`` (extra ``track``): experiment ``icml22dl/<slug>``, one MLflow run per seed run
  (params = config fields, step-wise metrics, final metrics, tags slug / scale / seed /
  config hash / status) and one per claim (the verdict as a tag, each criterion's value as a
  metric). Default store: SQLite at ``<root>/mlflow.db``; ``--track-uri`` takes any MLflow
  tracking URI (``file:...``, ``sqlite:///...``, ``http://...``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from icml22dl.runner.executors import MissingExtraError
from icml22dl.runner.store import RunDir

TRACKERS = ("tensorboard", "mlflow")


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A ``config.json`` mapping with nested blocks flattened to dotted names (``net.epochs``).

    References:
        The dotted field names of ``icml22dl show`` and ``--set block.field=value``.

    Example:
        >>> flat_config({"lr": 0.1, "net": {"epochs": 10, "widths": [4, 8]}})
        {'lr': 0.1, 'net.epochs': 10, 'net.widths': [4, 8]}
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Tracker(Protocol):
    def log_run(self, run_dir: RunDir) -> None: ...

    def log_claim(self, record: dict[str, Any]) -> None: ...


def make_tracker(kind: str, root: Path, uri: str | None = None) -> Tracker:
    """The tracker named ``kind`` writing to ``uri`` (default: inside ``root``)."""
    if kind == "tensorboard":
        return TensorBoardTracker(Path(uri) if uri else Path(root) / "tensorboard")
    if kind == "mlflow":
        return MLflowTracker(uri or f"sqlite:///{Path(root).resolve() / 'mlflow.db'}")
    raise ValueError(f"track={kind!r} is unknown: choose one of {list(TRACKERS)}")


def _step_metrics(run_dir: RunDir) -> Iterator[tuple[int, str, float]]:
    if not run_dir.metrics_file.exists():
        return
    for line in run_dir.metrics_file.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = int(row.pop("step"))
        for key, value in row.items():
            if isinstance(value, (int, float)):
                yield step, key, float(value)


def _final_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result["metrics"].items() if isinstance(v, (int, float))}


class TensorBoardTracker:
    """Writes event files with ``torch.utils.tensorboard``."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise MissingExtraError(
                f"tensorboard is needed for --track tensorboard: pip install 'icml22dl[track]' ({error})"
            ) from None
        self._writer_class = SummaryWriter
        self.log_dir = log_dir

    def log_run(self, run_dir: RunDir) -> None:
        result = run_dir.load_result()
        folder = self.log_dir / run_dir.slug / run_dir.config_hash / f"seed_{run_dir.seed}"
        with self._writer_class(log_dir=str(folder)) as writer:
            writer.add_text("config", f"```\n{json.dumps(result['config'], indent=2)}\n```")
            writer.add_text("status", result["status"])
            last = 0
            for step, key, value in _step_metrics(run_dir):
                writer.add_scalar(key, value, step)
                last = max(last, step)
            for key, value in _final_metrics(result).items():
                writer.add_scalar(f"final/{key}", value, last)

    def log_claim(self, record: dict[str, Any]) -> None:
        folder = self.log_dir / record["slug"] / record["config_hash"] / "claim"
        with self._writer_class(log_dir=str(folder)) as writer:
            lines = [f"**{record['verdict']}** ({record['scale']}, seeds {record['seeds']})"]
            lines += [
                f"- {c['id']}: {c['value']} {c['op']} {c['threshold']}: {c['verdict']}" for c in record["criteria"]
            ]
            writer.add_text("verdict", "\n".join(lines))


class MLflowTracker:
    """Logs through ``mlflow.tracking.MlflowClient`` (no global active run)."""

    BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch call

    def __init__(self, uri: str) -> None:
        try:
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
        except ImportError as error:
            raise MissingExtraError(
                f"mlflow is needed for --track mlflow: pip install 'icml22dl[track]' ({error})"
            ) from None
        self.uri = uri
        self._client = MlflowClient(tracking_uri=uri)
        self._metric, self._param = Metric, Param

    def _experiment(self, slug: str) -> str:
        name = f"icml22dl/{slug}"
        experiment = self._client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment else self._client.create_experiment(name)

    def _log(self, run_id: str, metrics: list[Any], params: list[Any]) -> None:
        for start in range(0, max(len(metrics), len(params), 1), self.BATCH):
            self._client.log_batch(
                run_id, metrics=metrics[start : start + self.BATCH], params=params[start : start + self.BATCH]
            )

    def log_run(self, run_dir: RunDir) -> None:
        result = run_dir.load_result()
        now = int(time.time() * 1000)
        tags = {
            "slug": run_dir.slug,
            "scale": result["scale"],
            "seed": str(run_dir.seed),
            "config_hash": run_dir.config_hash,
            "status": result["status"],
        }
        run = self._client.create_run(
            self._experiment(run_dir.slug), run_name=f"{run_dir.config_hash}/seed_{run_dir.seed}", tags=tags
        )
        metrics = [self._metric(key, value, now, step) for step, key, value in _step_metrics(run_dir)]
        metrics += [self._metric(f"final/{key}", value, now, 0) for key, value in _final_metrics(result).items()]
        params = [
            self._param(key, json.dumps(value)[:500]) for key, value in sorted(flat_config(result["config"]).items())
        ]
        self._log(run.info.run_id, metrics, params)
        self._client.set_terminated(run.info.run_id, status="FINISHED" if result["status"] == "ok" else "FAILED")

    def log_claim(self, record: dict[str, Any]) -> None:
        now = int(time.time() * 1000)
        tags = {
            "slug": record["slug"],
            "scale": record["scale"],
            "config_hash": record["config_hash"],
            "verdict": record["verdict"],
            "seeds": ",".join(map(str, record["seeds"])),
        }
        run = self._client.create_run(
            self._experiment(record["slug"]), run_name=f"{record['config_hash']}/claim", tags=tags
        )
        metrics = [
            self._metric(f"criterion/{c['id']}", float(c["value"]), now, 0)
            for c in record["criteria"]
            if c["value"] is not None
        ]
        params = [
            self._param(key, json.dumps(value)[:500]) for key, value in sorted(flat_config(record["config"]).items())
        ]
        self._log(run.info.run_id, metrics, params)
        self._client.set_terminated(run.info.run_id)
