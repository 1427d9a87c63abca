"""Evaluation-condition throughput: inputs per second of an evaluation set, in-process vs DataLoader workers.

Usage: python benchmarks/data_throughput.py [--task inpainting --eval-set ff30-40 --size 256 --n 200]
Prints inputs/s for each configuration and its ratio to the single-process peer, and checks that
every configuration produced the same condition digest.
"""

from __future__ import annotations

import argparse
import time

from palette_bench.data.evalset import ConditionDigest, EvalSet, iterate
from palette_bench.protocols import load_protocol


def measure(evalset: EvalSet, batch_size: int, workers: int) -> tuple[float, str]:
    digest = ConditionDigest()
    start = time.perf_counter()
    for batch in iterate(evalset, batch_size, workers):
        digest.update(batch)
    return len(evalset) / (time.perf_counter() - start), digest.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="builtin")
    ap.add_argument("--task", default="inpainting")
    ap.add_argument("--eval-set", default="ff30-40")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    evalset = EvalSet(load_protocol(args.protocol).with_size(args.size), args.task, args.eval_set, n=args.n)
    measure(evalset, 8, 0)  # warm-up: loads the background bank once
    rows = [(bs, w, *measure(evalset, bs, w)) for bs, w in [(1, 0), (32, 0), (32, 2)]]
    base = rows[0][2]
    print(f"{args.task}/{args.eval_set} at {args.size} px, {args.n} inputs")
    print(f"{'batch':>5} {'workers':>7} {'inputs/s':>9} {'ratio':>6}")
    for bs, w, rate, _ in rows:
        print(f"{bs:>5} {w:>7} {rate:>9.1f} {rate / base:>6.2f}")
    assert len({d for *_, d in rows}) == 1, "conditions differ between configurations"
    print("condition digests identical across configurations")


if __name__ == "__main__":
    main()
