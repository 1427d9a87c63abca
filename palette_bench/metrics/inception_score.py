"""Inception Score (Salimans et al. 2016) from classifier logits, split as torch-fidelity and TF's IS do."""

from __future__ import annotations

import numpy as np
import torch

SPLITS = 10
SHUFFLE_SEED = 2020  # torch-fidelity's default: rows are permuted with this seed before splitting


def inception_score(logits: np.ndarray, splits: int = SPLITS, shuffle_seed: int | None = SHUFFLE_SEED) -> float:
    """Mean over `splits` chunks of exp(E_x KL(p(y|x) || p(y))), in float64."""
    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    n = len(x)
    if shuffle_seed is not None:
        x = x[np.random.RandomState(shuffle_seed).permutation(n)]
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - q.log())).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores))
