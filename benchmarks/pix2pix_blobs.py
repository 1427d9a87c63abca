"""Count saturated blobs in methods' outputs: the GAN artifact that pix2pix showed on JPEG restoration.

A blob pixel is a saturated one (every channel within SATURATED levels of 0 or 255: black, white,
or a pure primary or secondary colour such as the blobs' magenta rim) that is more than JUMP levels
from the original in some channel: a restoration or a blurred or noisy output does not produce it. An output has a blob when it holds at least
MIN_PIXELS such pixels. The fraction of outputs with a blob gets a 95% bootstrap interval over inputs,
and two runs on the same inputs a paired interval of the difference.

    python benchmarks/pix2pix_blobs.py RUN_DIR [RUN_DIR ...] [--out results/pix2pix-blobs/blobs.md]

Each RUN_DIR's newest evaluation folder is read (its `samples/`), and the protocol's originals of
the same inputs are rendered from the run's config.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from palette_bench.data.evalset import EvalSet
from palette_bench.data.predictions import sample_filename
from palette_bench.protocols import load_protocol

JUMP = 96  # levels from the original, in the channel that differs most
SATURATED = 24  # within this many levels of 0 or 255, in every channel
MIN_PIXELS = 2
REPLICATES = 2000


def blob_pixels(out: np.ndarray, orig: np.ndarray) -> np.ndarray:
    """Per output, the number of blob pixels; out and orig uint8 [N, H, W, 3]."""
    o, g = out.astype(np.int16), orig.astype(np.int16)
    far = (np.abs(o - g) > JUMP).any(axis=-1)
    saturated = ((o <= SATURATED) | (o >= 255 - SATURATED)).all(axis=-1)
    return (far & saturated).sum(axis=(1, 2))


def run_outputs(run: Path) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(label, evaluation indices, outputs, originals) of a run's newest evaluation."""
    cfg = json.loads((run / "config.json").read_text())
    evals = sorted((p for p in (run / "eval").iterdir() if (p / "samples").is_dir()), key=lambda p: p.stat().st_mtime)
    samples = evals[-1] / "samples"
    protocol = load_protocol(cfg["protocol"]).with_size(cfg["image_size"] or None)
    es = EvalSet(protocol, cfg["task"], cfg["eval_set"])
    positions = es.positions[: cfg["sample"]["n"] or None]
    outs, origs = [], []
    for i in positions:  # a position is also the input's evaluation index, which names its output
        outs.append(np.asarray(Image.open(samples / sample_filename(i, 0)).convert("RGB")))
        origs.append(es.source[i].image.permute(1, 2, 0).numpy())
    return cfg["name"], np.asarray(positions), np.stack(outs), np.stack(origs)


def interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    idx = np.random.default_rng(seed).integers(0, len(values), (REPLICATES, len(values)))
    means = values[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows, flags = [], {}
    for run in args.runs:
        name, _, out, orig = run_outputs(run)
        counts = blob_pixels(out, orig)
        has = (counts >= MIN_PIXELS).astype(np.float64)
        flags[run.name] = has
        lo, hi = interval(has)
        rows.append(f"| {run.name} | {len(has)} | {has.mean():.1%} [{lo:.1%}, {hi:.1%}] | {counts.mean():.2f} | {int(counts.max())} |")
    lines = [
        f"Outputs with a saturated blob (>= {MIN_PIXELS} pixels with every channel within {SATURATED} levels of 0 or 255 and one > {JUMP} levels from the original), 95% bootstrap intervals over inputs:",
        "",
        "| run | outputs | with a blob | blob pixels per output | most in one output |",
        "|---|---|---|---|---|",
        *rows,
    ]
    names = list(flags)
    if len(names) > 1 and len({len(v) for v in flags.values()}) == 1:
        lines += ["", f"Paired against {names[0]} (same inputs), difference in the fraction with a blob:", ""]
        for other in names[1:]:
            d = flags[other] - flags[names[0]]
            lo, hi = interval(d)
            lines.append(f"- {other}: {d.mean():+.1%} [{lo:+.1%}, {hi:+.1%}]")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
