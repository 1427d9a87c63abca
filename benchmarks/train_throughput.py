"""Training and sampling throughput of a preset's U-Net: eager vs channels_last vs torch.compile (and bf16 vs fp32 on CUDA),
then the training step of each method (Palette, regression, pix2pix) under the same budget.

Usage: python benchmarks/train_throughput.py [--preset cpu] [--batch 32] [--iters 5] [--set key=value ...]
Every configuration runs the same Palette training step (loss on a random batch, backward, Adam)
and the same sampler network evaluation in this one process; the table gives images per second and
the ratio to the eager fp32 peer. The method table runs each method's own trainer step (the one
`palette-bench run` uses: loss, backward, guard, optimizer steps, EMA) on one inpainting batch, with
its ratio to Palette's. Warm-up iterations (and compilation) are not timed.
"""

from __future__ import annotations

import argparse
import time

import torch

from palette_bench.models.diffusion import palette_loss
from palette_bench.runconfig import resolve
from palette_bench.train import build_model


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(cfg, device, batch: int, iters: int, channels_last: bool, compiled: bool, bf16: bool, inference: bool = False) -> tuple[float, float]:
    """(training images/s, sampling network evaluations/s) for one configuration; `inference`: sample under
    torch.inference_mode instead of no_grad (the training step is the same)."""
    model = build_model(cfg).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    net = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    size = cfg.image_size
    g = torch.Generator(device="cpu").manual_seed(0)
    y0 = (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(device).contiguous(memory_format=fmt)
    cond = (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(device).contiguous(memory_format=fmt)
    eps = torch.randn(batch, 3, size, size, generator=g).to(device)
    gamma = torch.rand(batch, generator=g).to(device)

    def train_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = palette_loss(net, y0, cond, None, gamma, eps).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sample_step():
        with torch.inference_mode() if inference else torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            net(torch.cat([cond, y0], dim=1), gamma)

    rates = []
    for step in (train_step, sample_step):
        for _ in range(2):
            step()
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            step()
        _sync(device)
        rates.append(batch * iters / (time.perf_counter() - start))
    return rates[0], rates[1]


def measure_method(cfg, device, batch: int, iters: int, bf16: bool) -> float:
    """Training images/s of the method's real trainer step on a fixed inpainting batch."""
    import tempfile
    from dataclasses import replace

    from palette_bench.train import StepGuard, make_trainer

    cfg = replace(cfg, train=replace(cfg.train, bf16=bf16, batch_size=batch))
    trainer = make_trainer(cfg, device)
    g = torch.Generator(device="cpu").manual_seed(0)
    size = cfg.image_size
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    data = {"y0": torch.rand(batch, 3, size, size, generator=g) * 2 - 1, "mask": mask, "step": cfg.train.steps // 4, "j": list(range(batch))}
    data["condition"] = torch.where(mask.bool(), torch.randn(batch, 3, size, size, generator=g), data["y0"])
    with tempfile.TemporaryDirectory() as tmp:
        guard = StepGuard(tmp, getattr(trainer, "limits", None))
        for _ in range(2):
            trainer.train_step(data, guard)
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            trainer.train_step(data, guard)
        _sync(device)
    return batch * iters / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (compilation takes minutes on CPU)")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = resolve("inpainting", args.preset, args.overrides)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = [("eager fp32", False, False, False, False), ("channels_last fp32", True, False, False, False), ("cl fp32 inference_mode", True, False, False, True)]
    if not args.no_compile:
        rows.append(("compiled fp32", False, True, False, False))
    if device.type == "cuda":
        rows += [("eager bf16", False, False, True, False), ("channels_last bf16", True, False, True, False)]
        if not args.no_compile:
            rows.append(("compiled bf16", False, True, True, False))
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"preset {args.preset}: {cfg.image_size} px, batch {args.batch}, {sum(p.numel() for p in build_model(cfg).parameters()) / 1e6:.1f}M parameters, {name}")
    print(f"{'configuration':<22} {'train img/s':>12} {'ratio':>6} {'sample img/s':>13} {'ratio':>6}")
    base = None
    for label, cl, comp, bf16, inference in rows:
        train_rate, sample_rate = measure(cfg, device, args.batch, args.iters, cl, comp, bf16, inference)
        base = base or (train_rate, sample_rate)
        print(f"{label:<22} {train_rate:>12.1f} {train_rate / base[0]:>6.2f} {sample_rate:>13.1f} {sample_rate / base[1]:>6.2f}")
    # the methods' training steps, same preset budget (pix2pix: generator without attention + PatchGAN)
    for precision in ("fp32",) + (("bf16",) if device.type == "cuda" else ()):
        print(f"\n{'method (' + precision + ')':<22} {'train img/s':>12} {'ratio':>6}")
        palette = None
        for method in ("palette", "regression", "pix2pix"):
            rate = measure_method(resolve("inpainting", args.preset, args.overrides, method=method), device, args.batch, args.iters, precision == "bf16")
            palette = palette or rate
            print(f"{method:<22} {rate:>12.1f} {rate / palette:>6.2f}")


if __name__ == "__main__":
    main()
