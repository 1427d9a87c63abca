"""95% bootstrap confidence intervals by resampling evaluation inputs (Efron & Tibshirani 1993).

The interval is the bootstrap percentile interval shifted by the bootstrap's bias, the median of
the replicates minus the full-sample value. Resampling with replacement duplicates inputs, which
makes a set look less diverse: set-level distances such as FID and KID come out systematically
larger on replicates than on the real set, and the plain percentile interval can miss the value
altogether. For means of per-input values the shift is negligible.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

REPLICATES = 100
SEED = 0


def resamples(n: int, replicates: int = REPLICATES, seed: int = SEED) -> np.ndarray:
    """[replicates, n] row indices drawn with replacement; one fixed stream so intervals are reproducible."""
    return np.random.default_rng(seed).integers(0, n, size=(replicates, n))


def percentile_interval(replicates: np.ndarray, value: float, level: float = 0.95) -> tuple[float, float]:
    """The `level` percentile interval of the replicates, moved so that their median sits on `value`."""
    lo, median, hi = np.percentile(replicates, [50 * (1 - level), 50, 50 * (1 + level)])
    shift = median - value
    return float(lo - shift), float(hi - shift)


def mean_ci(per_input: np.ndarray, replicates: int = REPLICATES, seed: int = SEED) -> tuple[float, float] | None:
    """CI of the mean of per-input values (PD, CA, LPIPS, PSNR, SSIM, diversity); non-finite inputs are left out."""
    v = np.asarray(per_input, np.float64)
    v = v[np.isfinite(v)]
    if replicates <= 0 or len(v) < 2:
        return None
    return percentile_interval(v[resamples(len(v), replicates, seed)].mean(axis=1), float(v.mean()))


def statistic_ci(n: int, statistic: Callable[[np.ndarray], float], value: float, replicates: int = REPLICATES, seed: int = SEED) -> tuple[float, float] | None:
    """CI of a set-level statistic (FID, IS, KID) recomputed on resampled inputs; the reference set stays fixed."""
    if replicates <= 0 or n < 2:
        return None
    return percentile_interval(np.array([statistic(idx) for idx in resamples(n, replicates, seed)]), value)
