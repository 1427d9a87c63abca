"""The builtin protocol's judge: a small CNN trained deterministically on the builtin data set.

It stands in for the pretrained networks the builtin protocol cannot download: its penultimate
features play InceptionV3's pool features (FID, PD), its logits give the Inception Score and its
top-1 the classification accuracy, and its stage maps feed an LPIPS-style distance.

The default judge ships inside the package (PACKAGED, verified against PACKAGED_SHA256), so that
every user scores in the same feature space: numbers from two labs can only be set side by side
when the features are the same, and retraining on another CPU gives other weights (its kernels
round differently and training amplifies it). `palette-bench judge train` reproduces the file.
Judges of any other configuration are trained on first use and cached under a name keyed by
everything that determines them, with a sha256 sidecar.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from palette_bench.data.builtin import CLASS_NAMES, render
from palette_bench.io import atomic_write_bytes
from palette_bench.seeding import generator_for

JUDGE_SIZE = 64
# Bump when the architecture, preprocessing or training procedure changes, so old caches are not reused.
JUDGE_VERSION = "judge-v1"
MIN_INPUT_SIZE = 16
# Training runs on one thread whatever the caller set: CPU kernels split reductions by thread count, so the
# weights would otherwise depend on it, and one thread is also the fastest on a busy 2-core machine.
TRAIN_THREADS = 1


@dataclasses.dataclass(frozen=True)
class JudgeConfig:
    """Everything that determines the trained weights (with JUDGE_VERSION); the cache file is named by its hash."""

    train_images: int = 5000
    epochs: int = 5
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0
    width: int = 32  # stage widths are width * (1, 2, 4, 8); features have 8 * width dimensions
    data_seed: int = 0


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float [B, 3, 64, 64] in [-1, 1], resized bilinearly with antialiasing."""
    if x.dtype != torch.uint8:
        raise TypeError(f"the judge takes uint8 images, got {x.dtype}")
    if x.ndim != 4 or x.shape[1] != 3 or min(x.shape[2:]) < MIN_INPUT_SIZE:
        raise ValueError(f"the judge takes [B, 3, H, W] images with H, W >= {MIN_INPUT_SIZE}, got {tuple(x.shape)}")
    x = x.float()
    if tuple(x.shape[2:]) != (JUDGE_SIZE, JUDGE_SIZE):
        # Resizing before scaling keeps the [0, 255] range exact; antialiasing only acts when shrinking.
        x = F.interpolate(x, size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x / 127.5 - 1.0


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class JudgeNet(nn.Module):
    """Four stages of (stride-2 conv-BN-ReLU, conv-BN-ReLU) at 32, 16, 8 and 4 px, global average pool, linear head."""

    def __init__(self, width: int = 32, num_classes: int = len(CLASS_NAMES)):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        stages, c_in = [], 3
        for c in widths:
            # Each stage starts by halving the grid: a full 64 px stage would cost four times the rest of the net.
            stages.append(nn.Sequential(*_conv_bn_relu(c_in, c, stride=2), *_conv_bn_relu(c, c)))
            c_in = c
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(c_in, num_classes)
        self.feature_dim = c_in

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """uint8 [B, 3, H, W] -> {"features": [B, D] float32, "logits": [B, 10], "maps": the four stage outputs}."""
        # channels_last is markedly faster for these small convolutions on CPU; the maps keep that memory layout.
        h = preprocess(x).contiguous(memory_format=torch.channels_last)
        maps = []
        for stage in self.stages:
            h = stage(h)
            maps.append(h)
        features = h.mean(dim=(2, 3))
        return {"features": features, "logits": self.head(features), "maps": maps}


def _render_split(split: str, n: int, data_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images 0..n-1 of `split` at the judge's size: (uint8 [n, 3, 64, 64], int64 labels [n])."""
    images = np.empty((n, JUDGE_SIZE, JUDGE_SIZE, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        images[i], labels[i] = render(split, i, JUDGE_SIZE, data_seed)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero (a one-cycle schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_judge(config: JudgeConfig = JudgeConfig(), progress: bool = False) -> dict:
    """Train the judge from scratch, deterministically given `config`; returns its state_dict."""
    images, labels = _render_split("train", config.train_images, config.data_seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        return _train(config, images, labels, progress)
    finally:
        torch.set_num_threads(threads)


def _train(config: JudgeConfig, images: torch.Tensor, labels: torch.Tensor, progress: bool) -> dict:
    """The training loop of `train_judge` on the rendered images."""
    # Forking keeps the caller's global RNG untouched while manual_seed fixes the initial weights.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = JudgeNet(config.width)
        order = generator_for("judge-train", config.seed)  # batch order and flips, independent of the init stream
        steps_per_epoch = math.ceil(config.train_images / config.batch_size)
        total = config.epochs * steps_per_epoch
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=5e-4)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, total, max(1, total // 20)))
        model.train()
        for epoch in range(config.epochs):
            start, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
            permutation = torch.randperm(config.train_images, generator=order)
            flips = torch.rand(config.train_images, generator=order) < 0.5
            for b in range(steps_per_epoch):
                idx = permutation[b * config.batch_size : (b + 1) * config.batch_size]
                x, y = images[idx], labels[idx]
                # Horizontal flips only: every shape is mirror-symmetric up to rotation, and colour is class information.
                flip = flips[idx]
                x[flip] = x[flip].flip(-1)
                logits = model(x)["logits"]
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                seen += len(idx)
                loss_sum += loss.item() * len(idx)
                correct += (logits.argmax(1) == y).sum().item()
            if progress:
                print(
                    f"judge epoch {epoch + 1}/{config.epochs}: loss {loss_sum / seen:.4f}, "
                    f"train top-1 {correct / seen:.4f}, {time.perf_counter() - start:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    model.eval()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def judge_accuracy(model: JudgeNet, split: str = "test", n: int = 2000, batch_size: int = 250) -> float:
    """Top-1 accuracy on the first `n` clean builtin images of `split`, rendered at 64 px."""
    images, labels = _render_split(split, n, 0)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for b in range(0, n, batch_size):
        logits = model(images[b : b + batch_size].to(device))["logits"]
        correct += (logits.argmax(1).cpu() == labels[b : b + batch_size]).sum().item()
    model.train(was_training)
    return correct / n


def _config_key(config: JudgeConfig) -> str:
    text = json.dumps({"config": dataclasses.asdict(config), "version": JUDGE_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def default_cache_dir() -> pathlib.Path:
    """`$PALETTE_BENCH_CACHE/judge`, or `~/.cache/palette_bench/judge`."""
    root = os.environ.get("PALETTE_BENCH_CACHE")
    return (pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "palette_bench") / "judge"


def judge_path(config: JudgeConfig = JudgeConfig(), cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Where the judge trained with `config` is cached."""
    folder = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"judge-{JUDGE_SIZE}px-{_config_key(config)}.pt"


def _sidecar(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(path.name + ".sha256")


def _corrupt(path: pathlib.Path) -> ValueError:
    return ValueError(f"{path}: judge weights file is corrupt (sha256 mismatch); delete it to retrain")


def _serialize(state_dict: dict, config: JudgeConfig, accuracy: float) -> bytes:
    """The weights file's bytes: torch.save of the weights, the config and the test accuracy (the same bytes for the same weights)."""
    buffer = io.BytesIO()
    torch.save({"state_dict": state_dict, "config": dataclasses.asdict(config), "test_accuracy": accuracy}, buffer)
    return buffer.getvalue()


def _save(path: pathlib.Path, data: bytes) -> str:
    """Write the weights file and its sha256 sidecar; returns the digest."""
    digest = hashlib.sha256(data).hexdigest()
    # Sidecar first: a crash in between leaves no weights file, so the next load retrains instead of failing.
    atomic_write_bytes(_sidecar(path), (digest + "\n").encode())
    atomic_write_bytes(path, data)
    return digest


# The default judge's weights, shipped with the package; `palette-bench judge train` writes the same bytes
# on the machine that made them (Intel Xeon, 2 cores, torch 2.14.1, one training thread).
PACKAGED = pathlib.Path(__file__).with_name(f"judge-{JUDGE_SIZE}px-default.pt")
PACKAGED_SHA256 = "5d5bf297bc6f059bfa8012069e5b1fb449451157a1c1bbc08ed1f9e1a9eedb9c"
DEFAULT = JudgeConfig()  # the configuration the packaged file was trained with


def load_packaged(path: pathlib.Path | None = None) -> tuple[JudgeNet, str]:
    """The default judge from the package's weights file, verified against PACKAGED_SHA256."""
    path = PACKAGED if path is None else pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the packaged default judge is missing; reinstall palette-bench, or recreate the file with `palette-bench judge train --out {path}`")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != PACKAGED_SHA256:
        raise ValueError(f"{path}: sha256 {digest} is not the packaged default judge's {PACKAGED_SHA256}; reinstall palette-bench")
    return _from_bytes(data, DEFAULT, path), digest


def _from_bytes(data: bytes, config: JudgeConfig, path: pathlib.Path) -> JudgeNet:
    """The judge saved by `_save`, checked to have been trained with `config`."""
    try:
        saved = torch.load(io.BytesIO(data), weights_only=True)
        if saved["config"] != dataclasses.asdict(config):
            raise ValueError("config mismatch")
        model = JudgeNet(config.width)
        model.load_state_dict(saved["state_dict"])
    except Exception:
        raise _corrupt(path) from None
    return model.eval()


def judge_bytes(config: JudgeConfig = DEFAULT, progress: bool = False) -> tuple[bytes, float]:
    """Train the judge of `config` and return its weights file's bytes (as `_save` writes them) and its test top-1."""
    model = JudgeNet(config.width)
    model.load_state_dict(train_judge(config, progress=progress))
    accuracy = judge_accuracy(model)
    return _serialize(model.state_dict(), config, accuracy), accuracy


def load_judge(
    config: JudgeConfig = JudgeConfig(),
    cache_dir: str | os.PathLike | None = None,
    train_if_missing: bool = True,
    progress: bool = False,
) -> tuple[JudgeNet, str]:
    """The judge in eval mode and the sha256 of its weights file: the packaged one for the default
    config, otherwise trained and cached on first use."""
    if config == DEFAULT:
        return load_packaged()
    path = judge_path(config, cache_dir)
    if not path.exists():
        if not train_if_missing:
            raise FileNotFoundError(f"{path}: the builtin judge is not trained yet (load_judge trains it when allowed)")
        print(f"training the builtin judge of a non-default config (one time) -> {path}", file=sys.stderr, flush=True)
        data, accuracy = judge_bytes(config, progress)
        if progress:
            print(f"judge test top-1 {accuracy:.4f} on 2000 clean builtin test images", file=sys.stderr, flush=True)
        _save(path, data)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        expected = _sidecar(path).read_text().strip()
    except OSError:
        raise _corrupt(path) from None
    if digest != expected:
        raise _corrupt(path)
    return _from_bytes(data, config, path), digest
