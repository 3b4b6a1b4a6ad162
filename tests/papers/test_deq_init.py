"""Paper 3 (deq_init): presets pinned, metrics consistent, the claim can fail, the quick claim."""

import pytest

from icml22dl.papers.deq_init import PAPER, PRESETS, Config, FCDEQNet, LinearGain, Training, run
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
PINNED = {"quick": "636ae6aea982", "paper": "d849aa46e22a", "gpu_check": "205ba3de8b4b"}


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_metrics_are_consistent_on_a_tiny_run():
    config = Config(
        part_a=LinearGain(width=16, draws=1, inputs=4), part_b=Training(steps=3, batch_size=32), net=FCDEQNet(width=16)
    )
    m = run(config, seed=0, log=null_log())
    assert m["b_train_acc_gap"] == pytest.approx(m["symmetric_s3_train_acc"] - m["gaussian_s3_train_acc"])
    assert m["b_res_init_ratio"] == pytest.approx(m["symmetric_s3_res_init"] / m["gaussian_s3_res_init"])
    # the orthogonal half of the statement is measured the same way
    assert m["b_orth_res_init_ratio"] == pytest.approx(m["orthogonal_s3_res_init"] / m["gaussian_s3_res_init"])
    assert m["b_orth_res_train_ratio"] == pytest.approx(m["orthogonal_s3_res_train"] / m["gaussian_s3_res_train"])
    assert m["b_orth_train_acc_gap"] == pytest.approx(m["orthogonal_s3_train_acc"] - m["gaussian_s3_train_acc"])
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
    monkeypatch.setattr(
        deq_module, "init_matrix_", lambda w, kind, *a, **k: init_module.init_matrix_(w, "gaussian", *a, **k)
    )
    quick = PRESETS["quick"]
    config = quick.replace(
        part_a=LinearGain(enabled=False),
        part_b=quick.part_b.replace(steps=10, families=("gaussian", "symmetric")),
        net=FCDEQNet(width=32),
    )
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    metrics = RunDir(tmp_path, "deq_init", config.config_hash(), 0).load_result()["metrics"]
    assert metrics["b_res_init_ratio"] == pytest.approx(1.0) and metrics["b_train_acc_gap"] == 0.0
    assert record["verdict"] == NOT_REPRODUCED


def test_bad_config():
    with pytest.raises(ValueError, match="gate_sigma"):
        Training(sigma_ws=(1.0,), gate_sigma=3.0)
    with pytest.raises(ValueError, match="families"):
        Training(families=("uniform",))


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    seeds = list(PAPER.seeds)
    record = run_claim(PAPER, config, seeds, tmp_path, "quick", quiet=True)
    results = {s: RunDir(tmp_path, "deq_init", config.config_hash(), s).load_result()["metrics"] for s in seeds}
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["res_init_ratio"]["value"] == pytest.approx(sum(r["b_res_init_ratio"] for r in results.values()) / 3)
    assert by_id["orth_cond"]["value"] == max(r["a_orth_cond_max"] for r in results.values())
    assert by_id["orth_res_train_ratio"]["value"] == pytest.approx(
        sum(r["b_orth_res_train_ratio"] for r in results.values()) / 3
    )
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    # part A and the symmetric half of part B hold with wide margins (docs/papers/deq_init.md)
    for cid in ("orth_gain_theory", "orth_cond", "gauss_cond_ratio", "res_init_ratio", "res_train_ratio"):
        assert by_id[cid]["verdict"] == REPRODUCED
    verdicts = {c["verdict"] for c in record["criteria"] if not c["informational"]}
    expected = (
        NOT_REPRODUCED if NOT_REPRODUCED in verdicts else (REPRODUCED if verdicts == {REPRODUCED} else "inconclusive")
    )
    assert record["verdict"] == expected


@pytest.mark.slow
@pytest.mark.requires_data("mnist")
def test_paper_path_runs_on_mnist_for_a_few_steps():
    paper = PRESETS["paper"]
    config = paper.replace(
        part_a=LinearGain(width=16, draws=1),
        part_b=paper.part_b.replace(steps=2),
        net=FCDEQNet(width=16),
        device="cpu",
    )
    m = run(config, seed=0, log=null_log())
    assert "range_gap_min" in m and all(f"{k}_s4_test_acc" in m for k in ("gaussian", "orthogonal", "symmetric"))
