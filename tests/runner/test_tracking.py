import pytest

from icml22dl.runner import RunDir
from icml22dl.runner.sweep import parse_grid, run_sweep
from icml22dl.runner.tracking import make_tracker
from tests.runner import toy_paper
from tests.runner.extras import require


def tracked_sweep(tmp_path, kind):
    tracker = make_tracker(kind, tmp_path)
    configs = parse_grid(toy_paper.Config(steps=4), ["lr=0.1,0.3"])
    records = run_sweep(
        toy_paper.PAPER,
        configs,
        [0, 1],
        tmp_path,
        "quick",
        quiet=True,
        on_finished=lambda task: tracker.log_run(task.run_dir),
    )
    for record in records:
        tracker.log_claim(record)
    return configs, records


@pytest.mark.slow
def test_mlflow_store_holds_params_metrics_and_verdicts(tmp_path):
    require("mlflow")
    from mlflow.tracking import MlflowClient

    configs, records = tracked_sweep(tmp_path, "mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("icml22dl/toy")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    seed_runs = [r for r in runs if "seed" in r.data.tags]
    claim_runs = [r for r in runs if "verdict" in r.data.tags]
    assert len(seed_runs) == 4 and len(claim_runs) == 2
    for run in seed_runs:
        config_hash, seed = run.data.tags["config_hash"], int(run.data.tags["seed"])
        result = RunDir(tmp_path, "toy", config_hash, seed).load_result()
        assert float(run.data.params["lr"]) == result["config"]["lr"]
        assert run.data.metrics["final/loss"] == pytest.approx(result["metrics"]["loss"])
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(4))
    verdicts = {r.data.tags["config_hash"]: r.data.tags["verdict"] for r in claim_runs}
    assert verdicts == {r["config_hash"]: r["verdict"] for r in records}


@pytest.mark.slow
def test_tensorboard_events_hold_step_metrics(tmp_path):
    require("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    configs, _ = tracked_sweep(tmp_path, "tensorboard")
    folder = tmp_path / "tensorboard" / "toy" / configs[0].config_hash() / "seed_1"
    events = EventAccumulator(str(folder))
    events.Reload()
    losses = events.Scalars("loss")
    assert [e.step for e in losses] == list(range(4))
    result = RunDir(tmp_path, "toy", configs[0].config_hash(), 1).load_result()
    assert events.Scalars("final/loss")[0].value == pytest.approx(result["metrics"]["loss"], rel=1e-6)


def test_unknown_tracker_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="track='wandb' is unknown"):
        make_tracker("wandb", tmp_path)


def test_nested_config_blocks_are_logged_as_dotted_params():
    from icml22dl.runner.tracking import flat_config

    config = {"lr": 0.1, "net": {"epochs": 10, "inner": {"steps": 2}}, "sizes": [1, 2]}
    assert flat_config(config) == {"lr": 0.1, "net.epochs": 10, "net.inner.steps": 2, "sizes": [1, 2]}
