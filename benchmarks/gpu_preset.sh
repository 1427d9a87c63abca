#!/usr/bin/env bash
# The gpu preset's device check, as one prepared script (run from the repository root on one CUDA GPU,
# in the environment the README's quick start makes):
#   1. Palette, regression and pix2pix on builtin uncropping at the gpu preset, each timed;
#   2. the gpu preset's training step, bf16 and torch.compile on vs off, as ratios (train_throughput.py).
# Everything lands under $OUT (default results/gpu): run folders, logs, nvidia-smi's card name.
set -euo pipefail
OUT=${OUT:-results/gpu}
mkdir -p "$OUT/logs"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/card.csv"
for method in palette regression pix2pix; do
  start=$(date +%s)
  palette-bench run --task uncropping --preset gpu --method "$method" --runs-root "$OUT/runs" > "$OUT/logs/$method.log" 2>&1
  echo "$method $(( $(date +%s) - start )) s" >> "$OUT/wall_times.txt"
done
python benchmarks/train_throughput.py --preset gpu --batch 128 --iters 20 > "$OUT/logs/train_throughput.txt" 2>&1
