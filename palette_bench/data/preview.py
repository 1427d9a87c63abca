"""A PNG grid of original | condition | mask rows for a quick look at an evaluation set."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid

from palette_bench.data.evalset import EvalSet, iterate
from palette_bench.images import save_png


def preview_grid(evalset: EvalSet, out: str | Path, n: int = 16, columns: int = 4) -> int:
    """Write `columns` triplets per row (original, condition, mask; white = to generate) for the first `n` inputs."""
    tiles = []
    for batch in iterate(evalset, batch_size=n):
        for j in range(len(batch["index"])):
            mask = torch.ones(1, *batch["image"].shape[-2:]) if batch["mask"] is None else batch["mask"][j]
            tiles += [batch["image"][j], batch["condition"][j].clamp(-1, 1), (mask * 2 - 1).expand(3, -1, -1)]
        if len(tiles) >= 3 * n:
            break
    if not tiles:
        raise ValueError("nothing to preview: the evaluation set is empty")
    grid = make_grid(torch.stack(tiles[: 3 * n]), nrow=3 * columns, padding=2, pad_value=1.0)
    save_png(out, grid)
    return len(tiles[: 3 * n]) // 3
