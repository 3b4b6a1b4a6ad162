"""Side by side for paper 12 (``sop``): ``SOPLoss`` against the official ``overparametrization_loss``.

Loss level (card 12 §6): identical u, v, indices, two-view logits and labels; the loss value and the
gradients to u, v and both logits are compared (tolerance 1e-6), then the time of forward + backward
+ the u, v SGD step at B = 128, N = 50,000, C in {10, 100} (median of ``REPEATS``). The official
module gets dense N x 1 and N x C gradients; ours (``sparse=True``) touches only the batch rows.
Target: ratio ours / official <= 1.0 at C = 100.

The official file runs from outside the repository and is never committed:
    SOP_OFFICIAL_PATH=/tmp/sop_official   (holding ``model/loss.py`` of shengliu66/SOP)
It needs its ``parse_config.ConfigParser`` (stubbed here) and calls ``.cuda()`` (a no-op here).
Usage: ``python benchmarks/sop_loss.py``
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
import types

import torch

from icml22dl.losses import SOPLoss

N, B, REPEATS = 50_000, 128, 30


def _official_module(path: str, num_classes: int):
    config = {"reparam_arch": {"args": {"mean": 0.0, "std": 1e-8}}, "num_classes": num_classes}
    stub = types.ModuleType("parse_config")
    stub.ConfigParser = type("ConfigParser", (), {"get_instance": staticmethod(lambda: config)})
    sys.modules["parse_config"] = stub
    spec = importlib.util.spec_from_file_location(f"sop_official_loss_{num_classes}", os.path.join(path, "model", "loss.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    path = os.environ.get("SOP_OFFICIAL_PATH", "/tmp/sop_official")
    if not os.path.exists(os.path.join(path, "model", "loss.py")):
        print(f"official loss not found under {path}: nothing to compare")
        return
    torch.Tensor.cuda = lambda self, *a, **k: self  # the official soft_to_hard calls .cuda()
    for c in (10, 100):
        official = _official_module(path, c).overparametrization_loss(N, c, ratio_consistency=0.9, ratio_balance=0.1)
        ours = SOPLoss(N, c, ratio_consistency=0.9, ratio_balance=0.1, sparse=True)
        g = torch.Generator().manual_seed(c)
        with torch.no_grad():  # u, v large enough that every term is active
            u0, v0 = torch.rand(N, 1, generator=g) * 0.5, torch.rand(N, c, generator=g) * 0.1
            official.u.copy_(u0), official.v.copy_(v0), ours.u.copy_(u0), ours.v.copy_(v0)
        idx = torch.randperm(N, generator=g)[:B]
        labels = torch.randint(0, c, (B,), generator=g)
        onehot = torch.nn.functional.one_hot(labels, c).float()
        weak = torch.randn(B, c, generator=g)
        strong = torch.randn(B, c, generator=g)

        zw1, zs1 = weak.clone().requires_grad_(), strong.clone().requires_grad_()
        loss_official = official(idx, torch.cat([zw1, zs1]), onehot)
        loss_official.backward()
        zw2, zs2 = weak.clone().requires_grad_(), strong.clone().requires_grad_()
        loss_ours = ours(zw2, labels, idx, zs2)
        loss_ours.backward()
        diffs = {
            "loss": abs(loss_official.item() - loss_ours.item()),
            "d/du": (official.u.grad - ours.u.grad.to_dense()).abs().max().item(),
            "d/dv": (official.v.grad - ours.v.grad.to_dense()).abs().max().item(),
            "d/dweak": (zw1.grad - zw2.grad).abs().max().item(),
            "d/dstrong": (zs1.grad - zs2.grad).abs().max().item(),
        }
        ok = all(v <= 1e-6 for v in diffs.values())
        print(f"C = {c}: max |official - ours|: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
              + f"  -> {'equal within 1e-6' if ok else 'DIFFERENT'}")

        opt_official = torch.optim.SGD([{"params": [official.u], "lr": 1.0}, {"params": [official.v], "lr": 10.0}],
                                       lr=1.0, momentum=0.0, weight_decay=0.0)
        opt_ours = ours.make_optimizer(1.0, 10.0)

        def step(module, optimizer, sparse):
            zw, zs = weak.clone().requires_grad_(), strong.clone().requires_grad_()
            optimizer.zero_grad(set_to_none=True)
            if sparse:
                loss = module(zw, labels, idx, zs)  # ours: (input, target, index)
            else:
                loss = module(idx, torch.cat([zw, zs]), onehot)
            loss.backward()
            optimizer.step()

        times = {"official": [], "ours": []}
        for i in range(REPEATS + 3):
            for name, (module, optimizer, sparse) in {"official": (official, opt_official, False),
                                                      "ours": (ours, opt_ours, True)}.items():
                start = time.perf_counter()
                step(module, optimizer, sparse)
                if i >= 3:
                    times[name].append(time.perf_counter() - start)
        t_off, t_ours = statistics.median(times["official"]), statistics.median(times["ours"])
        print(f"C = {c}: forward + backward + u,v step, B = {B}, N = {N}: official {t_off * 1e3:.2f} ms, "
              f"ours {t_ours * 1e3:.2f} ms, ratio ours / official = {t_ours / t_off:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
