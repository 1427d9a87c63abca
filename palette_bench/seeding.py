"""Randomness keyed to what a draw is for, never to batch position or process rank.

Every evaluation condition and every sample draws from its own generator whose seed is a stable
hash of its identity (protocol, task, evaluation set, image index, seed, ...), so results are the
same for any batch size, any order and any number of processes.
"""

from __future__ import annotations

import hashlib

import torch


def stable_seed(*parts) -> int:
    """A 63-bit seed from the string forms of `parts` (sha256; Python's `hash` is salted per process)."""
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 63) - 1)


def generator_for(*parts) -> torch.Generator:
    """A CPU torch.Generator seeded by `stable_seed(*parts)`."""
    g = torch.Generator()
    g.manual_seed(stable_seed(*parts))
    return g


def uniform(g: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    """One float drawn uniformly from [low, high)."""
    return low + (high - low) * torch.rand((), generator=g, dtype=torch.float64).item()


def randint(g: torch.Generator, low: int, high: int) -> int:
    """One integer drawn uniformly from [low, high] (both ends included)."""
    return int(torch.randint(low, high + 1, (), generator=g).item())


def normal(g: torch.Generator, mean: float = 0.0, std: float = 1.0) -> float:
    """One float drawn from N(mean, std^2)."""
    return mean + std * torch.randn((), generator=g, dtype=torch.float64).item()
