"""95% bootstrap confidence intervals by resampling evaluation inputs (percentile method, Efron & Tibshirani 1993)."""

from __future__ import annotations

from typing import Callable

import numpy as np

REPLICATES = 100
SEED = 0


def resamples(n: int, replicates: int = REPLICATES, seed: int = SEED) -> np.ndarray:
    """[replicates, n] row indices drawn with replacement; one fixed stream so intervals are reproducible."""
    return np.random.default_rng(seed).integers(0, n, size=(replicates, n))


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def mean_ci(per_input: np.ndarray, replicates: int = REPLICATES, seed: int = SEED) -> tuple[float, float] | None:
    """CI of the mean of per-input values (PD, CA, LPIPS, PSNR, SSIM, diversity); non-finite inputs are left out."""
    v = np.asarray(per_input, np.float64)
    v = v[np.isfinite(v)]
    if replicates <= 0 or len(v) < 2:
        return None
    return percentile_interval(v[resamples(len(v), replicates, seed)].mean(axis=1))


def statistic_ci(n: int, statistic: Callable[[np.ndarray], float], replicates: int = REPLICATES, seed: int = SEED) -> tuple[float, float] | None:
    """CI of a set-level statistic (FID, IS, KID) recomputed on resampled inputs; the reference set stays fixed."""
    if replicates <= 0 or n < 2:
        return None
    return percentile_interval(np.array([statistic(idx) for idx in resamples(n, replicates, seed)]))
