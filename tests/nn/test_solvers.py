"""Fixed-point solvers against the closed form of a linear map and against each other."""

import pytest
import torch

from icml22dl.nn.solvers import anderson, broyden, fixed_point, get_solver

SOLVERS = [anderson, broyden, fixed_point]


def linear_problem(n=32, b=4, rho=0.7, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    w = rho * q  # spectral radius rho < 1: every solver converges
    u = torch.randn(b, n, generator=g, dtype=torch.float64)
    exact = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - w, u.T).T
    return (lambda z: z @ w.T + u), u, exact


@pytest.mark.parametrize("solver", SOLVERS)
def test_linear_fixed_point_matches_closed_form(solver):
    f, u, exact = linear_problem()
    tol = 1e-8
    z, info = solver(f, torch.zeros_like(u), max_iter=300, tol=tol)
    assert info.converged and info.reason == "converged"
    # relative residual < tol bounds the error by tol ||z|| / (1 - rho)
    assert (z - exact).norm() / exact.norm() < 10 * tol / (1 - 0.7)
    assert info.rel_lowest < tol and len(info.rel_trace) == info.steps


def test_anderson_and_broyden_beat_plain_iteration_on_a_symmetric_contraction():
    # W symmetric with spectrum [0, 0.98]: plain iteration contracts at 0.98 per step, Anderson
    # behaves like truncated GMRES (a textbook numpy Anderson took 83 steps here). lam is absolute
    # (locuslab/torchdeq convention): 1e-4 swamps G G^T once ||g||^2 ~ 1e-4, so it is lowered.
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(32, 32, generator=g, dtype=torch.float64))
    w = q @ torch.diag(torch.linspace(0, 0.98, 32, dtype=torch.float64)) @ q.T
    u = torch.randn(4, 32, generator=g, dtype=torch.float64)
    f = lambda z: z @ w.T + u  # noqa: E731
    z0 = torch.zeros_like(u)
    plain = fixed_point(f, z0, max_iter=2000, tol=1e-6)[1].steps
    assert anderson(f, z0, lam=1e-10, max_iter=2000, tol=1e-6)[1].steps < plain / 3
    assert broyden(f, z0, max_iter=2000, tol=1e-6)[1].steps < plain / 3


def test_nonconvergence_is_data_and_lowest_residual_is_returned():
    g = torch.Generator().manual_seed(1)
    w = 3.0 * torch.randn(16, 16, generator=g) / 4
    z0 = torch.zeros(2, 16)
    u = torch.randn(2, 16, generator=g)
    z, info = fixed_point(lambda z: torch.tanh(z @ w.T + u), z0, max_iter=20, tol=1e-12)
    assert not info.converged and info.reason == "max_iter"
    res = (torch.tanh(z @ w.T + u) - z).norm() / (1e-5 + torch.tanh(z @ w.T + u).norm())
    assert res.item() == pytest.approx(min(info.rel_trace), rel=1e-5)


def test_nonfinite_stops_the_solve():
    z, info = fixed_point(lambda z: z * float("nan"), torch.ones(1, 3), max_iter=10)
    assert info.reason == "nonfinite" and not info.converged


def test_abs_stop_mode_is_honoured():
    f, u, _ = linear_problem()
    _, rel = anderson(f, torch.zeros_like(u), tol=1e-3, stop_mode="rel")
    _, abs_ = anderson(f, torch.zeros_like(u), tol=1e-3, stop_mode="abs")
    assert rel.rel_lowest < 1e-3 and abs_.abs_lowest < 1e-3 and abs_.steps >= rel.steps


def test_bad_arguments():
    with pytest.raises(ValueError, match="stop_mode"):
        fixed_point(lambda z: z, torch.zeros(1, 2), stop_mode="max")
    with pytest.raises(ValueError, match="m="):
        anderson(lambda z: z, torch.zeros(1, 2), m=0)
    with pytest.raises(ValueError, match="solver"):
        get_solver("newton")


@pytest.mark.parametrize("solver", SOLVERS)
def test_per_example_stop_bounds_every_example(solver):
    # one easy and one hard example: the batch residual can pass while the hard one does not
    f, u, _ = linear_problem(rho=0.9)
    scale = torch.tensor([[1.0], [1.0], [1.0], [1e3]], dtype=torch.float64)
    g = lambda z: f(z) * 0 + (f(z / scale) * scale)  # noqa: E731
    z, info = solver(g, torch.zeros_like(u), max_iter=400, tol=1e-6, per_example=True)
    gz = g(z)
    per = (gz - z).norm(dim=1) / (1e-5 + gz.norm(dim=1))
    assert info.converged and per.max().item() < 1e-6


@pytest.mark.parametrize("name", ["anderson", "broyden", "fixed_point"])
def test_same_point_and_steps_as_torchdeq(name):
    # torchdeq 0.1.0 on an identical problem: same point, steps within +-2
    # (torchdeq stops on the largest per-example residual: per_example=True). Optional extra.
    solvers = pytest.importorskip("torchdeq.solver")
    from torchdeq.solver import anderson as td_a
    from torchdeq.solver import broyden as td_b
    from torchdeq.solver import fp_iter as td_f

    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(64, 64, generator=g, dtype=torch.float64))[0]
    u = torch.randn(16, 64, generator=g, dtype=torch.float64)
    f = lambda z: torch.tanh(0.8 * z @ q.T + u)  # noqa: E731
    z0 = torch.zeros_like(u)
    ours = {
        "anderson": lambda: anderson(f, z0, m=6, tol=1e-4, per_example=True),
        "broyden": lambda: broyden(f, z0, tol=1e-4, per_example=True),
        "fixed_point": lambda: fixed_point(f, z0, tol=1e-4, per_example=True),
    }[name]
    theirs = {
        "anderson": lambda: td_a.anderson_solver(f, z0, 50, 1e-4, "rel", m=6),
        "broyden": lambda: td_b.broyden_solver(f, z0, 50, 1e-4, "rel"),
        "fixed_point": lambda: td_f.fixed_point_iter(f, z0, 50, 1e-4, "rel"),
    }[name]
    z, info = ours()
    zt, _, stat = theirs()
    assert solvers is not None and info.converged
    assert (z - zt).abs().max().item() < 1e-3  # both within tol 1e-4 (relative) of z*
    assert abs(info.steps - int(stat["nstep"].max().item())) <= 2
