"""The four tasks of Palette's benchmark, by name."""

from __future__ import annotations

from palette_bench.tasks.base import TRAIN, Degraded, Task
from palette_bench.tasks.colorization import Colorization
from palette_bench.tasks.inpainting import Inpainting
from palette_bench.tasks.jpeg import JPEGRestoration
from palette_bench.tasks.uncropping import Uncropping

TASKS: dict[str, Task] = {t.name: t for t in (Colorization(), Inpainting(), Uncropping(), JPEGRestoration())}


def get_task(name: str) -> Task:
    """The task called `name`; an unknown name is an error listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}' (choose from {', '.join(TASKS)})")
    return TASKS[name]


__all__ = ["TASKS", "TRAIN", "Degraded", "Task", "get_task"]
