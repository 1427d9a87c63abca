"""Uncropping: half of the image masked along one side or all four borders, filled with Gaussian noise."""

from __future__ import annotations

from palette_bench.seeding import randint
from palette_bench.tasks import masks
from palette_bench.tasks.base import TRAIN, Degraded, Task, fill_hole


class Uncropping(Task):
    name = "uncropping"
    eval_sets = ("right",)  # Palette evaluates extending the right half
    has_mask = True

    def degrade(self, y0, setting, generator):
        self.check_setting(setting)
        # Training draws uniformly among the four sides and the frame; the masked area is always 50%.
        side = masks.SIDES[randint(generator, 0, len(masks.SIDES) - 1)] if setting == TRAIN else setting
        mask = masks.uncrop(y0.shape[-1], side)[None].float()
        return Degraded(condition=fill_hole(y0, mask, generator), mask=mask, meta={"mask_kind": side})
