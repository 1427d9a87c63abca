"""Precision and recall (Kynkäänniemi et al. 2019, k = 3), density and coverage (Naeem et al. 2020, k = 5).

Each real or generated feature vector owns a ball reaching to its k-th nearest neighbour in its
own set. Precision: the share of generated points inside some real ball (fidelity). Recall: the
share of real points inside some generated ball (diversity). Density: how many real balls hold a
generated point, on average, divided by k (fidelity that counts, ~1 when the sets match).
Coverage: the share of real points whose ball holds a generated point (diversity that cannot be
inflated by a few outliers with huge balls).

The definitions follow the reference code to the comparison operator: torch-fidelity's `prc`
(`<=`, the k-th neighbour excluding the point itself) for precision and recall, Naeem et al.'s
`prdc` package (`<`) for density and coverage; tests check agreement on the same features.
Written here rather than called because a bootstrap interval needs the metric on hundreds of
resamples of the generated set: `ResampledPRDC` computes the distances once and each replicate
is then a few look-ups (the libraries would recompute every distance each time).

The real set is a fixed subset of the reference features with as many rows as the evaluated set
(`real_subset`), as in both papers, whose real and generated sets have equal size: precision and
recall of a k-NN ball depend on how many points the sets hold.
"""

from __future__ import annotations

import numpy as np

K_PRECISION_RECALL = 3  # Kynkäänniemi et al. 2019
K_DENSITY_COVERAGE = 5  # Naeem et al. 2020
METRICS = ("precision", "recall", "density", "coverage")
SUBSET_SEED = 2019  # which reference rows make the real set: fixed, so every method meets the same one


def real_subset(n_reference: int, n: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Sorted indices of min(n, n_reference) reference rows, the same for every evaluation of n inputs."""
    if n >= n_reference:
        return np.arange(n_reference)
    return np.sort(np.random.default_rng(seed).choice(n_reference, n, replace=False))


def pairwise_distances(a: np.ndarray, b: np.ndarray, block: int = 2048) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] in float64, by blocks of rows."""
    same = a is b
    a = np.asarray(a, np.float64)
    b = a if same else np.asarray(b, np.float64)
    out = np.empty((len(a), len(b)))
    bb = (b * b).sum(axis=1)
    for start in range(0, len(a), block):
        x = a[start : start + block]
        # the expansion |x|^2 + |y|^2 - 2 x.y, as sklearn (prdc) and torch.cdist (torch-fidelity) compute it
        d2 = (x * x).sum(axis=1)[:, None] + bb[None] - 2 * x @ b.T
        out[start : start + block] = np.sqrt(np.clip(d2, 0, None))
    if a is b:
        np.fill_diagonal(out, 0.0)  # a point's distance to itself, exactly
    return out


def kth_neighbour_radius(d_self: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest neighbour in its own set, the point itself (distance 0) excluded."""
    return np.partition(d_self, k, axis=1)[:, k]


def prdc(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """The four metrics of `fake` against `real` ([N, D] feature arrays)."""
    return ResampledPRDC(real, fake)(np.arange(len(fake)))


class ResampledPRDC:
    """prdc(real, fake[idx]) for many resamples `idx` of the generated rows; the real set stays fixed.

    Distances are computed once: real-real (for the real balls), real-fake, fake-fake. Precision and
    density are means of per-generated-point values; coverage asks, per real point, whether any
    drawn generated point lies in its ball; recall needs each drawn point's ball among the drawn
    points, counted with multiplicity as the library would on the resampled rows (a point drawn twice
    is its own nearest neighbour at distance 0, which shrinks its ball: the bootstrap's usual bias
    for set-level metrics, which bootstrap.percentile_interval's shift corrects).
    """

    def __init__(self, real: np.ndarray, fake: np.ndarray):
        real = np.asarray(real, np.float64)
        fake = np.asarray(fake, np.float64)
        if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
            raise ValueError(f"precision/recall/density/coverage need [N, D] features of one dimension, got {real.shape} and {fake.shape}")
        k_max = max(K_PRECISION_RECALL, K_DENSITY_COVERAGE)
        if len(real) <= k_max or len(fake) <= k_max:
            raise ValueError(f"precision/recall/density/coverage need more than {k_max} real and generated points, got {len(real)} and {len(fake)}")
        d_rr = pairwise_distances(real, real)
        self.d_rf = pairwise_distances(real, fake)
        self.d_ff = pairwise_distances(fake, fake)
        r_pr = kth_neighbour_radius(d_rr, K_PRECISION_RECALL)
        r_dc = kth_neighbour_radius(d_rr, K_DENSITY_COVERAGE)
        self.in_real_ball = (self.d_rf <= r_pr[:, None]).any(axis=0)  # per generated point (torch-fidelity's <=)
        inside_dc = self.d_rf < r_dc[:, None]  # prdc's strict <
        self.density_count = inside_dc.sum(axis=0) / K_DENSITY_COVERAGE
        self.covers = inside_dc  # [real, fake]: does generated j lie in real i's ball

    def __call__(self, idx: np.ndarray) -> dict[str, float]:
        idx = np.asarray(idx)
        unique, counts = np.unique(idx, return_counts=True)
        # k-th neighbour among the drawn multiset: distances to each distinct drawn point, repeated by its count
        d = self.d_ff[np.ix_(unique, unique)]
        k = K_PRECISION_RECALL
        order = np.argsort(d, axis=1)
        sorted_d = np.take_along_axis(d, order, axis=1)
        cum = np.cumsum(counts[order], axis=1)
        # the (k+1)-th smallest with multiplicity (the point itself is one of them, at distance 0)
        pos = (cum >= k + 1).argmax(axis=1)
        radius = sorted_d[np.arange(len(unique)), pos]
        recall = float((self.d_rf[:, unique] <= radius[None]).any(axis=1).mean())
        return {
            "precision": float(self.in_real_ball[idx].mean()),
            "recall": recall,
            "density": float(self.density_count[idx].mean()),
            "coverage": float(self.covers[:, unique].any(axis=1).mean()),
        }
