"""Inpainting: a hole filled with Gaussian noise; the model sees no mask channel (Palette, Sec. 4.2)."""

from __future__ import annotations

from palette_bench.seeding import uniform
from palette_bench.tasks import masks
from palette_bench.tasks.base import TRAIN, Degraded, Task, fill_hole

# Free-form evaluation sets: masks whose coverage lies in the named bin.
FREE_FORM_BINS = {"ff10-20": (0.10, 0.20), "ff20-30": (0.20, 0.30), "ff30-40": (0.30, 0.40)}
FREE_FORM_TRAIN_FRACTION = 0.6  # Palette trains on 60% free-form masks and 40% boxes


class Inpainting(Task):
    name = "inpainting"
    eval_sets = ("ff10-20", "ff20-30", "ff30-40", "center")
    has_mask = True

    def degrade(self, y0, setting, generator):
        self.check_setting(setting)
        size = y0.shape[-1]
        if setting == TRAIN:
            kind = "free-form" if uniform(generator) < FREE_FORM_TRAIN_FRACTION else "boxes"
            mask = masks.free_form(size, generator) if kind == "free-form" else masks.boxes(size, generator)
        elif setting == "center":
            kind, mask = "center", masks.center(size)
        else:
            kind, mask = "free-form", masks.free_form_in_bin(size, generator, *FREE_FORM_BINS[setting])
        mask = mask[None].float()
        return Degraded(condition=fill_hole(y0, mask, generator), mask=mask, meta={"mask_kind": kind})
