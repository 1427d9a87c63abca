"""Inception Score of bootstrap resamples of one set of logits, without recomputing a softmax per resample.

inception_score() permutes the rows (seed 2020) and splits them into 10 chunks; chunk c scores
exp(mean_{x in c} KL(p(y|x) || q_c)), q_c the chunk's mean p(y|x). Since
KL(p || q) = sum_y p log p - sum_y p log q and q_c is the mean of the p in the chunk,
mean_{x in c} KL(p(y|x) || q_c) = mean_{x in c} h(x) - sum_y q_c log q_c, with h(x) = sum_y p log p.
So p and h are computed once per set, and a resample only gathers and averages its rows: the same
number as inception_score on the resampled logits (tested to 1e-12 relative) at a fraction of the
cost (a softmax and a log-softmax of every resampled row otherwise).
"""

from __future__ import annotations

import numpy as np
import torch

from palette_bench.metrics.inception_score import SHUFFLE_SEED, SPLITS


class ResampledInceptionScore:
    """inception_score(logits[idx]) for row indices idx, as `palette_bench.metrics.kid.ResampledKID` is for KID."""

    def __init__(self, logits: np.ndarray, splits: int = SPLITS, shuffle_seed: int | None = SHUFFLE_SEED):
        x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
        log_p = x.log_softmax(dim=1)
        self.p = log_p.exp().numpy()
        self.h = (log_p.exp() * log_p).sum(dim=1).numpy()
        self.splits, self.shuffle_seed = splits, shuffle_seed

    def __call__(self, idx: np.ndarray) -> float:
        n = len(idx)
        rows = idx if self.shuffle_seed is None else idx[np.random.RandomState(self.shuffle_seed).permutation(n)]
        scores = []
        for i in range(self.splits):
            chunk = rows[i * n // self.splits : (i + 1) * n // self.splits]
            q = self.p[chunk].mean(axis=0)
            scores.append(np.exp(self.h[chunk].mean() - q @ np.log(q)))
        return float(np.mean(scores))
