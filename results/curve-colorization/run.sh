#!/usr/bin/env bash
# Colorization's learning curve at the cpu preset (results/README.md, "JPEG and colorization: what four times the training buys"),
# after `palette-bench run --task colorization` has made the four default runs in runs/. One job at a time on 2 idle cores.
set -euo pipefail
# regression with four times the preset's training, as a second floor
palette-bench run --task colorization --method regression --set train.steps=1920 --run-dir runs/colorization-regression-1920
# Palette's curve: the preset's recipe trained to 1920 steps, evaluated at 480 and 1920 on the same 500 inputs
palette-bench ablate curve --task colorization --runs-root runs/curve-colorization --out results/curve-colorization --at 480,1920 \
  --n 500 --samples-per-input 1 --diversity-n 0 --recipe 'cpu:' \
  --floor runs/builtin-colorization-regression-cpu --floor runs/colorization-regression-1920 --floor runs/builtin-colorization-classical-cpu
curve=$(ls -d runs/curve-colorization/builtin-colorization-palette-cpu-*)
palette-bench figure "$curve"/eval/gray-heun25-logsnr-churn40-step{480,1920} \
  runs/builtin-colorization-regression-cpu/eval/gray runs/colorization-regression-1920/eval/gray --samples 1 \
  --label "Palette 480" --label "Palette 1920" --label "regression 480" --label "regression 1920" \
  --out results/curve-colorization/samples.png
