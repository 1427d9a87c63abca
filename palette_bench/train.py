"""The training loop every learned method shares: data, resume, logging, checkpoints, DDP under torchrun.

What a method trains is a *trainer* (`UNetTrainer` subclasses for Palette and the regression
baseline, pix2pix's own in baselines/pix2pix.py), which the method registry
(palette_bench/methods/) hands out: it owns its networks and optimizers and runs one step on a
batch. The loop around it is common, so every method sees the same examples in the same order,
under the same budget (train.steps, train.batch_size, image_size of the preset).

Checkpoints hold the trainer's networks and optimizers, the step, the RNG states and the resolved
config; they are written atomically and loaded with weights_only=True. Re-running the same command
resumes from the last one and produces the same subsequent losses as an uninterrupted run. A
non-finite loss on any process stops every process before any optimizer steps on it, so the last
checkpoint stays good.
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
from palette_bench.methods import get_method
from palette_bench.models.diffusion import linear_schedule
from palette_bench.models.unet import UNet
from palette_bench.posthoc_ema import SNAPSHOTS, PowerEMAs
from palette_bench.protocols import Protocol
from palette_bench.runconfig import RunConfig
from palette_bench.training_data import TrainingBatches, loader


def build_model(cfg: RunConfig) -> UNet:
    """The method's U-Net (Palette's denoiser, or the regression / pix2pix generator), initialised from the run's seed."""
    net = get_method(cfg.method).network(cfg)
    if net is None:
        raise ValueError(f"method '{cfg.method}' has no network")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return UNet(net)


def network_from_state(cfg: RunConfig, state: dict, device) -> UNet:
    """The trained network of a checkpoint, in eval mode: its EMA weights when sample.use_ema and it keeps an EMA."""
    model = build_model(cfg).to(device)
    model.load_state_dict(state["ema" if cfg.sample.use_ema and "ema" in state else "model"])
    return memory_format(model, cfg).eval()


def memory_format(net: torch.nn.Module, cfg: RunConfig) -> torch.nn.Module:
    """The network in the run's memory layout, for training and sampling alike: channels_last when
    train.channels_last (1.02 to 1.23 times the images per second on 2 CPU cores, docs/benchmarks.md)."""
    return net.to(memory_format=torch.channels_last) if cfg.train.channels_last else net


def atomic_torch_save(obj, path: Path) -> None:
    """torch.save through an atomic writer: a killed run never leaves half a checkpoint."""
    with atomic_writer(path) as f:
        torch.save(obj, f)


def checkpoints(run_dir: Path) -> list[Path]:
    return sorted((Path(run_dir) / "checkpoints").glob("ckpt-*.pt"))


def load_checkpoint(path: Path, device="cpu") -> dict:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is the same problem for the user
        raise ValueError(f"{path}: cannot load checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def lr_at(cfg: RunConfig, step: int) -> float:
    """Linear warm-up over warmup_steps, then the fixed rate (Palette: 1e-4 after 10k steps)."""
    return cfg.train.lr * min(1.0, (step + 1) / max(1, cfg.train.warmup_steps))


def wrap(module: torch.nn.Module, cfg: RunConfig, device: torch.device):
    """The module as the step calls it: DDP across processes, then torch.compile if asked."""
    net = module
    if dist.world_size() > 1:
        net = torch.nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(net) if cfg.train.compile else net


class TrainingCollapse(FloatingPointError):
    """A loss went non-finite (or a GAN's generator loss exploded); the run stops and keeps its last checkpoint."""


class StepGuard:
    """Stops the run when a loss is non-finite or above its limit; called between backward and optimizer.step.

    Under torchrun every process gathers every process's losses before deciding, so a NaN on one rank
    stops all of them at the same step with the same message, instead of leaving the others waiting
    at their next collective.
    """

    def __init__(self, run_dir: Path, limits: dict[str, float] | None = None):
        self.run_dir, self.limits, self.step = Path(run_dir), limits or {}, 0

    def __call__(self, **losses: torch.Tensor) -> None:
        names = list(losses)
        local = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        values = dist.all_gather_stacked(local).cpu()  # [world, losses]: the same on every process
        for r in range(values.shape[0]):
            for name, v in zip(names, values[r].tolist()):
                limit = self.limits.get(name, math.inf)
                if math.isfinite(v) and v <= limit:
                    continue
                found = checkpoints(self.run_dir)
                kept = f"the last good checkpoint {found[-1]} is kept" if found else "no checkpoint had been written yet"
                why = f"{name.replace('_', ' ')} is {v}" + ("" if not math.isfinite(v) else f", above its limit {limit:g}")
                where = f" on rank {r}" if values.shape[0] > 1 else ""
                raise TrainingCollapse(f"{self.run_dir}: {why}{where} at step {self.step + 1}; training stopped, {kept}")


class UNetTrainer:
    """One U-Net, its EMA and Adam; subclasses define loss(batch) (Palette's denoiser, the regression baseline).

    Both use the preset's learning rate, warm-up, clipping and EMA, so the regression baseline gets
    exactly Palette's training budget; only the loss differs.
    """

    def __init__(self, cfg: RunConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.model = memory_format(build_model(cfg).to(device), cfg)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.power_emas = PowerEMAs(self.model, cfg.train.posthoc_ema) if cfg.train.posthoc_ema else None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr)
        self.net = wrap(self.model, cfg, device)
        d = cfg.diffusion
        self.schedule = linear_schedule(d.train_schedule_steps, d.train_beta_start, d.train_beta_end)
        self.use_bf16 = cfg.train.bf16 and device.type == "cuda"

    def state(self) -> dict:
        out = {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.power_emas is not None:
            out["power_emas"] = self.power_emas.state_dicts(self.model)
        return out

    def load(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.power_emas is not None:
            self.power_emas.load(self.model, state["power_emas"])

    def loss(self, batch: dict) -> torch.Tensor:
        """Mean over this process's examples of the method's loss."""
        raise NotImplementedError

    def train_step(self, batch: dict, guard: StepGuard) -> dict:
        cfg, step = self.cfg, batch["step"]
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(cfg, step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
            loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        guard(loss=loss)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip if cfg.train.grad_clip > 0 else math.inf)
        self.optimizer.step()
        with torch.no_grad():
            for p_ema, p in zip(self.ema.parameters(), self.model.parameters()):
                p_ema.lerp_(p, 1 - cfg.train.ema_decay)
        if self.power_emas is not None:
            self.power_emas.update(self.model, step)
        return {"loss": loss.detach().float(), "lr": lr_at(cfg, step), "grad_norm": float(grad_norm)}


def make_trainer(cfg: RunConfig, device: torch.device):
    """The method's trainer, from the method registry."""
    trainer = get_method(cfg.method).trainer(cfg, device)
    if trainer is None:
        raise ValueError(f"method '{cfg.method}' does not train")
    return trainer


def _truncate_stats(path: Path, step: int) -> None:
    """Drop logged steps after the checkpoint we resume from: they are recomputed, identically."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


def train(cfg: RunConfig, protocol: Protocol, run_dir: Path, device: torch.device, root=None, progress: bool = True) -> Path:
    """Train (or resume) the run's method and return the path of the final checkpoint."""
    run_dir = Path(run_dir)
    trainer = make_trainer(cfg, device)
    step = 0
    found = checkpoints(run_dir)
    if found:
        state = load_checkpoint(found[-1], device)
        trainer.load(state)
        step = state["step"]
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu())
    stats = run_dir / "stats.jsonl"
    if dist.is_main():
        _truncate_stats(stats, step)
    if step >= cfg.train.steps:
        if not found:  # train.steps = 0: the untrained initialisation is the checkpoint (a baseline to beat)
            save_checkpoint(cfg, run_dir, trainer, 0, device)
        return checkpoints(run_dir)[-1]
    guard = StepGuard(run_dir, getattr(trainer, "limits", None))
    data = TrainingBatches(protocol, cfg.task, cfg.seed, cfg.train.batch_size, step, cfg.train.steps, dist.rank(), dist.world_size(), root)
    bar = tqdm(total=cfg.train.steps, initial=step, desc="training", unit="step", disable=None if (progress and dist.is_main()) else True)
    start = time.perf_counter()
    log = open(stats, "a") if dist.is_main() else None
    try:
        for batch in loader(data, cfg.train.workers):
            step = guard.step = batch["step"]
            logged = trainer.train_step(batch, guard)
            step += 1
            # losses are means over the global batch; other values are the same on every process
            row = {"step": step, **{k: dist.all_reduce_mean(v).item() if torch.is_tensor(v) else v for k, v in logged.items()}}
            row["time"] = round(time.perf_counter() - start, 3)
            if log:
                log.write(json.dumps(row) + "\n")
                log.flush()
            bar.update(1)
            bar.set_postfix({k: f"{row[k]:.4f}" for k, v in logged.items() if torch.is_tensor(v)})
            if step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps:
                save_checkpoint(cfg, run_dir, trainer, step, device)
    finally:
        bar.close()
        if log:
            log.close()
    return checkpoints(run_dir)[-1]


def save_checkpoint(cfg: RunConfig, run_dir: Path, trainer, step: int, device) -> None:
    """Rank 0 writes ckpt-<step>.pt atomically and keeps the newest `keep_checkpoints`; all ranks wait for it."""
    if dist.is_main():
        rng = {"torch": torch.get_rng_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        state = {**trainer.state(), "step": step, "rng": rng, "config": to_dict(cfg)}
        atomic_torch_save(state, run_dir / "checkpoints" / f"ckpt-{step:08d}.pt")
        if "power_emas" in state:  # post-hoc EMA snapshots are kept for good, unlike checkpoints
            atomic_torch_save({"step": step, "emas": state["power_emas"]}, run_dir / SNAPSHOTS / f"snapshot-{step:08d}.pt")
        for old in checkpoints(run_dir)[: -cfg.train.keep_checkpoints]:
            old.unlink()
    dist.barrier()
