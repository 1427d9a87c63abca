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
