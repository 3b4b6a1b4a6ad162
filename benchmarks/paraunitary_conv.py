"""SC-Fac orthogonal convolution: forward + backward time and peak memory, side by side (card 04 §6).

Layers (64 channels, k = 3, stride 1, circular, float32, batch --batch):
  ours      icml22dl.nn.ParaunitaryConv2d (init "uniform")
  official  umd-huang-lab/ortho-conv ``layers/OrthoConv2d.py`` (needs geotorch), run from a folder
            outside the repository given by --official (holding OrthoConv2d.py and utilities.py,
            and geotorch importable, e.g. --official /tmp/official/layers --site /tmp/official/site)
  cayley    the FFT Cayley convolution (icml22dl.nn.CayleyConv2d, Trockman & Kolter 2021)
at 16x16 and 32x32. Time: median seconds of --reps forward + backward passes after one warm-up,
in this process; peak memory: the rise of the peak resident set size (VmHWM, reset through
/proc/self/clear_refs, Linux) over the resident size before one forward + backward, in a fresh
subprocess. Also: the kernel of ours with the official layer's factors
transplanted, against the official kernel (target < 1e-6, float32).

Run: OMP_NUM_THREADS=1 python benchmarks/paraunitary_conv.py --official /tmp/official/layers --site /tmp/official/site
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch


def build(name: str, channels: int, official: str | None, site: str | None):
    if name == "ours":
        from icml22dl.nn.paraunitary import ParaunitaryConv2d

        return ParaunitaryConv2d(channels, channels, 3, init="uniform", generator=torch.Generator().manual_seed(0))
    if name == "cayley":
        from icml22dl.nn.orthogonal_convs import CayleyConv2d

        return CayleyConv2d(channels, 3, generator=torch.Generator().manual_seed(0))
    for path in (official, site):
        if path and path not in sys.path:
            sys.path.insert(0, path)
    from OrthoConv2d import OrthoConv2d  # the official layer, outside the repository

    torch.manual_seed(0)
    return OrthoConv2d(channels, channels, 3, init="uniform")


def fwd_bwd(layer, x) -> None:
    layer.zero_grad(set_to_none=True)
    layer(x).square().sum().backward()


def time_layer(layer, x, reps: int) -> float:
    fwd_bwd(layer, x)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fwd_bwd(layer, x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def memory_child(name: str, channels: int, size: int, batch: int, official, site) -> None:
    torch.set_num_threads(1)
    layer = build(name, channels, official, site)
    x = torch.randn(batch, channels, size, size)
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak RSS (VmHWM) to the current RSS
        f.write("5")
    base = _status_kib("VmRSS")
    fwd_bwd(layer, x)
    print(json.dumps({"peak_mib": (_status_kib("VmHWM") - base) / 1024}))


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def peak_memory(name: str, channels: int, size: int, batch: int, official, site) -> float:
    cmd = [sys.executable, __file__, "--child", name, "--channels", str(channels), "--size", str(size),
           "--batch", str(batch)]
    if official:
        cmd += ["--official", official]
    if site:
        cmd += ["--site", site]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def transplant_agreement(channels: int, official: str, site: str) -> float:
    """Max |K_ours - K_official| after copying the official factors into ours (A = 0, base = factor)."""
    from icml22dl.nn.paraunitary import ParaunitaryConv2d

    theirs = build("official", channels, official, site)
    ours = ParaunitaryConv2d(channels, channels, 3, init="uniform")
    system = ours.systems[0]
    with torch.no_grad():
        for axis in range(2):
            prefix = f"g0_d{axis}"
            q0 = theirs.module[prefix].matrix.double()
            system[axis].q0.base.copy_(q0)
            system[axis].q0.A.zero_()
            for j, proj in enumerate(system[axis].projections, start=2):
                u = theirs.module[f"{prefix}_{'r' if j % 2 == 0 else 'l'}{j // 2}"].matrix.double()
                filler = torch.randn(u.shape[0], u.shape[0] - u.shape[1], dtype=torch.float64)
                full, _ = torch.linalg.qr(torch.cat([u, filler], dim=1))  # columns span U first
                proj.base.copy_(full)
                proj.A.zero_()
        return (ours.weight - theirs.weights()).abs().max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", default=None, help="folder with the official OrthoConv2d.py (outside the repo)")
    parser.add_argument("--site", default=None, help="folder where geotorch is importable")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--size", type=int, default=0, help="one size only (default: 16 and 32)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.child:
        memory_child(args.child, args.channels, args.size, args.batch, args.official, args.site)
        return
    names = ["ours", "cayley"] + (["official"] if args.official else [])
    if not args.official:
        print("official layer not given (--official): ours and Cayley only")
    sizes = [args.size] if args.size else [16, 32]
    print(f"{args.channels} channels, k 3, batch {args.batch}, float32, 1 thread; fwd+bwd s (median of {args.reps}),"
          " peak MiB")
    for size in sizes:
        x = torch.randn(args.batch, args.channels, size, size)
        rows = {}
        for name in names:
            layer = build(name, args.channels, args.official, args.site)
            rows[name] = (time_layer(layer, x, args.reps),
                          peak_memory(name, args.channels, size, args.batch, args.official, args.site))
        line = f"{size:>2}x{size:<2} " + "  ".join(f"{n} {t:.3f} s {m:.0f} MiB" for n, (t, m) in rows.items())
        print(line)
        print(f"       ours/cayley time {rows['ours'][0] / rows['cayley'][0]:.2f}, memory "
              f"{rows['ours'][1] / max(rows['cayley'][1], 1e-9):.2f}")
        if "official" in rows:
            print(f"       ours/official time {rows['ours'][0] / rows['official'][0]:.2f}, memory "
                  f"{rows['ours'][1] / max(rows['official'][1], 1e-9):.2f}  (target <= 1.2)")
    if args.official:
        print(f"kernel agreement with transplanted official factors: {transplant_agreement(args.channels, args.official, args.site):.2e}"
              " (target < 1e-6)")


if __name__ == "__main__":
    main()
