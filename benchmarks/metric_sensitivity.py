"""What the builtin protocol's metrics can see: hand-made uncropping fills, from the truth to nonsense, scored by each.

Usage: python benchmarks/metric_sensitivity.py [--n 500] [--size 32] [--out results/metric-sensitivity] [--judge-readout multiscale]

Every fill changes only the hidden right half of `uncropping/right`; the left half is the original.
The ladder has three rungs of three kinds of damage, each a known failure of a generator, and
three fills that are not the picture at all:
- blur (Gaussian, sigma 1, 2, 3 px): a regression model's mean-seeking output;
- noise (Gaussian, sigma 8, 24, 64 grey levels, clipped): an under-trained sampler's texture;
- quantisation to 8, 4 and 2 grey levels per channel: banding and lost gradation;
- the left half mirrored (plausible, wrong), its flat mean colour, saturated colour noise.
Each fill is evaluated like a method's outputs (FID, PD and LPIPS in the judge's features, SWD on
pixels, precision/recall/density/coverage in the judge's features), with 95% intervals; a table
and a JSON file are written to --out. A paired comparison of each fill with "original" says
which damage each metric detects beyond resampling noise.

`--judge-readout multiscale` tries a change to the judge that needs no retraining: its features
(FID, PD, PRDC) become the global averages of all four stage maps (32 + 64 + 128 + 256 = 480-d)
instead of the last stage's alone, so that the early stages' edge responses, which blur weakens,
enter the feature space.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

METRICS = ("fid", "pd", "lpips", "swd", "precision", "recall", "density", "coverage")


def fills(original: torch.Tensor, mask: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """uint8 [N, 3, H, W] outputs for every rung of the ladder, equal to `original` where `mask` is 0."""
    from torchvision.transforms.functional import gaussian_blur

    g = torch.Generator().manual_seed(seed)
    x = original.float()
    w = x.shape[-1]
    left = x[..., : w // 2]
    made = {"original": x}
    for sigma in (1, 2, 3):
        k = 2 * int(np.ceil(3 * sigma)) + 1
        made[f"blur sigma {sigma}"] = gaussian_blur(x, [k, k], [float(sigma)] * 2)
    for sigma in (8, 24, 64):
        made[f"noise sigma {sigma}"] = x + sigma * torch.randn(x.shape, generator=g)
    for levels in (8, 4, 2):
        step = 255 / (levels - 1)
        made[f"{levels} grey levels"] = torch.round(x / step) * step
    made["mirrored left half"] = torch.cat([left, left.flip(-1)], dim=-1)
    made["flat mean colour"] = left.mean(dim=(2, 3), keepdim=True).expand_as(x)
    made["saturated colour noise"] = (torch.rand(x.shape, generator=g) > 0.5).float() * 255
    m = mask.float()
    return {name: (m * y + (1 - m) * x).round().clamp(0, 255).to(torch.uint8) for name, y in made.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--bootstrap", type=int, default=100, help="replicates of each fill's own intervals")
    ap.add_argument("--replicates", type=int, default=300, help="paired replicates of each fill against the original")
    ap.add_argument("--metrics", default=",".join(METRICS), help="a subset of " + ",".join(METRICS))
    ap.add_argument("--out", default="results/metric-sensitivity")
    ap.add_argument("--judge-readout", choices=("pool", "multiscale"), default="pool")
    args = ap.parse_args()
    if args.judge_readout == "multiscale":
        multiscale_judge()
    metrics = tuple(m for m in args.metrics.split(",") if m)

    from palette_bench.compare import compare
    from palette_bench.data.evalset import EvalSet
    from palette_bench.data.predictions import sample_filename
    from palette_bench.evaluate import EvalOptions, evaluate_protocol
    from palette_bench.images import to_uint8
    from palette_bench.io import atomic_write_json
    from palette_bench.protocols import load_protocol
    from PIL import Image

    proto = load_protocol("builtin").with_size(args.size)
    es = EvalSet(proto, "uncropping", "right", n=args.n)
    items = [es[k] for k in range(len(es))]
    original = torch.stack([to_uint8(it.image) for it in items])
    mask = torch.stack([it.degraded.mask for it in items])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="metric-sensitivity-"))
    rows, folders = [], {}
    try:
        for name, images in fills(original, mask).items():
            folder = work / name.replace(" ", "-")
            (folder / "samples").mkdir(parents=True)
            for it, img in zip(items, images):
                Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / "samples" / sample_filename(it.index))
            start = time.perf_counter()
            opts = EvalOptions(metrics=metrics, bootstrap=args.bootstrap, progress=False)
            result = evaluate_protocol(proto, "uncropping", "right", folder / "samples", opts, n=args.n, arrays_out=folder / "eval_arrays.npz")
            atomic_write_json(folder / "metrics.json", result)
            folders[name] = folder
            row = {"fill": name, "seconds": time.perf_counter() - start}
            for metric in metrics:
                m = result["metrics"][metric]
                row[metric], row[metric + "_ci"] = m["value"], m["ci95"]
            rows.append(row)
            print(f"{name:<24} " + "  ".join(f"{k} {row[k]:.4g}" for k in metrics), flush=True)
        for row in rows:  # which damage each metric detects: the paired interval against the original fill
            if row["fill"] == "original":
                continue
            r = compare(folders[row["fill"]], folders["original"], metrics, replicates=args.replicates)
            for metric in metrics:
                got = r["metrics"][metric]
                row[metric + "_vs_original"] = {"difference": got["difference"], "ci95": got["ci95"], "verdict": got["verdict"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    atomic_write_json(out / "sensitivity.json", {"n": args.n, "size": args.size, "task": "uncropping/right", "judge_readout": args.judge_readout, "metrics": list(metrics), "replicates": args.replicates, "rows": rows})
    (out / "sensitivity.md").write_text(markdown(rows, args.n, metrics, args.judge_readout, args.replicates))
    print(f"written: {out / 'sensitivity.md'}, {out / 'sensitivity.json'}")


def multiscale_judge() -> None:
    """Make every judge in this process read out the global average of each stage map, concatenated."""
    from palette_bench.metrics import extractors as ex

    original_init, original_call = ex.Judge.__init__, ex.Judge.__call__

    def init(self, model, sha256, device="cpu"):
        original_init(self, model, sha256, device)
        self.info = {**self.info, "extractor": self.info["extractor"] + " [multiscale readout: GAP of all four stages]"}

    def call(self, images, maps=False):
        out = original_call(self, images, maps=True)
        out["pool"] = torch.cat([m.mean(dim=(2, 3)) for m in out["maps"]], dim=1).double().cpu()
        if not maps:
            out.pop("maps")
        return out

    ex.Judge.__init__, ex.Judge.__call__ = init, call


def markdown(rows: list[dict], n: int, metrics, readout: str, replicates: int) -> str:
    header = "| fill | " + " | ".join(metrics) + " |\n|" + "---|" * (len(metrics) + 1) + "\n"
    lines = []
    for row in rows:
        cells = []
        for metric in metrics:
            cell = f"{row[metric]:.3g}"
            vs = row.get(metric + "_vs_original")
            if vs and vs["verdict"] != "cannot decide":
                cell += " *"  # differs from the original fill beyond resampling noise, paired
            cells.append(cell)
        lines.append(f"| {row['fill']} | " + " | ".join(cells) + " |")
    return (
        f"Uncropping `right`, builtin protocol, 32 px, n = {n}; only the right half is changed. "
        f"FID, PD, LPIPS and PRDC in the builtin judge's features ({readout} readout); SWD on Laplacian-pyramid patches (x 1000). "
        f"`*`: differs from the original fill, paired 95% interval excluding 0 ({replicates} replicates).\n\n" + header + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
