"""Evaluation cost: palette-bench's full suite (FID + IS + KID + PD) against torch-fidelity's FID + IS + KID.

Usage: python benchmarks/eval_throughput.py [--n 100] [--weights PATH]
Both evaluate the same two folders of N images with the same InceptionV3 weights file, in this one
process, alternating twice; the script prints each time and their ratio. Without --weights it uses
torch-fidelity's file from torch.hub's checkpoints folder, or else builds the tests' stand-in
(same architecture, random BatchNorm-calibrated weights: the cost is the same).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def weights_file(arg: str | None, scratch: Path) -> Path:
    from palette_bench.weights import WEIGHTS, weights_dir

    if arg:
        return Path(arg)
    real = weights_dir() / WEIGHTS["inception-v3"].filename
    if real.is_file():
        return real
    sys.path.insert(0, str(ROOT / "tests"))
    from standins import make_inception

    print("no InceptionV3 weights found: building the tests' stand-in (same architecture and cost)")
    return make_inception(scratch / WEIGHTS["inception-v3"].filename)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="images per folder")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import torch_fidelity

    sys.path.insert(0, str(ROOT / "tests"))
    from standins import natural_images, perturb, write_pngs

    from palette_bench.evaluate import EvalOptions, evaluate_folders

    scratch = Path(tempfile.mkdtemp(prefix="pb-bench-"))
    weights = weights_file(args.weights, scratch)
    ref = write_pngs(scratch / "ref", natural_images(args.n, args.size, start=0))
    pred = write_pngs(scratch / "pred", perturb(natural_images(args.n, args.size, start=0), 30))
    opts = EvalOptions(metrics=("fid", "is", "kid", "pd"), bootstrap=0, weights_dir=str(weights.parent), allow_unverified=True, progress=False)
    cuda = torch.cuda.is_available()

    def ours():
        return evaluate_folders(pred, ref, opts)["metrics"]

    def theirs():
        return torch_fidelity.calculate_metrics(
            input1=str(pred), input2=str(ref), fid=True, isc=True, kid=True, kid_subset_size=min(1000, args.n),
            feature_extractor_weights_path=str(weights), cuda=cuda, verbose=False, cache=False,
        )

    times = {"palette-bench FID+IS+KID+PD": [], "torch-fidelity FID+IS+KID": []}
    for _ in range(args.repeats):
        for name, fn in (("palette-bench FID+IS+KID+PD", ours), ("torch-fidelity FID+IS+KID", theirs)):
            start = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    print(f"{args.n} + {args.n} images at {args.size} px, InceptionV3 {'on CUDA' if cuda else 'on CPU'} ({torch.get_num_threads()} threads), best of {args.repeats}")
    for name, t in best.items():
        print(f"  {name:<30} {t:8.2f} s")
    ratio = best["palette-bench FID+IS+KID+PD"] / best["torch-fidelity FID+IS+KID"]
    print(f"  ratio palette-bench / torch-fidelity: {ratio:.3f}")
    full = EvalOptions(metrics=("fid", "is", "kid", "pd"), weights_dir=str(weights.parent), allow_unverified=True, progress=False)
    start = time.perf_counter()
    evaluate_folders(pred, ref, full)
    print(f"  palette-bench with 95% bootstrap intervals ({full.bootstrap} replicates): {time.perf_counter() - start:.2f} s")
    del result


if __name__ == "__main__":
    main()
