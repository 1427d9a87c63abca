"""`palette-bench panorama`: a panorama by repeated uncropping (Palette, Saharia et al. 2022, Figure 2).

The panorama starts as the input image (S x S) and grows by h = S // 2 columns per extension.
Extension k is one uncropping of an S-wide window: its known part is the S - h columns at the
panorama's edge on that side (the half written before it), its hole the h new columns beyond that
edge, masked as masks.uncrop's "right" or "left" mask (two of the masks the model was trained on)
and filled with N(0, 1) noise as in training (fill_hole). Only the h generated columns are written
into the panorama, which is kept as uint8: the input's pixels and every earlier extension are never
converted back or touched again, so they stay bit-exact in the file.

Direction "both" alternates right, left, right, ...; "right" or "left" extends one side only. After
N extensions the panorama is S rows by S + N h columns, with the input at columns [L h, L h + S),
L the number of left extensions (N // 2 for "both", 0 for "right", N for "left").

Extension k draws its hole noise and its sampler's noise from generators keyed to (seed, k) only,
so the first N extensions of an (N + 1)-extension panorama are exactly the N-extension panorama.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from palette_bench.images import from_uint8, to_uint8
from palette_bench.seeding import generator_for
from palette_bench.tasks import masks
from palette_bench.tasks.base import fill_hole

DIRECTIONS = ("both", "right", "left")
# predict(condition [1, 3, S, S], mask [1, 1, S, S], [generator]) -> [1, 3, S, S] in model space:
# the `predict` of a method's predictor (palette_bench/methods), or any stand-in for it.
Predict = Callable[[torch.Tensor, torch.Tensor, list], torch.Tensor]


@dataclass(frozen=True)
class Extension:
    """One extension: its side, the columns it generated and the known columns its window held ([start, stop))."""

    side: str
    columns: tuple[int, int]
    context: tuple[int, int]


@dataclass(frozen=True)
class Panorama:
    """The panorama (uint8 [3, S, W]), where the input sits in it, and each extension in order."""

    image: torch.Tensor
    input_columns: tuple[int, int]
    extensions: tuple[Extension, ...]


def sides(steps: int, direction: str = "both") -> list[str]:
    """The side of each extension: right, left, right, ... for "both"; one side for "right" or "left"."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown panorama direction '{direction}' (choose from {', '.join(DIRECTIONS)})")
    if steps < 0:
        raise ValueError(f"the number of extensions must be 0 or more, got {steps}")
    if direction == "both":
        return ["right" if k % 2 == 0 else "left" for k in range(steps)]
    return [direction] * steps


def extend(image: torch.Tensor, steps: int, predict: Predict, seed: int = 0, direction: str = "both") -> Panorama:
    """Grow the uint8 square `image` [3, S, S] by `steps` uncroppings of half an image each (see the module docstring)."""
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3 or image.shape[1] != image.shape[2]:
        raise ValueError(f"the panorama's input must be a square uint8 RGB image [3, S, S], got {image.dtype} {list(image.shape)}")
    plan = sides(steps, direction)
    size = image.shape[-1]
    half = size // 2  # the columns masks.uncrop masks: floor(S / 2) at odd sizes
    keep = size - half  # the known columns of each window
    pano = torch.zeros(3, size, size + steps * half, dtype=torch.uint8)
    # Placed where it ends up, so that no column ever moves and every write is of new columns only.
    lo = plan.count("left") * half
    hi = lo + size
    pano[:, :, lo:hi] = image
    input_columns = (lo, hi)
    done = []
    for k, side in enumerate(plan):
        mask = masks.uncrop(size, side)[None].float()
        window = torch.zeros(3, size, size, dtype=torch.uint8)  # the hole's zeros are replaced by noise below
        if side == "right":
            context, new, hole = (hi - keep, hi), (hi, hi + half), slice(keep, size)
            window[:, :, :keep] = pano[:, :, context[0] : context[1]]
        else:
            context, new, hole = (lo, lo + keep), (lo - half, lo), slice(0, half)
            window[:, :, half:] = pano[:, :, context[0] : context[1]]
        condition = fill_hole(from_uint8(window), mask, generator_for("panorama-hole", seed, k))
        out = predict(condition[None], mask[None], [generator_for("panorama-sample", seed, k)])
        pano[:, :, new[0] : new[1]] = to_uint8(out[0, :, :, hole].detach().cpu())
        lo, hi = min(lo, new[0]), max(hi, new[1])
        done.append(Extension(side, new, context))
    return Panorama(pano, input_columns, tuple(done))


def load_image(path: str | Path, size: int) -> tuple[torch.Tensor, dict]:
    """An image file of any size as the panorama's input: its largest centred square, resized (bicubic) to `size`."""
    from palette_bench.data.files import center_square, open_rgb

    img = open_rgb(path)
    source = {"path": str(path), "width": img.size[0], "height": img.size[1], "resize": f"largest centred square, bicubic to {size}x{size}"}
    return center_square(img, size), source


def builtin_image(protocol, task: str, eval_set: str, root=None) -> tuple[torch.Tensor, dict]:
    """Evaluation image 0 of the run's protocol, as its evaluation sees it: works offline on the builtin protocol."""
    from palette_bench.data.evalset import EvalSet

    item = EvalSet(protocol, task, eval_set, n=1, root=root)[0]
    source = {"builtin": f"evaluation image {item.index} of protocol '{protocol.name}', {task}/{eval_set}", "key": item.key}
    return to_uint8(item.image), source


def panorama_run(run_dir, out, steps: int, image=None, seed: int = 0, direction: str = "both", sampler=None, sample_steps=None, schedule=None, device=None, root=None) -> dict:
    """Extend an image with the last checkpoint of an uncropping Palette run; writes OUT (PNG) and OUT.json, returns the latter's record.

    The run's sampling settings are used unless `sampler`, `sample_steps` or `schedule` are given.
    Everything that can be refused is checked before the checkpoint is loaded.
    """
    from palette_bench.io import atomic_write_json, atomic_writer
    from palette_bench.methods import get_method
    from palette_bench.protocols import load_protocol
    from palette_bench.run import finalize, load_run_config
    from palette_bench.train import checkpoints, load_checkpoint

    run_dir, out = Path(run_dir), Path(out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"{out}: the panorama is written as a PNG; give a file name ending in .png")
    sides(steps, direction)
    cfg = finalize(load_run_config(run_dir))
    if cfg.task != "uncropping":
        raise ValueError(f"{run_dir}: a panorama needs an uncropping run, not a run of task '{cfg.task}'")
    method = get_method(cfg.method)
    if not method.stochastic:
        raise ValueError(f"{run_dir}: a panorama needs a diffusion run (method palette), not method '{cfg.method}'")
    found = checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"{run_dir / 'checkpoints'}: no checkpoint to sample from (run --stage train first)")
    given = {"sampler": sampler, "steps": sample_steps, "schedule": schedule}
    cfg = replace(cfg, sample=replace(cfg.sample, **{k: v for k, v in given.items() if v is not None}))
    protocol = load_protocol(cfg.protocol).with_size(cfg.image_size or None)
    size = protocol.image_size
    pixels, source = load_image(image, size) if image is not None else builtin_image(protocol, cfg.task, cfg.eval_set, root)

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    state = load_checkpoint(found[-1], device)
    result = extend(pixels, steps, method.predictor(cfg, state, device).predict, seed, direction)

    from PIL import Image

    with atomic_writer(out) as f:
        Image.fromarray(result.image.permute(1, 2, 0).numpy()).save(f, format="PNG")
    s = cfg.sample
    record = {
        "run": str(run_dir),
        "checkpoint": found[-1].name,
        "step": state["step"],
        "extensions": steps,
        "direction": direction,
        "seed": seed,
        "sample": {"sampler": s.sampler, "steps": s.steps, "schedule": s.schedule, "eta": s.eta, "churn": s.churn, "use_ema": s.use_ema},
        "parameterization": cfg.diffusion.parameterization,
        "device": str(device),
        "input": source,
        "image_size": size,
        "width": result.image.shape[-1],
        "height": size,
        # column ranges are [start, stop) from the panorama's left edge
        "known": [list(result.input_columns)],
        "generated": [{"side": e.side, "columns": list(e.columns), "context": list(e.context)} for e in result.extensions],
    }
    # after the PNG, so that a sidecar always describes a complete image
    atomic_write_json(out.with_suffix(".json"), record)
    return record


__all__ = ["DIRECTIONS", "Extension", "Panorama", "builtin_image", "extend", "load_image", "panorama_run", "sides"]
