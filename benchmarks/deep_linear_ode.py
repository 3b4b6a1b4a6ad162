"""Side by side: the reduced (s, u, v) ODE vs factor-level gradient flow vs scipy solve_ivp.

Card 07's benchmark: Z 5x6 with singular values (3, 2, 1, 0.5, 0.2), a random balanced start
(s0 = 0.05) for widths 6-1-5, 6-4-1-5 and 6-3-1-4-5, integrated to T = 8. Reports wall times
of factor RK4 (dt = 1e-3), reduced RK4 (dt = 1e-3) and scipy's RK45 on the reduced ODE
(rtol 1e-10), their agreement on W(t), and the time to reach L - L* < 1e-8.
Run: OMP_NUM_THREADS=1 python benchmarks/deep_linear_ode.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from icml22dl.analysis.deep_linear import reduced_flow
from icml22dl.data.linear_targets import spectral_target
from icml22dl.nn.linear_nets import balanced_rank_one_init, factor_flow

SIGMAS = (3.0, 2.0, 1.0, 0.5, 0.2)


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    z = spectral_target(SIGMAS, 5, 6, g)
    zn = z.numpy()
    l_star = 0.5 * sum(s * s for s in SIGMAS[1:])
    print(f"{'widths':12s} {'factor RK4':>11s} {'reduced RK4':>12s} {'solve_ivp':>10s} {'ratio f/r':>9s} "
          f"{'max|dW| f-r':>12s} {'max|dW| r-ivp':>13s} {'t(L-L*<1e-8)':>13s}")
    for widths in ((6, 1, 5), (6, 4, 1, 5), (6, 3, 1, 4, 5)):
        n = len(widths) - 1
        u = torch.randn(5, generator=g, dtype=torch.float64); u /= u.norm()
        v = torch.randn(6, generator=g, dtype=torch.float64); v /= v.norm()
        ws = balanced_rank_one_init(widths, 0.05, u, v, generator=g)
        t0 = time.perf_counter(); f = factor_flow(ws, z, 8.0, 1e-3, record_every=100); tf = time.perf_counter() - t0
        t0 = time.perf_counter(); r = reduced_flow(z, 0.05, u, v, n, 8.0, 1e-3, record_every=100); tr = time.perf_counter() - t0

        def rhs(t, y):
            s, uu, vv = y[0], y[1:6], y[6:]
            zv, ztu = zn @ vv, zn.T @ uu
            c = uu @ zv
            speed = s ** (1 - 2 / n)
            return np.concatenate([[n * s ** (2 - 2 / n) * (c - s)], speed * (zv - uu * c), speed * (ztu - vv * (vv @ ztu))])

        t0 = time.perf_counter()
        sol = solve_ivp(rhs, (0, 8.0), np.concatenate([[0.05], u.numpy(), v.numpy()]), method="RK45", rtol=1e-10,
                        atol=1e-12, t_eval=r.times.numpy())
        ti = time.perf_counter() - t0
        w_ivp = sol.y[0][:, None, None] * sol.y[1:6].T[:, :, None] * sol.y[6:].T[:, None, :]
        d_fr = float(torch.linalg.matrix_norm(f.products - r.products).max())
        d_ri = float(np.abs(w_ivp - r.products.numpy()).max())
        hit = torch.nonzero(f.loss - l_star < 1e-8)
        t_hit = float(f.times[hit[0, 0]]) if len(hit) else float("nan")
        print(f"{'-'.join(map(str, widths)):12s} {tf:10.2f}s {tr:11.2f}s {ti:9.2f}s {tf / tr:9.2f} {d_fr:12.1e} "
              f"{d_ri:13.1e} {t_hit:13.2f}")


if __name__ == "__main__":
    main()
