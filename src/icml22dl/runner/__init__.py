"""The runner: typed configs, run directories, executors, claims and verdicts."""

from icml22dl.runner.claims import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    Criterion,
    Diverged,
    check_finite,
    diverged_as,
    load_claim,
    load_targets,
)
from icml22dl.runner.config import ConfigBlock, ExperimentConfig, config_hash, param
from icml22dl.runner.device import DEVICES, resolve_device
from icml22dl.runner.executors import EXECUTORS, map_tasks
from icml22dl.runner.experiment import SCALES, Curve, Paper
from icml22dl.runner.runs import RunTask, compute_runs, judge, run_claim, run_one
from icml22dl.runner.seeds import derive_generator, derive_seed, parse_seeds, seed_everything, torch_seeded
from icml22dl.runner.store import RunDir, RunLog, null_log, read_json, write_json_atomic

__all__ = [
    "DEVICES",
    "EXECUTORS",
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "SCALES",
    "Claim",
    "Criterion",
    "Curve",
    "Diverged",
    "ConfigBlock",
    "ExperimentConfig",
    "Paper",
    "RunDir",
    "RunLog",
    "RunTask",
    "check_finite",
    "diverged_as",
    "compute_runs",
    "config_hash",
    "derive_generator",
    "judge",
    "load_claim",
    "load_targets",
    "map_tasks",
    "null_log",
    "param",
    "parse_seeds",
    "read_json",
    "resolve_device",
    "run_claim",
    "run_one",
    "seed_everything",
    "torch_seeded",
    "derive_seed",
    "write_json_atomic",
]
