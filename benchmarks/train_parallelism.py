"""Threads or processes on a CPU: the same Palette training run as one process with 1 or 2 threads, or as two
single-thread torchrun (DDP, gloo) processes.

Usage: python benchmarks/train_parallelism.py [--task uncropping] [--preset cpu] [--steps 40] [--set key=value ...]

Each configuration trains the same run (same seed, same global batch, same data) for `--steps` steps
in a fresh folder, one after the other, and its steady-state seconds per step is the median step
time of the second half (from stats.jsonl). The table gives each one's ratio to one process with
2 threads, today's default on 2 cores. The final checkpoints are compared as well: the process
count must not change what is learned beyond float reduction order.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

CONFIGS = (
    ("1 process x 2 threads", 1, 2),
    ("1 process x 1 thread", 1, 1),
    ("2 processes x 1 thread (torchrun, gloo)", 2, 1),
)


def seconds_per_step(stats: Path) -> float:
    times = [json.loads(line)["time"] for line in stats.read_text().splitlines()]
    steps = np.diff([0.0, *times])
    return float(np.median(steps[len(steps) // 2 :]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="uncropping")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    sets = [f"--set=train.steps={args.steps}", f"--set=train.checkpoint_every={args.steps}", *(f"--set={o}" for o in args.overrides)]
    rows, finals = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, procs, threads in CONFIGS:
            folder = Path(tmp) / f"p{procs}t{threads}"
            cli = ["run", "--task", args.task, "--preset", args.preset, "--stage", "train", "--run-dir", str(folder), *sets]
            if procs == 1:
                cmd = [sys.executable, "-m", "palette_bench.cli", *cli]
            else:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", "-m", "palette_bench.cli", *cli]
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            rows.append((label, seconds_per_step(folder / "stats.jsonl")))
            finals.append(torch.load(sorted((folder / "checkpoints").glob("ckpt-*.pt"))[-1], weights_only=True)["model"])
    base = rows[0][1]
    print(f"{args.task}, preset {args.preset}, {args.steps} steps each, run one after the other")
    print(f"{'configuration':<42} {'s / step':>9} {'speed vs 1x2':>13}")
    for label, s in rows:
        print(f"{label:<42} {s:>9.3f} {base / s:>13.2f}")
    for (label, _), state in zip(rows[1:], finals[1:]):
        diff = max((state[k].float() - finals[0][k].float()).abs().max().item() for k in state)
        print(f"largest weight difference of '{label}' from the first after {args.steps} steps: {diff:.2e}")


if __name__ == "__main__":
    main()
