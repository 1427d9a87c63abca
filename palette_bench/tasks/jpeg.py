"""JPEG restoration: the condition is the image after a JPEG encode/decode round trip at quality Q."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from palette_bench.images import from_uint8, to_uint8
from palette_bench.tasks.base import TRAIN, Degraded, Task

TRAIN_QUALITIES = torch.arange(5, 31)
# Palette trains on Q in [5, 30] with P(Q) proportional to exp(-Q/10): more weight on heavy compression.
TRAIN_PROBS = torch.exp(-TRAIN_QUALITIES.double() / 10) / torch.exp(-TRAIN_QUALITIES.double() / 10).sum()


def jpeg_round_trip(rgb_uint8: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode a uint8 [3, H, W] image with PIL's JPEG encoder (default 4:2:0 chroma subsampling) and decode it."""
    buf = io.BytesIO()
    Image.fromarray(rgb_uint8.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1)


def draw_quality(generator: torch.Generator) -> int:
    """A training quality factor: Q in [5, 30] with P(Q) proportional to exp(-Q/10)."""
    return int(TRAIN_QUALITIES[torch.multinomial(TRAIN_PROBS, 1, generator=generator)].item())


class JPEGRestoration(Task):
    name = "jpeg"
    eval_sets = ("q5", "q10", "q20")
    has_mask = False

    def degrade(self, y0, setting, generator):
        self.check_setting(setting)
        quality = draw_quality(generator) if setting == TRAIN else int(setting[1:])
        decoded = jpeg_round_trip(to_uint8(y0), quality)
        return Degraded(condition=from_uint8(decoded), mask=None, meta={"quality": quality})
