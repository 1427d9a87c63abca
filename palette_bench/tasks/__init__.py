"""The four tasks of Palette's benchmark, by name, and the multi-task model's mix of three of them."""

from __future__ import annotations

from palette_bench.tasks.base import TRAIN, Degraded, Task
from palette_bench.tasks.colorization import Colorization
from palette_bench.tasks.inpainting import Inpainting
from palette_bench.tasks.jpeg import JPEGRestoration
from palette_bench.tasks.multi import MultiTask
from palette_bench.tasks.uncropping import Uncropping

# The tasks with evaluation sets of their own (protocols, Tables 1-4), in the paper's order.
TASKS: dict[str, Task] = {t.name: t for t in (Colorization(), Inpainting(), Uncropping(), JPEGRestoration())}
# Table 7's model: trained on three tasks, evaluated on their sets (it has no protocol section of its
# own); members in Table 7's row order, which is also the order of its evaluation sets.
MULTI = MultiTask((TASKS["jpeg"], TASKS["inpainting"], TASKS["colorization"]))


def task_names() -> list[str]:
    """Every task a model can be trained on: the four tasks, then the multi-task mix."""
    return [*TASKS, MULTI.name]


def get_task(name: str) -> Task:
    """The task called `name`; an unknown name is an error listing the known ones."""
    if name == MULTI.name:
        return MULTI
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}' (choose from {', '.join(task_names())})")
    return TASKS[name]


__all__ = ["MULTI", "TASKS", "TRAIN", "Degraded", "Task", "get_task", "task_names"]
