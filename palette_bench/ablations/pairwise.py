"""Pairwise MS-SSIM between the samples of each input, and their histogram (Palette Figure 8, L1 vs L2).

The diversity metric in metrics.json averages MS-SSIM over the pairs (sample 0, sample k); the
figure shows the whole distribution over every pair (j, k), j < k, of every input that has K samples,
so a loss that makes some inputs diverse and others collapsed shows as two humps, not one mean.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from palette_bench.ablations import png_bytes
from palette_bench.data.predictions import Predictions
from palette_bench.metrics.msssim import ms_ssim


def pairwise_msssim(eval_dir: str | Path) -> np.ndarray:
    """MS-SSIM of every sample pair (j < k) of every input with K samples in eval_dir/samples: [inputs * K(K-1)/2]."""
    eval_dir = Path(eval_dir)
    result = json.loads((eval_dir / "metrics.json").read_text())
    # the evaluation indices are those of the sample-0 files (colorization on real data skips grayscale originals)
    indices = sorted(int(p.stem) for p in (eval_dir / "samples").glob("[0-9]*.png") if "_" not in p.stem)
    preds = Predictions(eval_dir / "samples", indices, result["image_size"])
    if not preds.diverse:
        raise ValueError(f"{eval_dir / 'samples'}: no input has more than one sample, so there are no pairs to compare")
    out = []
    for start in range(0, len(preds.diverse), 64):
        chunk = preds.diverse[start : start + 64]
        samples = [preds.batch(chunk, k) for k in range(preds.samples)]
        for j, k in combinations(range(preds.samples), 2):
            out.append(ms_ssim(samples[j], samples[k]).numpy())
    return np.concatenate(out)


def histogram_figure(eval_dirs: list[Path], labels: list[str]) -> bytes:
    """One histogram of pairwise MS-SSIM per evaluation, on shared bins, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [pairwise_msssim(d) for d in eval_dirs]
    bins = np.linspace(min(float(v.min()) for v in values), 1.0, 31)
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=110)
    for i, (v, label) in enumerate(zip(values, labels)):
        ax.hist(v, bins=bins, alpha=0.55, color=f"C{i}", label=f"{label} (mean {v.mean():.3f}, {len(v)} pairs)")
    ax.set_xlabel("MS-SSIM between two samples of one input (lower = more diverse)")
    ax.set_ylabel("sample pairs")
    ax.legend(fontsize=8)
    return png_bytes(fig)


__all__ = ["histogram_figure", "pairwise_msssim"]
