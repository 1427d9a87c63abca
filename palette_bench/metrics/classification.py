"""Classification accuracy CA: top-k accuracy of a pretrained classifier on the outputs, against the originals' labels."""

from __future__ import annotations

import numpy as np


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-input 1.0 when the label is among the k highest logits, else 0.0."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1).astype(np.float64)
