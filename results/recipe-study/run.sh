#!/usr/bin/env bash
# The recipe study of results/README.md: every recipe changes the cpu preset as it was before the study
# (v, uniform t, batch 32, pinned by the --set lines), trained for about the same minutes, evaluated on the same 250 inputs.
set -euo pipefail
common=(--task uncropping --runs-root runs/recipe-study
  --set train.batch_size=32 --set diffusion.noise_levels=paper --set train.channels_last=false
  --at 300,480,800 --n 250 --samples-per-input 1 --diversity-n 0)
paper=(--recipe 'paper: train.steps=300; diffusion.parameterization=eps')
others=(
  --recipe 'cpu-old: train.steps=300'
  --recipe 'lr1e-3: train.steps=300; train.lr=1e-3'
  --recipe 'lognormal: train.steps=300; diffusion.noise_levels=lognormal'
  --recipe 'edm: train.steps=300; diffusion.parameterization=edm; diffusion.noise_levels=lognormal'
  --recipe 'logsnr-uniform: train.steps=300; diffusion.noise_levels=logsnr-uniform'
  --recipe 'b16: train.steps=480; train.batch_size=16; train.channels_last=true'
  --recipe 'b8: train.steps=800; train.batch_size=8; train.channels_last=true'
  --recipe 'lognormal-low: train.steps=300; diffusion.noise_levels=lognormal; diffusion.lognormal_mean=-1.8'
  --recipe 'lognormal-mid: train.steps=300; diffusion.noise_levels=lognormal; diffusion.lognormal_mean=-0.6'
  --recipe 'lognormal-b16: train.steps=480; train.batch_size=16; train.channels_last=true; diffusion.noise_levels=lognormal'
  --recipe 'lognormal-b16-lr1e-3: train.steps=480; train.batch_size=16; train.channels_last=true; diffusion.noise_levels=lognormal; train.lr=1e-3'
)
palette-bench ablate curve "${common[@]}" "${paper[@]}" "${others[@]}" --out results/recipe-study
# the same runs paired against cpu-old instead of the paper recipe (no training or sampling is repeated)
palette-bench ablate curve "${common[@]}" "${others[@]}" "${paper[@]}" --out results/recipe-study/against-cpu
