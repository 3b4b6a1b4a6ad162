"""Side-by-side: our NC metrics against the official ``neural-collapse-MSE`` metric code (papers 10, 14).

The official functions (``compute_Sigma_W``, ``compute_Sigma_B``, ``compute_ETF``,
``compute_W_H_relation``, ``compute_Wh_b_relation`` of ``validate_NC.py``, Zhou et al. ICML
2022) are loaded from a copy **outside the repository** (``--official /tmp/.../validate_NC.py``),
with their ``.cuda()`` calls stripped at load time; nothing of that code is in this file. Their
NC1 is ``trace(Sigma_W @ scipy.linalg.pinv(Sigma_B)) / K``. Without ``--official`` the
comparison falls back to a plain per-sample float64 reference written here (and says so).

Identical synthetic features (float32, as a network would give them; ours computes in float64
from the same values): K classes x n samples, d dimensions, noisy class means, random W and b.
Timed: ours = one :func:`collapse_metrics` call (every NC1-NC4 key, OF gaps, NCC);
official = Sigma_W + Sigma_B + pinv trace + ETF + W-H + W-b (their per-sample feature
dictionaries are built beforehand and not timed). Target (issue 5): time ratio <= 0.1 at
K = 10, n = 500, d = 512.

Usage: ``python benchmarks/collapse_metrics.py --official /tmp/nc_official/validate_NC.py [--full]``
"""

from __future__ import annotations

import argparse
import ast
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy.linalg as scilin
import torch

from icml22dl.analysis.collapse import collapse_metrics

OFFICIAL_FUNCTIONS = ("split_array", "compute_Sigma_W", "compute_Sigma_B", "compute_ETF", "compute_W_H_relation",
                      "compute_Wh_b_relation")


def load_official(path: Path) -> dict:
    """Compile the named functions of an outside copy of ``validate_NC.py`` (``.cuda()`` removed)."""
    source = path.read_text()
    namespace = {"torch": torch, "np": np, "scilin": scilin}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in OFFICIAL_FUNCTIONS:
            segment = ast.get_source_segment(source, node).replace(".cuda()", "")
            exec(compile(segment, str(path), "exec"), namespace)
    missing = [name for name in OFFICIAL_FUNCTIONS if name not in namespace]
    if missing:
        raise SystemExit(f"{path} lacks {missing}")
    return namespace


def make_features(K: int, n: int, d: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    means = 3.0 * torch.randn(K, d, generator=gen)
    y = torch.arange(K).repeat_interleave(n)
    H = (means[y] + torch.randn(K * n, d, generator=gen)).float()
    W = torch.randn(K, d, generator=gen).float()
    b = torch.randn(K, generator=gen).float()
    return H, y, W, b


def official_metrics(fns: dict, H, y, W, b, K: int) -> tuple[dict, float]:
    args = SimpleNamespace(device=torch.device("cpu"))
    before = {c: [row for row in H[y == c].numpy()] for c in range(K)}
    mu_c = {c: H[y == c].mean(0) for c in range(K)}
    mu_G = H.mean(0)
    start = time.perf_counter()
    sigma_W = fns["compute_Sigma_W"](args, before, mu_c, batchsize=1024)
    sigma_B = fns["compute_Sigma_B"](mu_c, mu_G)
    nc1 = np.trace(sigma_W @ scilin.pinv(sigma_B)) / K
    etf = fns["compute_ETF"](W)
    wh, _ = fns["compute_W_H_relation"](W, mu_c, mu_G)
    whb = fns["compute_Wh_b_relation"](W, mu_G, b)
    elapsed = time.perf_counter() - start
    return {"nc1_papyan": float(nc1), "nc2_etf_W_centred": etf, "nc3_zhou_centred": wh,
            "bias_mean_relation": whb}, elapsed


def plain_reference(H, y, W, b, K: int) -> tuple[dict, float]:
    """Per-sample float64 loops (the fallback when the official copy is not available)."""
    Hd, Wd, bd = H.double().numpy(), W.double().numpy(), b.double().numpy()
    yn = y.numpy()
    start = time.perf_counter()
    mus = np.stack([Hd[yn == c].mean(0) for c in range(K)])
    mu_G = Hd.mean(0)
    sw = np.zeros((Hd.shape[1],) * 2)
    for i in range(len(Hd)):
        v = Hd[i] - mus[yn[i]]
        sw += np.outer(v, v)
    sw /= len(Hd)
    sb = sum(np.outer(m - mu_G, m - mu_G) for m in mus) / K
    E = (np.eye(K) - 1 / K) / math.sqrt(K - 1)
    Wc = Wd - Wd.mean(0)
    gap = lambda G: np.linalg.norm(G / np.linalg.norm(G) - E)
    out = {"nc1_papyan": np.trace(sw @ np.linalg.pinv(sb)) / K, "nc2_etf_W_centred": gap(Wc @ Wc.T),
           "nc3_zhou_centred": gap(Wc @ (mus - mu_G).T), "bias_mean_relation": np.linalg.norm(Wd @ mu_G + bd)}
    return out, time.perf_counter() - start


def ours(H, y, W, b) -> tuple[dict, float]:
    start = time.perf_counter()
    out = collapse_metrics(H, y, W, b, center_W=True)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=None, help="outside copy of validate_NC.py")
    parser.add_argument("--full", action="store_true", help="K in {10, 100} x n in {100, 500} x d in {64, 512}")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fns = load_official(args.official) if args.official and args.official.exists() else None
    anchor = "official validate_NC.py" if fns else "plain per-sample float64 reference (official copy not given)"
    print(f"anchor: {anchor}; one thread; median of {args.repeats} repeats")
    grid = [(10, 500, 512)] + ([(K, n, d) for K in (10, 100) for n in (100, 500) for d in (64, 512)
                                if (K, n, d) != (10, 500, 512)] if args.full else [(10, 100, 64)])
    print(f"{'K':>4} {'n':>4} {'d':>4} | {'ours s':>8} {'anchor s':>9} {'ratio':>7} | max rel diff  "
          "(nc1, etf, W-H, W-b)")
    for K, n, d in grid:
        H, y, W, b = make_features(K, n, d)
        t_ours, t_ref = [], []
        for _ in range(args.repeats):
            mine, t = ours(H, y, W, b)
            t_ours.append(t)
            ref, t = official_metrics(fns, H, y, W, b, K) if fns else plain_reference(H, y, W, b, K)
            t_ref.append(t)
        a, r = float(np.median(t_ours)), float(np.median(t_ref))
        diffs = [abs(mine[k] - ref[k]) / max(abs(ref[k]), 1e-300) for k in ref]
        values = ", ".join(f"{ref[k]:.7f}" for k in ref)
        print(f"{K:>4} {n:>4} {d:>4} | {a:8.3f} {r:9.3f} {a / r:7.3f} | {max(diffs):.1e}  ({values})")


if __name__ == "__main__":
    main()
