"""Palette's training loop: Adam with linear warm-up, EMA, optional clipping, bf16 on CUDA, DDP under torchrun.

Checkpoints hold the model, its EMA, the optimizer, the step, the RNG states and the resolved
config; they are written atomically and loaded with weights_only=True. Re-running the same
command resumes from the last one and produces the same subsequent losses as an uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from palette_bench import distributed as dist
from palette_bench.config import to_dict
from palette_bench.io import atomic_writer
from palette_bench.models.diffusion import draw_noise, linear_schedule, palette_loss, sample_gamma
from palette_bench.models.unet import UNet
from palette_bench.protocols import Protocol
from palette_bench.runconfig import RunConfig
from palette_bench.seeding import generator_for
from palette_bench.training_data import TrainingBatches, loader


def build_model(cfg: RunConfig) -> UNet:
    """The U-Net of the run, initialised from the run's seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return UNet(cfg.model)


def atomic_torch_save(obj, path: Path) -> None:
    """torch.save through an atomic writer: a killed run never leaves half a checkpoint."""
    with atomic_writer(path) as f:
        torch.save(obj, f)


def checkpoints(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "checkpoints").glob("ckpt-*.pt"))


def load_checkpoint(path: Path, device="cpu") -> dict:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is the same problem for the user
        raise ValueError(f"{path}: cannot load checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def lr_at(cfg: RunConfig, step: int) -> float:
    """Linear warm-up over warmup_steps, then the fixed rate (Palette: 1e-4 after 10k steps)."""
    return cfg.train.lr * min(1.0, (step + 1) / max(1, cfg.train.warmup_steps))


def _step_loss(model, batch: dict, cfg: RunConfig, schedule, device) -> torch.Tensor:
    """Mean over this process's examples of Palette's loss, every draw keyed to (seed, step, j)."""
    gens = [generator_for("train-noise", cfg.seed, batch["step"], j) for j in batch["j"]]
    gamma = sample_gamma(schedule, gens).to(device)
    eps = draw_noise(batch["y0"].shape[1:], gens).to(device)
    mask = None if batch["mask"] is None else batch["mask"].to(device)
    p = 2 if cfg.diffusion.loss == "l2" else 1
    return palette_loss(model, batch["y0"].to(device), batch["condition"].to(device), mask, gamma, eps, p=p).mean()


def _truncate_stats(path: Path, step: int) -> None:
    """Drop logged steps after the checkpoint we resume from: they are recomputed, identically."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


def train(cfg: RunConfig, protocol: Protocol, run_dir: Path, device: torch.device, root=None, progress: bool = True) -> Path:
    """Train (or resume) and return the path of the final checkpoint."""
    run_dir = Path(run_dir)
    model = build_model(cfg).to(device)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    step = 0
    found = checkpoints(run_dir)
    if found:
        state = load_checkpoint(found[-1], device)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu())
    stats = run_dir / "stats.jsonl"
    if dist.is_main():
        _truncate_stats(stats, step)
    if step >= cfg.train.steps:
        if not found:  # train.steps = 0: the untrained initialisation is the checkpoint (a baseline to beat)
            save_checkpoint(cfg, run_dir, model, ema, optimizer, 0, device)
        return checkpoints(run_dir)[-1]
    net = model
    if dist.world_size() > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.train.compile:
        net = torch.compile(net)
    d = cfg.diffusion
    schedule = linear_schedule(d.train_schedule_steps, d.train_beta_start, d.train_beta_end)
    data = TrainingBatches(protocol, cfg.task, cfg.seed, cfg.train.batch_size, step, cfg.train.steps, dist.rank(), dist.world_size(), root)
    use_bf16 = cfg.train.bf16 and device.type == "cuda"
    bar = tqdm(total=cfg.train.steps, initial=step, desc="training", unit="step", disable=None if (progress and dist.is_main()) else True)
    start = time.perf_counter()
    log = open(stats, "a") if dist.is_main() else None
    try:
        for batch in loader(data, cfg.train.workers):
            step = batch["step"]
            for group in optimizer.param_groups:
                group["lr"] = lr_at(cfg, step)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = _step_loss(net, batch, cfg, schedule, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{run_dir}: loss is {loss.item()} at step {step + 1}; the last good checkpoint is kept")
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip if cfg.train.grad_clip > 0 else math.inf)
            optimizer.step()
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), model.parameters()):
                    p_ema.lerp_(p, 1 - cfg.train.ema_decay)
            step += 1
            global_loss = dist.all_reduce_mean(loss.detach().float()).item()
            if log:
                log.write(json.dumps({"step": step, "loss": global_loss, "lr": lr_at(cfg, step - 1), "grad_norm": float(grad_norm), "time": round(time.perf_counter() - start, 3)}) + "\n")
                log.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{global_loss:.4f}")
            if step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps:
                save_checkpoint(cfg, run_dir, model, ema, optimizer, step, device)
    finally:
        bar.close()
        if log:
            log.close()
    return checkpoints(run_dir)[-1]


def save_checkpoint(cfg: RunConfig, run_dir: Path, model, ema, optimizer, step: int, device) -> None:
    """Rank 0 writes ckpt-<step>.pt atomically and keeps the newest `keep_checkpoints`; all ranks wait for it."""
    if dist.is_main():
        rng = {"torch": torch.get_rng_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        state = {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "rng": rng, "config": to_dict(cfg)}
        atomic_torch_save(state, run_dir / "checkpoints" / f"ckpt-{step:08d}.pt")
        for old in checkpoints(run_dir)[: -cfg.train.keep_checkpoints]:
            old.unlink()
    dist.barrier()
