"""Conversions between stored images (uint8) and the model space ([-1, 1] float, CHW).

Palette works on images scaled to [-1, 1]; files on disk are 8-bit RGB. Every stage converts
through these two functions so that a round trip is exact for 8-bit data.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image


def from_uint8(x) -> torch.Tensor:
    """uint8 HWC array/tensor (or CHW tensor) -> float32 CHW tensor in [-1, 1]."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if t.ndim == 3 and t.shape[-1] == 3 and t.shape[0] != 3:
        t = t.permute(2, 0, 1)
    return t.to(torch.float32) / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Model-space tensor (..., C, H, W) in [-1, 1] -> uint8 tensor, rounded to the nearest level."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_pil(x: torch.Tensor) -> Image.Image:
    """Model-space CHW tensor -> PIL RGB (or L for one channel) image."""
    a = to_uint8(x).permute(1, 2, 0).numpy()
    return Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)


def save_png(path: str | os.PathLike, x: torch.Tensor) -> None:
    """Write a model-space CHW tensor as an 8-bit PNG, atomically."""
    from palette_bench.io import atomic_writer

    with atomic_writer(path) as f:
        to_pil(x).save(f, format="PNG")
