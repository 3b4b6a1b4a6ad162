"""Side by side for paper 15 (``sgilo``): score-model cost at the official sizes, the partial
circulant operator at the official signal size, and SGILO vs ILO vs CSGM on digits.

1. One hot step (``em_reverse_step``) of a ScoreViT at the official layer sizes: patch 1,
   d_model 1024, depth 8, 1 head, feed-forward 2048 (this width reproduces the card's 70.4 M
   parameters of the layer1 model), on 512 x 4 x 4 (16 tokens) and 512 x 8 x 8 (64 tokens),
   batch 1, one CPU thread. Anchor: the card's 1.4 s per official hot step on CPU; ratio
   ours / 1.4 s.
2. PartialCirculant on the official 3 * 1024 * 1024 signal (m = 80 %, ILO's default):
   forward + adjoint time by FFT, and the adjoint identity as a relative error.
3. The quick preset's digits problem at m = 12 (one seed, 450 test images, VAE and score
   model trained here): wall time per 100 iterations and MSE of CSGM, ILO and SGILO.

The official code (giannisdaras/sgilo) needs CUDA ops, hydra 1.0.6, CLIP and comet_ml and
its weights are not obtainable offline, so it is not run here: anchor 1 is the card's
reported time. Usage: ``python benchmarks/sgilo_solver.py``
"""

from __future__ import annotations

import statistics
import time

import torch

from icml22dl.inverse import VPSDE, GaussianOperator, PartialCirculant, ScoreViT, csgm, em_reverse_step, ilo, sgilo
from icml22dl.papers.sgilo import PRESETS, _build_models, _load_images, _normaliser
from icml22dl.runner import derive_generator, null_log

OFFICIAL_HOT_STEP_S = 1.4  # card 15 section 6 (official hot step on CPU)


def _median_time(fn, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench_score_step() -> None:
    sde = VPSDE()
    for side in (4, 8):
        torch.manual_seed(0)
        net = ScoreViT(512, side * side, d_model=1024, depth=8, heads=1, mlp_ratio=2.0).eval()
        params = sum(p.numel() for p in net.parameters())
        score = sde.score_from_eps(net)
        x = torch.rand(1, 512, side, side)
        with torch.no_grad():
            em_reverse_step(score, x, 0.01, sde)  # warm-up
            seconds, _ = _median_time(lambda: em_reverse_step(score, x, 0.01, sde, noise=False))
        print(f"hot step 512x{side}x{side}: {params / 1e6:.1f} M parameters, {seconds:.3f} s "
              f"(official {OFFICIAL_HOT_STEP_S} s on CPU; ratio ours/official {seconds / OFFICIAL_HOT_STEP_S:.2f})")


def bench_circulant() -> None:
    n = 3 * 1024 * 1024
    A = PartialCirculant(n, int(0.8 * n), torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, n, generator=g)
    y = torch.randn(1, A.m, generator=g)
    t_fwd, ax = _median_time(lambda: A(x))
    t_adj, aty = _median_time(lambda: A.adjoint(y))
    lhs, rhs = float((ax.double() * y.double()).sum()), float((x.double() * aty.double()).sum())
    print(f"partial circulant n = {n}: forward {t_fwd:.3f} s, adjoint {t_adj:.3f} s, "
          f"adjoint identity relative error {abs(lhs - rhs) / abs(lhs):.1e} (float32)")


def bench_solvers() -> None:
    config = PRESETS["quick"]
    seed, m = 0, 12
    device = torch.device("cpu")
    train, test = _load_images(config, seed)
    start = time.perf_counter()
    vae, net, codes, _ = _build_models(config, seed, train, device, null_log())
    print(f"VAE + codes + score model trained in {time.perf_counter() - start:.1f} s")
    sde = VPSDE()
    score, norm = sde.score_from_eps(net), _normaliser(config, codes)
    gen = derive_generator(seed, 10)
    A = GaussianOperator(m, 64, derive_generator(seed, 20))
    y = A(test) + config.noise_std * torch.randn(test.shape[0], m, generator=gen)
    steps = 300
    t_csgm, c = _median_time(lambda: csgm(vae, A, y, config.vae.latent, steps, 0.05, 3, 0.05, gen), repeats=1)
    h0 = vae.G1(c.variable).detach()
    t_ilo, i = _median_time(lambda: ilo(vae.G2, A, y, h0, 16.0, steps, 0.05), repeats=1)
    t_sg, s = _median_time(lambda: sgilo(vae.G2, A, y, h0, score, norm, lam=1.5, t0=0.3, steps=steps,
                                         temperature=0.01, average=150, generator=gen), repeats=1)
    for name, t, x in (("CSGM (3 restarts)", t_csgm, c.estimate), ("ILO (r = 16)", t_ilo, i.estimate),
                       ("SGILO faithful", t_sg, s.estimate)):
        mse = float((x - test).pow(2).mean())
        print(f"{name:18s} {100 * t / steps:.3f} s per 100 iterations on {len(test)} images, MSE {mse:.4f}")
    print(f"SGILO / ILO time ratio {t_sg / t_ilo:.2f}; MSE ratio "
          f"{float((s.estimate - test).pow(2).mean() / (i.estimate - test).pow(2).mean()):.3f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    bench_score_step()
    bench_circulant()
    bench_solvers()
