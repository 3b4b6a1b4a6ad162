"""Paper 3 (deq_init): presets pinned, metrics consistent, the claim can fail, the quick claim."""

import pytest

from icml22dl.papers.deq_init import PAPER, PRESETS, Config, run
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
PINNED = {"quick": "3589820518ef", "paper": "1bc2cc84afda", "gpu_check": "3a770d7ef1c0"}


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_metrics_are_consistent_on_a_tiny_run():
    config = Config(part_a_width=16, part_a_draws=1, part_a_inputs=4, width=16, steps=3, batch_size=32)
    m = run(config, seed=0, log=null_log())
    assert m["b_train_acc_gap"] == pytest.approx(m["symmetric_s3_train_acc"] - m["gaussian_s3_train_acc"])
    assert m["b_res_init_ratio"] == pytest.approx(m["symmetric_s3_res_init"] / m["gaussian_s3_res_init"])
    assert 0.0 <= m["gaussian_s3_test_acc"] <= 1.0 and m["a_orth_cond_max"] >= 1.0


def test_same_family_everywhere_makes_the_claim_fail(tmp_path, monkeypatch):
    # Ablation: if the "symmetric" family is drawn as Gaussian, the two runs coincide (same
    # seed, same draws), the ratios are 1 and the gap 0: part B must be 'not reproduced'.
    import icml22dl.nn.deq as deq_module
    import icml22dl.nn.init as init_module

    real = init_module.matrix_family

    def gaussian_only(n, kind="gaussian", *args, **kwargs):
        return real(n, "gaussian", *args, **kwargs)

    monkeypatch.setattr(init_module, "matrix_family", gaussian_only)
    monkeypatch.setattr(deq_module, "init_matrix_", lambda w, kind, *a, **k: init_module.init_matrix_(w, "gaussian", *a, **k))
    config = PRESETS["quick"].replace(part_a=False, width=32, steps=10, families=("gaussian", "symmetric"))
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    metrics = RunDir(tmp_path, "deq_init", config.config_hash(), 0).load_result()["metrics"]
    assert metrics["b_res_init_ratio"] == pytest.approx(1.0) and metrics["b_train_acc_gap"] == 0.0
    assert record["verdict"] == NOT_REPRODUCED


def test_bad_config():
    with pytest.raises(ValueError, match="gate_sigma"):
        Config(sigma_ws=(1.0,), gate_sigma=3.0)
    with pytest.raises(ValueError, match="families"):
        Config(families=("uniform",))


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    seeds = list(PAPER.seeds)
    record = run_claim(PAPER, config, seeds, tmp_path, "quick", quiet=True)
    results = {s: RunDir(tmp_path, "deq_init", config.config_hash(), s).load_result()["metrics"] for s in seeds}
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["res_init_ratio"]["value"] == pytest.approx(sum(r["b_res_init_ratio"] for r in results.values()) / 3)
    assert by_id["orth_cond"]["value"] == max(r["a_orth_cond_max"] for r in results.values())
    expected = REPRODUCED if all(c["verdict"] == REPRODUCED for c in record["criteria"]) else NOT_REPRODUCED
    assert record["verdict"] == expected
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    assert record["verdict"] == REPRODUCED


@pytest.mark.slow
def test_paper_path_runs_on_mnist_for_a_few_steps():
    config = PRESETS["paper"].replace(width=16, steps=2, part_a_width=16, part_a_draws=1, device="cpu")
    m = run(config, seed=0, log=null_log())
    assert "range_gap_min" in m and all(f"{k}_s4_test_acc" in m for k in ("gaussian", "orthogonal", "symmetric"))
