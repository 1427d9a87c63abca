"""Sample diversity of Palette (Saharia et al. 2022, "Sample diversity"): K samples per input, compared pairwise.

`samples` is a uint8 tensor [N, K, 3, H, W]; Palette uses K = 5. Both functions work through
the inputs `batch_size` at a time and one sample pair at a time, so at most `batch_size` image
pairs are being compared at once whatever K and N; they return float64 [N] on the CPU.
"""

from __future__ import annotations

from typing import Callable

import torch

from .msssim import ms_ssim


def _check(samples):
    if samples.dtype != torch.uint8 or samples.ndim != 5 or samples.shape[1] < 2:
        raise ValueError(f"samples must be uint8 [N, K >= 2, C, H, W], got {samples.dtype} {tuple(samples.shape)}")


def msssim_diversity(samples: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Per input, the mean MS-SSIM between sample 0 and each of samples 1..K-1 (lower = more diverse)."""
    _check(samples)
    n, k = samples.shape[:2]
    out = torch.zeros(n, dtype=torch.float64)
    for i in range(0, n, batch_size):
        first = samples[i : i + batch_size, 0]
        for j in range(1, k):
            out[i : i + batch_size] += ms_ssim(first, samples[i : i + batch_size, j]).cpu()
    return out / (k - 1)


def lpips_diversity(
    samples: torch.Tensor, distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch_size: int = 32
) -> torch.Tensor:
    """Per input, the mean of distance(sample k, sample k+1) over k = 0..K-2 (higher = more diverse).

    `distance(a, b)` takes two uint8 batches [n, 3, H, W] and returns [n] (e.g. LPIPS-AlexNet).
    """
    _check(samples)
    n, k = samples.shape[:2]
    out = torch.zeros(n, dtype=torch.float64)
    for i in range(0, n, batch_size):
        chunk = samples[i : i + batch_size]
        for j in range(k - 1):
            d = torch.as_tensor(distance(chunk[:, j], chunk[:, j + 1]))
            if d.shape != (chunk.shape[0],):
                raise ValueError(f"distance must return one value per pair, shape [{chunk.shape[0]}], got {tuple(d.shape)}")
            out[i : i + batch_size] += d.detach().to("cpu", torch.float64)
    return out / (k - 1)
