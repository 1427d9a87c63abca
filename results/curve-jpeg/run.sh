#!/usr/bin/env bash
# JPEG restoration's learning curve at the cpu preset (results/README.md, "JPEG and colorization: how much training"),
# after `palette-bench run --task jpeg` has made the four default runs in runs/. One job at a time on 2 idle cores.
set -euo pipefail
# regression with four times the preset's training, as a second floor
palette-bench run --task jpeg --method regression --set train.steps=1920 --run-dir runs/jpeg-regression-1920
# Palette's curve: the preset's recipe trained to 1920 steps, evaluated at 480, 960 and 1920 on the same 500 inputs
palette-bench ablate curve --task jpeg --runs-root runs/curve-jpeg --out results/curve-jpeg --at 480,960,1920 \
  --n 500 --samples-per-input 1 --diversity-n 0 --recipe 'cpu:' \
  --floor runs/builtin-jpeg-regression-cpu --floor runs/jpeg-regression-1920 --floor runs/builtin-jpeg-classical-cpu
# uniform t (the paper's noise levels) instead of log-normal, same 480 steps, against the curve's 480-step point
palette-bench run --task jpeg --method palette --set diffusion.noise_levels=paper --stage train --run-dir runs/jpeg-palette-uniform-t
curve=$(ls -d runs/curve-jpeg/builtin-jpeg-palette-cpu-*)
palette-bench ablate curve --run "$curve" --run runs/jpeg-palette-uniform-t --at 480 --n 500 --samples-per-input 1 --diversity-n 0 \
  --floor runs/builtin-jpeg-regression-cpu --floor runs/builtin-jpeg-classical-cpu --out results/curve-jpeg/uniform-t
palette-bench compare runs/jpeg-palette-uniform-t/eval/q10-heun25-logsnr-churn40-step480 "$curve/eval/q10-heun25-logsnr-churn40-step480" \
  --metrics fid,is,ca_top1,pd,lpips,psnr > results/curve-jpeg/uniform-t/compare.txt
palette-bench figure "$curve"/eval/q10-heun25-logsnr-churn40-step{480,960,1920} runs/jpeg-palette-uniform-t/eval/q10-heun25-logsnr-churn40-step480 \
  runs/builtin-jpeg-regression-cpu/eval/q10 runs/jpeg-regression-1920/eval/q10 --samples 1 \
  --label "Palette 480" --label "Palette 960" --label "Palette 1920" --label "uniform t 480" --label "regression 480" --label "regression 1920" \
  --out results/curve-jpeg/samples.png
