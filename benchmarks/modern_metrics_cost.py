"""What each metric beyond the paper costs per 1,000 images, beside FID's own cost on the same features.

Usage: python benchmarks/modern_metrics_cost.py [--images 16] [--n 1000] [--out FILE.json]

- the feature networks: DINOv2 ViT-L/14 at 224 px and CLIP ViT-L/14 at 336 px, the real
  architectures (timm) with random weights, timed on a batch of --images 32-px images and scaled
  to 1,000, against the builtin judge's pass on the same batch;
- the metrics on ready features at n = --n against a reference of the same size: FD (1,024-d, as
  DINOv2's), CMMD (768-d unit vectors, as CLIP's), PRDC (judge features), SWD (descriptors of
  builtin 32-px images and their metric), each beside FID at 2,048 dimensions;
- one bootstrap replicate of each.
Every figure is a ratio to a peer measured in the same process, and the absolute seconds are
printed with the machine's core count, so that a slower machine scales them.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch


def timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up: first-call allocations and lazy imports are not the steady cost
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import timm

    from palette_bench.data.builtin import render
    from palette_bench.metrics import swd as swd_lib
    from palette_bench.metrics.cmmd import ResampledCMMD
    from palette_bench.metrics.fid import FrechetToReference, statistics
    from palette_bench.metrics.judge import JudgeConfig, load_judge
    from palette_bench.metrics.prdc import ResampledPRDC

    rows = {}
    images = torch.stack([torch.from_numpy(render("test", i, 32)[0]).permute(2, 0, 1) for i in range(args.images)])
    per_1000 = 1000 / args.images
    judge, _ = load_judge(JudgeConfig(), progress=False)
    judge.eval()
    with torch.no_grad():
        t_judge = timed(lambda: judge(images))
        rows["judge pass"] = t_judge * per_1000
        for name, model_name, size in (("DINOv2 ViT-L/14 pass", "vit_large_patch14_dinov2", 224), ("CLIP ViT-L/14@336 pass", "vit_large_patch14_clip_quickgelu_336", 336)):
            model = timm.create_model(model_name, pretrained=False, img_size=size, num_classes=0).eval()
            x = torch.nn.functional.interpolate(images.float() / 255, size=(size, size), mode="bicubic")
            rows[name] = timed(lambda: model(x)) * per_1000
            del model

    rng = np.random.default_rng(0)
    n = args.n
    f2048, r2048 = rng.standard_normal((n, 2048)), rng.standard_normal((n, 2048))
    fid = FrechetToReference(*statistics(r2048))
    rows["FID (2048-d)"] = timed(lambda: fid(f2048))
    f1024, r1024 = rng.standard_normal((n, 1024)), rng.standard_normal((n, 1024))
    fd = FrechetToReference(*statistics(r1024))
    rows["FD_DINOv2 (1024-d)"] = timed(lambda: fd(f1024))
    rows["FD_DINOv2 replicate"] = timed(lambda: fd.fast(f1024[rng.integers(0, n, n)]), 3)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    c, cr = unit(rng.standard_normal((n, 768))), unit(rng.standard_normal((n, 768)))
    rows["CMMD (768-d)"] = timed(lambda: ResampledCMMD(c, cr)(np.arange(n)))
    stat = ResampledCMMD(c, cr)
    rows["CMMD replicate"] = timed(lambda: stat(rng.integers(0, n, n)), 5)
    j, jr = rng.standard_normal((n, 512)), rng.standard_normal((n, 512))
    rows["PRDC, all four (512-d)"] = timed(lambda: ResampledPRDC(jr, j)(np.arange(n)))
    prdc = ResampledPRDC(jr, j)
    rows["PRDC replicate"] = timed(lambda: prdc(rng.integers(0, n, n)), 5)
    many = torch.stack([torch.from_numpy(render("test", i, 32)[0]).permute(2, 0, 1) for i in range(min(n, 200))])
    t_desc = timed(lambda: swd_lib.descriptors(many, range(len(many))))
    rows["SWD descriptors"] = 2 * t_desc * n / len(many)  # outputs and originals
    reps = -(-n // len(many))
    d = np.concatenate([swd_lib.descriptors(many, range(len(many)))] * reps)[:n]
    e = np.concatenate([swd_lib.descriptors(many.flip(-1), range(len(many)))] * reps)[:n]
    rows["SWD distance"] = timed(lambda: swd_lib.swd(d, e))
    sw = swd_lib.ResampledSWD(d.astype(np.float16).astype(np.float32), e.astype(np.float16).astype(np.float32))
    rows["SWD replicate"] = timed(lambda: sw(rng.integers(0, n, n)), 3)

    out = {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "n": n, "seconds": rows, "ratio_to_fid": {k: v / rows["FID (2048-d)"] for k, v in rows.items()}, "ratio_to_judge_pass": {k: v / rows["judge pass"] for k, v in rows.items() if k.endswith("pass")}}
    for k, v in rows.items():
        print(f"{k:<26} {v:9.2f} s per {n if 'pass' not in k else 1000} images")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
