"""Palette's perceptual distance PD: Euclidean distance between an output and its original in Inception pool_3 features."""

from __future__ import annotations

import numpy as np


def perceptual_distance(features: np.ndarray, original_features: np.ndarray) -> np.ndarray:
    """Per-input ||f(output) - f(original)||_2 for paired [N, D] feature matrices (the metric is their mean)."""
    a, b = np.asarray(features, np.float64), np.asarray(original_features, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"PD needs paired features, got shapes {a.shape} and {b.shape}")
    return np.linalg.norm(a - b, axis=1)
