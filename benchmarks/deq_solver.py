"""DEQ forward solvers side by side with torchdeq 0.1.0 on the same fixed-point problem (card 03 §6).

Problem: z = tanh(W z + U x), batch 128 (scikit-learn digits, standardised) x width 256,
W orthogonal at sigma_w = 1 (and 3), U ~ N(0, 1/64); 50 iterations, tol 1e-4, stop mode 'rel'
set explicitly (torchdeq defaults to 'abs', torchdeq #12). Prints ms per solve (median of
--reps), steps, the largest per-example relative residual of the returned point (computed
the same way for both), and the time ratio ours / torchdeq (target <= 1.0). Also a training
step (forward + IFT backward) of our FCDEQ at sigma_w in {1, 3}.

Run: OMP_NUM_THREADS=1 python benchmarks/deq_solver.py   (torchdeq: pip install torchdeq --no-deps)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from icml22dl.data.digits import load_digits
from icml22dl.nn.deq import FCDEQ
from icml22dl.nn.init import matrix_family
from icml22dl.nn.solvers import anderson, broyden, fixed_point


def problem(sigma: float, width: int = 256, batch: int = 128):
    g = torch.Generator().manual_seed(0)
    images, _ = load_digits()
    x = images.reshape(len(images), -1)[:batch]
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    w = matrix_family(width, "orthogonal", sigma, generator=g)
    u = x @ (torch.randn(width, 64, generator=g) / 8).T
    return (lambda z: torch.tanh(z @ w.T + u)), torch.zeros(batch, width)


def max_rel_residual(f, z) -> float:
    fz = f(z)
    return ((fz - z).norm(dim=1) / (fz.norm(dim=1) + 1e-9)).max().item()


def timed(fn, reps: int):
    out = fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        from torchdeq.solver import anderson as td_anderson
        from torchdeq.solver import broyden as td_broyden
        from torchdeq.solver import fp_iter as td_fp
        theirs = {"anderson": lambda f, z0: td_anderson.anderson_solver(f, z0, args.max_iter, args.tol, "rel", m=6),
                  "broyden": lambda f, z0: td_broyden.broyden_solver(f, z0, args.max_iter, args.tol, "rel"),
                  "fixed_point": lambda f, z0: td_fp.fixed_point_iter(f, z0, args.max_iter, args.tol, "rel")}
    except ImportError:
        theirs = {}
        print("torchdeq not installed (pip install torchdeq --no-deps): ours only")
    # per_example=True: stop on the largest per-example residual, torchdeq's rule (equal residual)
    kw = dict(max_iter=args.max_iter, tol=args.tol, per_example=True)
    ours = {"anderson": lambda f, z0: anderson(f, z0, m=6, **kw),
            "broyden": lambda f, z0: broyden(f, z0, **kw),
            "fixed_point": lambda f, z0: fixed_point(f, z0, **kw)}
    print(f"{'sigma':>5} {'solver':<12} {'ours ms':>8} {'steps':>5} {'max rel':>9}  "
          f"{'torchdeq ms':>11} {'steps':>5} {'max rel':>9}  {'ratio':>6}  {'|dz|':>8}")
    for sigma in (1.0, 3.0):
        f, z0 = problem(sigma)
        for name in ours:
            (z, info), ms = timed(lambda: ours[name](f, z0), args.reps)
            line = f"{sigma:5.1f} {name:<12} {ms:8.1f} {info.steps:5d} {max_rel_residual(f, z):9.2e}"
            if name in theirs:
                (zt, _, stat), ms_t = timed(lambda: theirs[name](f, z0), args.reps)
                steps_t = int(stat["nstep"].max().item())
                line += (f"  {ms_t:11.1f} {steps_t:5d} {max_rel_residual(f, zt):9.2e}  {ms / ms_t:6.2f}"
                         f"  {(z - zt).abs().max().item():8.1e}")
            print(line)
    print("\ntraining step of FCDEQ (Anderson forward, IFT backward tol 1e-6), batch 128 x width 256:")
    images, labels = load_digits()
    x = images.reshape(len(images), -1)[:128]
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    y = labels[:128]
    for sigma in (1.0, 3.0):
        net = FCDEQ(64, 256, 10, init="orthogonal", sigma_w=sigma, generator=torch.Generator().manual_seed(0),
                    solver_kwargs={"m": 5})

        def step():
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            return net.deq.forward_info, net.deq.backward_info

        (fi, bi), ms = timed(step, args.reps)
        print(f"  sigma_w {sigma:.0f}: {ms:7.1f} ms  forward {fi.steps} steps (rel {fi.rel_lowest:.1e}, "
              f"{fi.reason}), backward {bi.steps} steps (rel {bi.rel_lowest:.1e}, {bi.reason})")


if __name__ == "__main__":
    main()
