"""Cost of `palette-bench report` at the paper's scale: four evaluations of n = 10,000 inputs with 2,048-d features.

Usage: python benchmarks/report_scaling.py [--n 10000] [--dim 2048] [--reference 10000] [--replicates 3] [--out DIR] [--devices cpu,cuda]

Writes four run folders that `palette-bench report` reads (Palette, regression, pix2pix and the
classical fill on inpainting's center set: metrics.json, and eval_arrays.npz with pool features,
Inception-sized logits and per-input values), and their shared reference features in a fresh
PALETTE_BENCH_CACHE. The features are Gaussian with a decaying spectrum; each method's are the
reference's distribution shrunk or shifted by its own amount, so the four FIDs differ. Then it times
  1. one FID bootstrap replicate by the previous route (the resampled rows copied, np.cov,
     FrechetToReference.fast) and from bootstrap counts three ways (numpy; torch with all its threads
     on each replicate in turn; torch with one thread per replicate, FrechetReplicates), and one IS
     replicate by inception_score and by ResampledInceptionScore, in this process, as ratios to the
     previous route;
  2. `palette-bench report` in a subprocess with an empty comparison cache (cold), then again (warm),
     on the CPU and, when CUDA is available, on the GPU (each device with its own fresh cache).
It prints the machine's load average before and after each timing: other processes on the same
cores slow every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REFERENCE_KEY = "5ca1ab1e" * 8  # the cache key the four metrics.json name
METHODS = {  # name: (scale of the reference's spread, shift of its mean): how far each method's features are from it
    "palette": (1.00, 0.010),
    "regression": (0.93, 0.012),
    "pix2pix": (1.05, 0.030),
    "classical": (0.85, 0.040),
}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def features(rng, n: int, mix: np.ndarray, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return ((rng.standard_normal((n, len(mix))) @ mix.T) * scale + shift).astype(np.float32)


def write_runs(root: Path, cache: Path, n: int, dim: int, reference_n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The four run folders and the reference; returns each method's pool features, and Palette's logits."""
    from palette_bench.config import to_dict
    from palette_bench.io import atomic_write_npz
    from palette_bench.methods import get_method
    from palette_bench.metrics.fid import FrechetToReference, statistics
    from palette_bench.metrics.inception_score import inception_score
    from palette_bench.run import finalize
    from palette_bench.runconfig import resolve

    rng = np.random.default_rng(0)
    # a decaying spectrum, as pool features have: a few directions carry most of the variance
    mix = np.linalg.qr(rng.standard_normal((dim, dim)))[0] * (np.arange(1, dim + 1) ** -0.5)
    ref = features(rng, reference_n, mix)
    mu, sigma = statistics(ref)
    atomic_write_npz(cache / "reference" / f"{REFERENCE_KEY}.npz", mu=mu, sigma=sigma, features=ref, keys=np.array([f"{i:06d}" for i in range(reference_n)]))
    fid = FrechetToReference(mu, sigma)
    pools = {}
    for k, (method, (scale, shift)) in enumerate(METHODS.items()):
        cfg = finalize(resolve("inpainting", "smoke", [f"sample.n={n}"], method=method, seed=0, eval_set="center"))
        run = root / f"synthetic-inpainting-{method}"
        ev = run / "eval" / get_method(method).eval_name(cfg)
        ev.mkdir(parents=True)
        for folder in (run, ev):
            (folder / "config.json").write_text(json.dumps(to_dict(cfg)))
        pool = features(rng, n, mix, scale, shift)
        arrays = {
            "index": np.arange(n),
            "pool": pool,
            "logits": (rng.standard_normal((n, 1008)) * (3 - 0.1 * k)).astype(np.float32),
            "pd": rng.gamma(4.0, 1.0 + 0.1 * k, n),
            "lpips": rng.uniform(0.1, 0.3, n) + 0.01 * k,
            "ca_top1": (rng.uniform(size=n) < 0.7 - 0.02 * k).astype(float),
            "ca_top5": (rng.uniform(size=n) < 0.9 - 0.02 * k).astype(float),
            "psnr": rng.normal(22 - k, 3, n),
            "ssim": rng.uniform(0.6, 0.9, n),
        }
        np.savez(ev / "eval_arrays.npz", **arrays)
        entry = {"n": n, "extractor": "inception-v3-tf (synthetic)", "weights_sha256": "6726825d" + "0" * 56, "verified": True, "ci95": None}
        metrics = {"fid": {**entry, "value": fid(pool)}, "is": {**entry, "value": inception_score(arrays["logits"])}}
        metrics.update({name: {**entry, "value": float(arrays[name].mean())} for name in ("pd", "lpips", "ca_top1", "ca_top5", "psnr", "ssim")})
        result = {
            "mode": "protocol", "protocol": "synthetic", "task": "inpainting", "eval_set": "center", "image_size": 256, "n": n,
            "samples_per_input": 1, "diversity_inputs": n, "feature_space": "inception",
            "reference": {"source": "synthetic reference", "cache_key": REFERENCE_KEY, "n": reference_n},
            "metrics": metrics, "skipped": {}, "arrays": "eval_arrays.npz", "run": {"folder": str(run)},
        }
        (ev / "metrics.json").write_text(json.dumps(result))
        pools[method] = pool
        if method == "palette":
            logits = arrays["logits"]
    return pools, logits


def per_replicate(pools: dict, logits: np.ndarray, cache: Path, replicates: int) -> None:
    """Seconds per replicate of FID and of IS: the previous routes against compare's, on the same resamples."""
    from palette_bench.metrics import bootstrap as bs
    from palette_bench.metrics.fid import FrechetReplicates, FrechetToReference
    from palette_bench.metrics.inception_score import inception_score
    from palette_bench.metrics.resampled_is import ResampledInceptionScore

    with np.load(cache / "reference" / f"{REFERENCE_KEY}.npz") as z:
        fid = FrechetToReference(z["mu"], z["sigma"])
    x = pools["palette"]
    n = len(x)
    idx = bs.resamples(n, replicates, 0)
    counts = bs.resample_counts(n, 0, replicates, 0)
    print(f"one FID replicate, n={n}, d={x.shape[1]}, mean of {replicates} replicates per route, {torch.get_num_threads()} threads; {load()}")

    def timed(label: str, route, baseline: float | None = None) -> float:
        route(0)  # first calls set up libraries and solvers
        start = time.perf_counter()
        values = [route(r) for r in range(replicates)]
        seconds = (time.perf_counter() - start) / replicates
        ratio = 1.0 if baseline is None else baseline / seconds
        check = "" if baseline is None else f"  (largest relative difference {np.max(np.abs(np.array(values) / old - 1)):.1e})"
        print(f"  {label:<66} {seconds:7.2f} s   ratio {ratio:5.2f}{check}")
        return seconds

    old = np.array([fid.fast(x[i]) for i in idx])
    t_old = timed("previous route: rows copied, np.cov, FrechetToReference.fast", lambda r: fid.fast(x[idx[r]]))
    counted = FrechetReplicates(x, fid.mu_ref, fid.sigma_ref, device="cpu", sqrt_ref=fid.sqrt_ref)
    y, xc = counted.y.numpy(), counted.xc.numpy()

    def numpy_counts(r: int) -> float:
        # FrechetReplicates' steps in numpy (a.T @ a is a BLAS syrk), OpenBLAS's threads
        w = counts[r].astype(np.float64)
        offset = w @ xc / n
        keep = np.flatnonzero(w)
        yk = y[keep]
        z = np.sqrt(w[keep])[:, None] * (yk - w[keep] @ yk / n)
        tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(z.T @ z) / (n - 1), 0, None)).sum()
        diff = counted.diff_center.numpy() + offset
        return diff @ diff + (w @ counted.squares.numpy() - n * offset @ offset) / (n - 1) + counted.trace_ref - 2 * tr_sqrt

    def torch_threads(r: int) -> float:
        # FrechetReplicates' own step, each replicate on all of torch's threads in turn
        return counted._one(torch.as_tensor(counts[r], dtype=torch.float64))

    timed("bootstrap counts, numpy (OpenBLAS), replicates in turn", numpy_counts, t_old)
    timed(f"bootstrap counts, torch, {torch.get_num_threads()} threads per replicate, in turn", torch_threads, t_old)
    timed(f"FrechetReplicates: torch, 1 thread per replicate, {torch.get_num_threads()} side by side", lambda r: counted(counts[r : r + 1])[0], t_old)
    block = np.arange(min(replicates, 2 * torch.get_num_threads()))
    start = time.perf_counter()
    counted(counts[block])
    print(f"  {'  the same, ' + str(len(block)) + ' replicates in one call':<66} {(time.perf_counter() - start) / len(block):7.2f} s")
    if torch.cuda.is_available():
        on_gpu = FrechetReplicates(x, fid.mu_ref, fid.sigma_ref, device="cuda", sqrt_ref=fid.sqrt_ref)
        timed("FrechetReplicates: torch, cuda", lambda r: on_gpu(counts[r : r + 1])[0], t_old)
    print(f"one IS replicate, n={n}, {logits.shape[1]} classes")
    old = np.array([inception_score(logits[i]) for i in idx])
    t_old = timed("previous route: inception_score of the resampled logits", lambda r: inception_score(logits[idx[r]]))
    resampled = ResampledInceptionScore(logits)
    timed("ResampledInceptionScore: one softmax, rows gathered per resample", lambda r: resampled(idx[r]), t_old)
    print(f"  {load()}")


def report(runs: Path, out: Path, cache: Path, device: str) -> tuple[float, str]:
    env = {**os.environ, "PALETTE_BENCH_CACHE": str(cache)}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "palette_bench.cli", "report", "--runs", str(runs), "--out", str(out), "--format", "csv,md,tex"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"report failed:\n{done.stdout}\n{done.stderr}")
    return seconds, (out / "inpainting.md").read_text()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="evaluation inputs per run")
    ap.add_argument("--dim", type=int, default=2048, help="feature dimensions (InceptionV3's pool: 2048)")
    ap.add_argument("--reference", type=int, default=10000, help="reference images")
    ap.add_argument("--replicates", type=int, default=3, help="replicates per route in the per-replicate timing")
    ap.add_argument("--out", default=None, help="folder for the run folders and caches (default: a temporary one, removed)")
    ap.add_argument("--devices", default="cpu,cuda", help="devices to time the report on, of cpu and cuda (cuda only where available)")
    args = ap.parse_args()

    scratch = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="pb-report-scaling-"))
    runs, cache = scratch / "runs", scratch / "cache-cpu"
    start = time.perf_counter()
    pools, logits = write_runs(runs, cache, args.n, args.dim, args.reference)
    print(f"four run folders, n={args.n}, d={args.dim}, reference of {args.reference}: written in {time.perf_counter() - start:.0f} s under {scratch}")
    per_replicate(pools, logits, cache, args.replicates)

    devices = [d for d in args.devices.split(",") if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    for device in devices:
        device_cache = scratch / f"cache-{device}"
        if device != "cpu":
            shutil.copytree(cache / "reference", device_cache / "reference")
        print(f"palette-bench report on {device}: {load()}")
        cold, md = report(runs, scratch / f"results-{device}", device_cache, device)
        print(f"  cold (no comparison or replicate kept)   {cold:8.1f} s;  {load()}")
        warm, _ = report(runs, scratch / f"results-{device}", device_cache, device)
        print(f"  warm (the same report again)             {warm:8.1f} s;  {load()}   ratio cold / warm {cold / warm:.0f}")
        for line in md.splitlines():
            if line.startswith("- Paired FID intervals") or re.match(r"\| center", line):
                print(f"  {line}")
    if not args.out:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
