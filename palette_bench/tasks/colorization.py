"""Colorization: the condition is the grayscale (luma) image replicated to 3 RGB channels (Palette uses RGB, not LAB)."""

from __future__ import annotations

import torch

from palette_bench.images import from_uint8, to_uint8
from palette_bench.tasks.base import Degraded, Task


def luma(rgb_uint8: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of a uint8 [3, H, W] image, rounded to 8 bits exactly as PIL's convert('L')."""
    r, g, b = rgb_uint8.to(torch.int64)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)


class Colorization(Task):
    name = "colorization"
    eval_sets = ("gray",)
    has_mask = False

    def degrade(self, y0, setting, generator):
        """The same deterministic grayscale for evaluation and training: nothing is drawn."""
        self.check_setting(setting)
        gray = luma(to_uint8(y0))
        return Degraded(condition=from_uint8(gray.expand(3, -1, -1)), mask=None, meta={})
