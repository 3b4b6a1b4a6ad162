"""Side by side: a 50-point interpolation path with icml22dl vs loss-landscapes.

Card 02's benchmark: the quick MLP (64-128-128-128-10 with BatchNorm) on 1 347 digits,
training loss at alpha = k/50, k = 1..50 (loss-landscapes has no alpha = 0). Both keep the
start model's BatchNorm buffers (loss-landscapes only moves ``parameters()``), so the two
compute the same thing; we report the time ratio (target <= 1.0), the largest loss
difference (target <= 1e-5) and whether the start model was left unchanged.
Needs the optional extra ``landscapes`` (pip install loss-landscapes; numpy only).
Run: OMP_NUM_THREADS=1 python benchmarks/interpolation_path.py
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.nn.functional as F

from icml22dl.analysis.interpolation import linear_path
from icml22dl.data.digits import load_digits
from icml22dl.nn.mlp import MLP


def main(repeats: int = 5) -> None:
    torch.set_num_threads(1)
    import loss_landscapes
    import loss_landscapes.metrics

    images, labels = load_digits()
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:1347]
    x = images[perm].reshape(1347, -1)
    x = (x - x.mean(0)) / torch.where(x.std(0) > 0, x.std(0), torch.ones(64))
    y = labels[perm]
    torch.manual_seed(0)
    start = MLP(64, (128, 128, 128), 10).eval()
    end = copy.deepcopy(start)
    with torch.no_grad():
        for p in end.parameters():
            p.add_(0.1 * torch.randn_like(p))
    end.eval()
    before = copy.deepcopy(start.state_dict())
    alphas = [k / 50 for k in range(1, 51)]

    def ours():
        return linear_path(start, start, end, alphas, lambda m: {"loss": float(F.cross_entropy(m(x), y))},
                           bn_policy="start")["loss"]

    metric = loss_landscapes.metrics.Loss(F.cross_entropy, x, y)

    def theirs():
        return list(loss_landscapes.linear_interpolation(start, end, metric, steps=50, deepcopy_model=True))

    ours(), theirs()  # warm-up
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        t0 = time.perf_counter(); a = ours(); t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); b = theirs(); t_theirs.append(time.perf_counter() - t0)
    diff = max(abs(u - v) for u, v in zip(a, b))
    unchanged = all(torch.equal(v, before[k]) for k, v in start.state_dict().items())
    mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
    print(f"50-point path, MLP with BatchNorm, 1347 digits, {repeats} repeats (median)")
    print(f"icml22dl.linear_path          {mo * 1e3:8.1f} ms")
    print(f"loss_landscapes.linear_interp {mt * 1e3:8.1f} ms")
    print(f"ratio ours/theirs             {mo / mt:8.3f}   (target <= 1.0)")
    print(f"max |loss difference|         {diff:8.2e}   (target <= 1e-5)")
    print(f"start model unchanged         {unchanged}")


if __name__ == "__main__":
    main()
