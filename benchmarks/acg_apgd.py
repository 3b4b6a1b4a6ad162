"""Side by side for paper 09 (``acg``): our APGD and ACG against AutoAttack's APGD (and torchattacks' APGD).

Fixed model: the quick preset's small CNN, adversarially trained (PGD-5, eps 0.3) on 5,000 real
MNIST images, seed 0. Attacks: CW loss, eps 0.25, 100 iterations, 1 restart, on the first
``POINTS`` clean-correct test points. AutoAttack's ``APGDAttack`` accepts only ce/dlr, so its
``dlr_loss`` is swapped for the CW margin (docs/papers/acg.md#method); both start from the same
AutoAttack-style random point (seed 0). Reported: identical success masks, max |x_best - x_best'|,
wall time (median of ``REPEATS``, interleaved) and the ratio ours / AutoAttack (target <= 1.1).

The reference code runs from outside the repository and is never committed:
    AUTOATTACK_PATH=/tmp/auto-attack      (a checkout of fra31/auto-attack holding ``autoattack/``)
    TORCHATTACKS_PATH=/tmp/ta_x           (optional: the torchattacks 3.5.1 wheel, unpacked; it is not
                                           an extra because it declares torchvision and pins requests)
Usage: ``ICML22DL_DATA=/path/to/data python benchmarks/acg_apgd.py``
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import torch

from icml22dl.attacks import ACG, APGD, cw_loss
from icml22dl.papers.acg import PRESETS, AdvTraining, adversarial_training, load_images
from icml22dl.runner import null_log

POINTS, EPS, N_ITER, REPEATS = 300, 0.25, 100, 3


def _median_time(fn, repeats=REPEATS):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    config = PRESETS["quick"].replace(train=AdvTraining(train_size=5000))
    model = adversarial_training(config, 0, null_log(), torch.device("cpu")).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x_test, y_test = load_images(config, "test")
    with torch.no_grad():
        correct = model(x_test[:2000]).argmax(1) == y_test[:2000]
    x, y = x_test[:2000][correct][:POINTS], y_test[:2000][correct][:POINTS]
    print(f"model: clean accuracy on 2000 test points {correct.float().mean():.3f}; attacking {len(y)} "
          f"clean-correct points, eps {EPS}, {N_ITER} iterations, CW, 1 restart, threads {torch.get_num_threads()}")

    ours_apgd = APGD(model, EPS, n_iter=N_ITER, loss="cw", init="random", seed=0, checks=False)
    ours_acg = ACG(model, EPS, n_iter=N_ITER, loss="cw", seed=0, checks=False)
    rows = {}
    t_apgd, r_apgd = _median_time(lambda: ours_apgd.run(x, y))
    t_acg, r_acg = _median_time(lambda: ours_acg.run(x, y))
    rows["icml22dl APGD (random start)"] = (t_apgd, r_apgd.success_rate, r_apgd.n_forward_backward)
    rows["icml22dl ACG (centre start)"] = (t_acg, r_acg.success_rate, r_acg.n_forward_backward)

    aa_path = os.environ.get("AUTOATTACK_PATH", "/tmp/auto-attack")
    sys.path.insert(0, aa_path)
    try:
        from autoattack.autopgd_base import APGDAttack
    except ImportError:
        print(f"AutoAttack not found under {aa_path}: side-by-side skipped")
        APGDAttack = None
    if APGDAttack is not None:
        aa = APGDAttack(model, n_iter=N_ITER, norm="Linf", n_restarts=1, eps=EPS, seed=0, loss="dlr",
                        device="cpu")
        aa.dlr_loss = lambda logits, labels: cw_loss(logits, labels)  # CW in place of DLR
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_aa, adv = _median_time(lambda: aa.perturb(x, y))
            # The same start as ours: AutoAttack's draw after torch.manual_seed(0).
            torch.manual_seed(0)
            x0 = (x + EPS * (lambda t: t / t.abs().flatten(1).amax(1).view(-1, 1, 1, 1))(
                2 * torch.rand(x.shape) - 1)).clamp(0, 1)
            x_best_aa, acc_aa, _, _ = aa.attack_single_run(x, y, x_init=x0)
        with torch.no_grad():
            success_aa = model(adv).argmax(1) != y
        rows["AutoAttack APGDAttack (CW)"] = (t_aa, float(success_aa.float().mean()), N_ITER + 1)
        same_start = ours_apgd._random_start(x, torch.Generator().manual_seed(0))
        print(f"same start as AutoAttack's seeded draw: max |dx0| = {(same_start - x0).abs().max():.2e}")
        print(f"success masks identical (perturb): {torch.equal(success_aa, r_apgd.success)}; "
              f"(single run, same x_init): {torch.equal(~acc_aa, r_apgd.success)}")
        print(f"max |x_best(ours) - x_best(AutoAttack)| = {(r_apgd.x_best - x_best_aa).abs().max():.2e}")

    ta_path = os.environ.get("TORCHATTACKS_PATH", "/tmp/ta_x")
    if os.path.isdir(ta_path):
        sys.path.insert(0, ta_path)
        try:
            import torchattacks

            ta = torchattacks.APGD(model, norm="Linf", eps=EPS, steps=N_ITER, n_restarts=1, seed=0, loss="dlr")
            ta.dlr_loss = lambda logits, labels: cw_loss(logits, labels)
            t_ta, adv = _median_time(lambda: ta(x, y))
            with torch.no_grad():
                rows["torchattacks 3.5.1 APGD (CW)"] = (t_ta, float((model(adv).argmax(1) != y).float().mean()),
                                                        N_ITER + 1)
        except Exception as error:  # optional: report and go on
            print(f"torchattacks side-by-side skipped: {error!r}")
    else:
        print("torchattacks not found (optional): skipped")

    print(f"\n{'attack':34s} {'wall s (median)':>16s} {'ASR':>7s} {'fwd+bwd':>8s}")
    for name, (t, asr, fb) in rows.items():
        print(f"{name:34s} {t:16.2f} {asr:7.3f} {fb:8d}")
    if "AutoAttack APGDAttack (CW)" in rows:
        base = rows["AutoAttack APGDAttack (CW)"][0]
        print(f"\nratio APGD ours / AutoAttack = {t_apgd / base:.2f} (target <= 1.1)")
        print(f"ratio ACG ours / AutoAttack APGD = {t_acg / base:.2f} (target <= 1.1)")
    if "torchattacks 3.5.1 APGD (CW)" in rows:
        print(f"ratio APGD ours / torchattacks = {t_apgd / rows['torchattacks 3.5.1 APGD (CW)'][0]:.2f}")


if __name__ == "__main__":
    main()
