"""What every task is: a pure function from (clean image, setting, generator) to a degraded condition."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

TRAIN = "train"  # the setting name for a draw from the task's training distribution


@dataclass(frozen=True)
class Degraded:
    """A task's output for one image.

    condition: [3, H, W] model-space image given to the model (holes hold N(0, 1) noise).
    mask: [1, H, W] float, 1 where the model must generate pixels, 0 where they are known;
          None for tasks without a mask (colorization, JPEG restoration).
    meta: what was drawn (mask kind, coverage, JPEG quality, ...), JSON-serialisable.
    """

    condition: torch.Tensor
    mask: torch.Tensor | None
    meta: dict = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        """Masked fraction of the image; 1.0 for tasks that change every pixel."""
        return 1.0 if self.mask is None else float(self.mask.mean())


class Task:
    """A degradation of Palette's benchmark. Subclasses set `name`, `eval_sets` and `degrade`."""

    name: str = ""
    eval_sets: tuple[str, ...] = ()
    has_mask: bool = False

    def settings(self) -> tuple[str, ...]:
        """Every setting `degrade` accepts: the evaluation sets and the training draw."""
        return self.eval_sets + (TRAIN,)

    def for_setting(self, setting: str) -> "Task":
        """The task whose inputs `setting` denotes: itself, except for a multi-task model (its member's evaluation sets)."""
        return self

    def check_setting(self, setting: str) -> None:
        if setting not in self.settings():
            raise ValueError(f"task '{self.name}' has no setting '{setting}' (choose from {', '.join(self.settings())})")

    def degrade(self, y0: torch.Tensor, setting: str, generator: torch.Generator) -> Degraded:
        """Degrade the model-space image `y0` [3, H, W] under `setting`, drawing only from `generator`."""
        raise NotImplementedError


def fill_hole(y0: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Palette's inpainting/uncropping input: known pixels kept, the hole filled with N(0, 1) noise (no mask channel)."""
    noise = torch.randn(y0.shape, generator=generator, dtype=y0.dtype)
    return torch.where(mask.bool(), noise, y0)
