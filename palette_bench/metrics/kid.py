"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel, over random subsets."""

from __future__ import annotations

import numpy as np

SUBSETS = 100
SUBSET_SIZE = 1000
SEED = 2020  # torch-fidelity's default subset sampling seed


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate between two equally sized samples."""
    m = len(x)
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def kid(features: np.ndarray, reference: np.ndarray, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE, seed: int = SEED) -> float:
    """Mean MMD^2 over `subsets` random subsets of min(subset_size, N, N_ref) rows of each set."""
    f, r = np.asarray(features, np.float64), np.asarray(reference, np.float64)
    m = min(subset_size, len(f), len(r))
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        a = f[rng.choice(len(f), m, replace=False)]
        b = r[rng.choice(len(r), m, replace=False)]
        values.append(mmd2_unbiased(a, b))
    return float(np.mean(values))


class ResampledKID:
    """kid(features[idx], reference, subsets, ...) for many resamples `idx` of the rows, from kernels computed once.

    A resample has as many rows as the set, so kid draws the same subset positions and the same
    reference rows for every resample (its generator is seeded alike). The reference terms are
    therefore computed once, and so are each row's kernel sums against every reference subset;
    only the kernel among the resampled rows changes, a look-up in the rows' Gram matrix (or, for
    sets too large to hold it, a kernel over the distinct rows). Equal to kid() up to rounding.
    """

    GRAM_ROWS = 8192  # at most a 512 MB float64 Gram matrix

    def __init__(self, features: np.ndarray, reference: np.ndarray, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE, seed: int = SEED):
        self.f = np.asarray(features, np.float64)
        r = np.asarray(reference, np.float64)
        n = len(self.f)
        self.m = min(subset_size, n, len(r))
        rng = np.random.RandomState(seed)
        self.subsets = []  # (positions in the resample, each row's kernel sum against the reference subset, sum of K_yy off its diagonal)
        for _ in range(subsets):
            positions = rng.choice(n, self.m, replace=False)
            ref_rows = r[rng.choice(len(r), self.m, replace=False)]
            k_yy = _polynomial_kernel(ref_rows, ref_rows)
            self.subsets.append((positions, _polynomial_kernel(self.f, ref_rows).sum(axis=1), k_yy.sum() - np.trace(k_yy)))
        self.gram = _polynomial_kernel(self.f, self.f) if n <= self.GRAM_ROWS else None

    def _sum_xx(self, rows: np.ndarray) -> float:
        """Sum of the kernel over all ordered pairs of positions of `rows`, less the pairs of a position with itself."""
        u, count = np.unique(rows, return_counts=True)
        k = self.gram[np.ix_(u, u)] if self.gram is not None else _polynomial_kernel(self.f[u], self.f[u])
        return float(count @ k @ count - count @ np.diag(k))

    def __call__(self, idx: np.ndarray) -> float:
        m = self.m
        values = []
        for positions, xy, sum_yy in self.subsets:
            rows = np.asarray(idx)[positions]
            values.append((self._sum_xx(rows) + sum_yy) / (m * (m - 1)) - 2 * xy[rows].sum() / (m * m))
        return float(np.mean(values))
