"""Multi-task Palette (paper Table 7): one model trained on colorization, inpainting and JPEG restoration.

Each training example draws its task uniformly, then that task's own training degradation, from
the example's generator, so the three tasks share one step budget. Evaluation is the member
task's: an evaluation set names its task (gray, center, q5, ...), and `for_setting` hands the set
to that task, so the multi-task model and the task-specific one are given identical inputs.
"""

from __future__ import annotations

import torch

from palette_bench.seeding import randint
from palette_bench.tasks.base import TRAIN, Degraded, Task


class MultiTask(Task):
    name = "multi"
    # every training draw carries a mask (all ones for colorization and JPEG), so that a batch of
    # mixed tasks stacks; evaluation sets keep their member's (none for gray and q5)
    has_mask = True

    def __init__(self, members: tuple[Task, ...]):
        self.members = members
        self.eval_sets = tuple(s for m in members for s in m.eval_sets)
        if len(set(self.eval_sets)) != len(self.eval_sets):
            raise ValueError(f"multi-task members share an evaluation set name: {', '.join(self.eval_sets)}")

    def for_setting(self, setting: str) -> Task:
        """The member task that owns evaluation set `setting`; the training draw is the multi-task's own."""
        self.check_setting(setting)
        if setting == TRAIN:
            return self
        return next(m for m in self.members if setting in m.eval_sets)

    def degrade(self, y0, setting, generator):
        if setting != TRAIN:
            return self.for_setting(setting).degrade(y0, setting, generator)
        member = self.members[randint(generator, 0, len(self.members) - 1)]
        d = member.degrade(y0, TRAIN, generator)
        # colorization and JPEG change every pixel: an all-ones mask, under which the masked loss is the plain mean
        mask = torch.ones_like(y0[:1]) if d.mask is None else d.mask
        return Degraded(condition=d.condition, mask=mask, meta={"task": member.name, **d.meta})
