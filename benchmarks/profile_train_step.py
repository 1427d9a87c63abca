"""Where a Palette training step spends its time: torch.profiler over the real trainer step, by kind of operation.

Usage: python benchmarks/profile_train_step.py [--preset cpu] [--task uncropping] [--iters 5] [--set key=value ...]

Runs the method's own trainer step (the one `palette-bench run` uses: noise draw, loss, backward,
optimizer, EMA) on a fixed batch built by the run's training-data code, and the building of that
batch, and prints the self time of every operation grouped by kind (convolution, normalisation,
activation, attention, linear layers, optimizer and EMA, element-wise, batch building), as a share of
the step. Warm-up steps are not profiled.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from palette_bench.runconfig import resolve

# operation name fragments -> kind; the first match wins, so the specific ones come first
KINDS = (
    ("attention", ("softmax", "bmm", "baddbmm", "scaled_dot_product", "_flash", "attention")),
    ("convolution", ("conv", "mkldnn_convolution", "slow_conv")),
    ("normalisation", ("group_norm", "native_group_norm", "layer_norm", "batch_norm", "instance_norm")),
    ("activation", ("silu", "gelu", "sigmoid", "tanh", "relu")),
    ("linear layers", ("addmm", "mm", "linear")),
    ("optimizer and EMA", ("_foreach", "adam", "lerp", "sqrt_", "addcdiv", "addcmul")),
    ("copies and layout", ("copy_", "contiguous", "clone", "cat", "permute", "reshape", "view", "to_copy", "empty", "zeros", "fill_", "as_strided", "transpose", "expand", "unsqueeze", "split", "chunk", "narrow", "select", "slice", "stack", "t")),
    ("element-wise and reductions", ("add", "mul", "sub", "div", "pow", "sum", "mean", "where", "neg", "exp", "log", "sin", "cos", "abs", "square", "rsqrt", "sqrt", "clamp", "rand", "normal")),
)


def kind_of(name: str) -> str:
    """An operation's kind: a fragment of three or more letters matches inside the name, a shorter one ("mm", "t") only the whole name."""
    base = name.split("::")[-1].lower()
    for kind, fragments in KINDS:
        if any(f in base if len(f) > 2 else base == f for f in fragments):
            return kind
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--task", default="uncropping")
    ap.add_argument("--method", default="palette")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()

    from palette_bench.protocols import load_protocol
    from palette_bench.train import StepGuard, make_trainer
    from palette_bench.training_data import TrainingBatches

    cfg = resolve(args.task, args.preset, args.overrides, method=args.method)
    device = torch.device("cpu")
    trainer = make_trainer(cfg, device)
    protocol = load_protocol(cfg.protocol).with_size(cfg.image_size or None)
    batches = TrainingBatches(protocol, cfg.task, cfg.seed, cfg.train.batch_size, 0, cfg.train.steps)
    with tempfile.TemporaryDirectory() as tmp:
        guard = StepGuard(tmp, getattr(trainer, "limits", None))
        for step in range(2):  # warm-up
            trainer.train_step(batches.batch(step), guard)
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for step in range(2, 2 + args.iters):
                with record_function("## batch building"):
                    batch = batches.batch(step)
                trainer.train_step(batch, guard)
        wall = (time.perf_counter() - start) / args.iters
    totals: dict[str, float] = defaultdict(float)
    batch_time = 0.0
    for e in prof.key_averages():
        if e.key == "## batch building":
            batch_time = e.cpu_time_total
            continue
        totals[kind_of(e.key)] += e.self_cpu_time_total
    # batch building's own operations are counted inside its kinds too: take them out and show it as one line
    ops_total = sum(totals.values())
    print(f"{args.method} {args.task}, preset {args.preset}: batch {cfg.train.batch_size}, {cfg.image_size} px, {torch.get_num_threads()} threads; "
          f"{wall:.3f} s per step (profiled, {args.iters} steps)")
    print(f"{'kind':<30} {'ms per step':>12} {'share':>7}")
    for kind, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{kind:<30} {t / 1e3 / args.iters:>12.1f} {t / ops_total:>7.1%}")
    print(f"{'(of which batch building)':<30} {batch_time / 1e3 / args.iters:>12.1f} {batch_time / ops_total:>7.1%}")
    print("\ntop operations by self time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
