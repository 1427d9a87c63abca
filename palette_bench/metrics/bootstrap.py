"""95% bootstrap confidence intervals by resampling evaluation inputs (Efron & Tibshirani 1993).

The interval is the bootstrap percentile interval shifted by the bootstrap's bias, the median of
the replicates minus the full-sample value. Resampling with replacement duplicates inputs, which
makes a set look less diverse: set-level distances such as FID and KID come out systematically
larger on replicates than on the real set, and the plain percentile interval can miss the value
altogether. For means of per-input values the shift is negligible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

REPLICATES = 100
SEED = 0


def resamples(n: int, replicates: int = REPLICATES, seed: int = SEED) -> np.ndarray:
    """[replicates, n] row indices drawn with replacement; one fixed stream so intervals are reproducible.

    The first k rows do not depend on `replicates` (tested): replicate r of a seed is the same resample
    in every call, which is what lets compare.py keep an evaluation's replicates and extend them.
    """
    return np.random.default_rng(seed).integers(0, n, size=(replicates, n))


def resample_counts(n: int, start: int, stop: int, seed: int = SEED) -> np.ndarray:
    """[stop - start, n] how often replicates start..stop-1 of `resamples(n, stop, seed)` draw each input."""
    rows = resamples(n, stop, seed)[start:]
    return np.stack([np.bincount(r, minlength=n) for r in rows]) if len(rows) else np.zeros((0, n), np.int64)


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


def quantile_mc_se(replicates: np.ndarray, q: float, z: float = 1.96) -> float:
    """Monte-Carlo standard error of the q-quantile of R replicates, by the binomial order-statistic method.

    The number of replicates below the true quantile is Binomial(R, q), so the order statistics of
    ranks R q -+ z sqrt(R q (1 - q)) bracket it with probability ~95% for z = 1.96 whatever the
    replicates' distribution; half that bracket's width over z estimates the standard error.
    """
    v = np.sort(np.asarray(replicates, np.float64))
    r = len(v)
    half = z * np.sqrt(r * q * (1 - q))
    lo, hi = max(int(np.floor(r * q - half)), 0), min(int(np.ceil(r * q + half)), r - 1)
    return float((v[hi] - v[lo]) / (2 * z))


def interval_mc_se(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Monte-Carlo standard errors of percentile_interval's two end points.

    An end point is a tail quantile minus the median (plus the fixed value); the two quantiles'
    errors are added in quadrature. They are positively correlated, so this slightly overstates the error.
    """
    median = quantile_mc_se(replicates, 0.5)
    tails = (quantile_mc_se(replicates, (1 - level) / 2), quantile_mc_se(replicates, (1 + level) / 2))
    return tuple(float(np.hypot(t, median)) for t in tails)


@dataclass(frozen=True)
class MonteCarloRule:
    """How many replicates an expensive interval gets: blocks until its Monte-Carlo error is small or cannot matter.

    After `floor` replicates, and after each further `block`, stop when each end point's
    Monte-Carlo standard error is at most `fraction` of the interval's width, or when each end point
    lies at least `settled` standard errors from 0, so that more replicates would not move it across
    0 and change the verdict; never go past `cap`.
    """

    floor: int = 200
    block: int = 100
    cap: int = 1000
    fraction: float = 0.05
    settled: float = 3.0

    def done(self, lo: float, hi: float, se: tuple[float, float]) -> bool:
        precise = max(se) <= self.fraction * (hi - lo)
        decided = abs(lo) >= self.settled * se[0] and abs(hi) >= self.settled * se[1]
        return precise or decided

    def describe(self) -> str:
        if self.cap <= self.floor:
            return f"{self.cap} replicates (a cap at or below the floor of {self.floor})"
        return (
            f"replicates in blocks of {self.block} from {self.floor} to at most {self.cap}, until the Monte-Carlo standard error of each "
            f"end point is at most {self.fraction:.0%} of the interval's width or each end point is {self.settled:g} standard errors from 0"
        )


def adaptive_interval(replicates_of: Callable[[int], np.ndarray], value: float, rule: MonteCarloRule, level: float = 0.95) -> tuple[tuple[float, float], int, tuple[float, float]]:
    """percentile_interval of the first R replicates, R chosen by `rule`; returns (interval, R, end points' MC standard errors).

    `replicates_of(k)` returns the first k replicates; a larger k extends the same sequence.
    """
    count = min(rule.floor, rule.cap)
    while True:
        reps = replicates_of(count)
        lo, hi = percentile_interval(reps, value, level)
        se = interval_mc_se(reps, level)
        if count >= rule.cap or rule.done(lo, hi, se):
            return (lo, hi), count, se
        count = min(count + rule.block, rule.cap)
