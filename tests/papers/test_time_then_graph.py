"""Paper 11 (time_then_graph): presets, metrics, a claim that can fail, and the quick claim."""

import pytest

pytest.importorskip("torch_geometric")

from icml22dl.papers.time_then_graph import (  # noqa: E402
    COVID_MODELS,
    PAPER,
    PRESETS,
    Config,
    Covid,
    DynCSL,
    Persistent,
    run,
)
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim  # noqa: E402

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
# Re-pinned when the flat fields became the blocks dyncsl and covid (same values); re-pinned
# for issue 15 (the persistent block: the cost regime; GConvGRU and EvolveGCN-H on England-COVID).
PINNED = {"quick": "73715493da3e", "paper": "58bb5f1b2919"}

TINY = dict(
    dyncsl=DynCSL(train_graphs=12, test_graphs=12, epochs=1, batch=6),
    covid=Covid(epochs=1, batch=27),
    persistent=Persistent(nodes=60, window=4, windows=3, epochs=2),
)


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_config_checks():
    with pytest.raises(ValueError, match="tasks"):
        Config(tasks=("pems",))
    with pytest.raises(ValueError, match="nodes"):
        DynCSL(nodes=20)
    with pytest.raises(ValueError, match="split"):
        Covid(split=(7, 3))
    config = PRESETS["quick"].with_overrides(["dyncsl.epochs=5", "covid.opt.lr=0.01"])
    assert (config.dyncsl.epochs, config.covid.opt.lr) == (5, 0.01)


@pytest.mark.requires_data("england-covid")
def test_metrics_are_consistent():
    tiny = dict(TINY, covid=Covid(epochs=1, batch=27, buggy_baseline=True))
    metrics = run(Config(**tiny), seed=0, log=null_log())
    best = min(metrics[f"covid_{kind}_test_rmse"] for kind in COVID_MODELS[1:])  # every time-and-graph model
    assert metrics["covid_rmse_ratio"] == pytest.approx(metrics["covid_ttg_test_rmse"] / best)
    for kind in COVID_MODELS[1:]:
        assert metrics[f"covid_{kind}_speed_ratio"] == pytest.approx(
            metrics["covid_ttg_ms_per_epoch"] / metrics[f"covid_{kind}_ms_per_epoch"]
        )
    assert metrics["covid_speed_ratio"] == metrics["covid_gcngru_speed_ratio"]
    assert metrics["persistent_speed_ratio"] == pytest.approx(
        metrics["persistent_ttg_ms_per_epoch"] / metrics["persistent_gconvgru_ms_per_epoch"]
    )
    assert metrics["persistent_steps"] == 4 and metrics["persistent_edges"] > 0
    assert metrics["covid_windows"] == 54  # 61 days, 7-day window, 1 day ahead
    assert "covid_gcngru_official_test_rmse" in metrics
    # Time-and-graph is constant on the DynCSL-like task: one class for all 12 balanced test graphs.
    assert metrics["dyncsl_tag_acc"] == pytest.approx(2 / 12)


@pytest.mark.requires_data("england-covid")
def test_the_claim_can_fail(tmp_path):
    # One epoch of training leaves time-then-graph far below 95 %: the verdict must say so.
    config = PRESETS["quick"].replace(**TINY)
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["ttg_succeeds"]["verdict"] == NOT_REPRODUCED
    assert record["verdict"] == NOT_REPRODUCED


@pytest.mark.slow
@pytest.mark.requires_data("england-covid")
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0, 1, 2], tmp_path, "quick", quiet=True)
    results = {
        s: RunDir(tmp_path, "time_then_graph", config.config_hash(), s).load_result()["metrics"] for s in (0, 1, 2)
    }
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["ttg_succeeds"]["value"] == pytest.approx(sum(results[s]["dyncsl_ttg_acc"] for s in (0, 1, 2)) / 3)
    assert by_id["tag_fails"]["value"] == pytest.approx(sum(results[s]["dyncsl_tag_acc"] for s in (0, 1, 2)) / 3)
    deciding = [c["verdict"] for c in record["criteria"] if not c["informational"]]
    expected = REPRODUCED if all(v == REPRODUCED for v in deciding) else NOT_REPRODUCED
    assert record["verdict"] == expected
    # The expressivity gate is the paper's core claim: it must hold.
    assert by_id["ttg_succeeds"]["verdict"] == REPRODUCED and by_id["tag_fails"]["verdict"] == REPRODUCED
    print({k: [round(results[s].get(k, float("nan")), 4) for s in (0, 1, 2)] for k in PAPER.summary})
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
