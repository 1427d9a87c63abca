"""The resolved configuration of a run: a preset (palette_bench/presets.toml) plus command-line overrides.

Every value can be overridden with `--set key=value` (e.g. `--set train.steps=500`); an unknown
key is an error naming it. The resolved config is written into the run folder and into every
checkpoint, so a run folder describes itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from palette_bench.config import ConfigError, from_dict, to_dict
from palette_bench.models.unet import UNetConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESETS_FILE = Path(__file__).with_name("presets.toml")
# The evaluation set a task is run on when none is named: the paper's headline setting.
# The multi-task model's is Table 7's first row, JPEG restoration at quality 5.
DEFAULT_EVAL_SET = {"colorization": "gray", "inpainting": "ff20-30", "uncropping": "right", "jpeg": "q10", "multi": "q5"}


@dataclass(frozen=True)
class DiffusionConfig:
    """Palette's noise schedules (Sec. 4) and denoising loss (L2 by default, L1 for the ablation).

    parameterization: what the network predicts, "eps" (Palette's), "v" (Salimans & Ho 2022), "x0", or
    "edm" (Karras et al. 2022's c_in, c_skip, c_out with sigma_data = 0.5; v is the same with sigma_data = 1).
    loss_weighting "min-snr": Hang et al. 2023's min(SNR, min_snr_gamma) weighting, SNR = gamma / (1 - gamma).
    """

    loss: Literal["l2", "l1"] = "l2"
    parameterization: Literal["eps", "v", "x0", "edm"] = "eps"
    # which noise levels training draws (models/diffusion.py sample_gamma): Palette's uniform t, EDM's
    # log-normal in sigma (lognormal_mean and lognormal_std of ln sigma), or uniform in log-SNR
    noise_levels: Literal["paper", "lognormal", "logsnr-uniform"] = "paper"
    lognormal_mean: float = -1.2
    lognormal_std: float = 1.2
    loss_weighting: Literal["none", "min-snr"] = "none"
    min_snr_gamma: float = 5.0
    train_schedule_steps: int = 2000
    train_beta_start: float = 1e-6
    train_beta_end: float = 0.01
    sample_schedule_steps: int = 1000
    sample_beta_start: float = 1e-4
    sample_beta_end: float = 0.09


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int  # global batch, split evenly across processes
    lr: float = 1e-4
    warmup_steps: int = 10000  # linear warm-up, then a fixed rate (Palette)
    ema_decay: float = 0.9999
    # EDM2's post-hoc EMA: relative EMA lengths tracked as power-function EMAs and kept at every
    # checkpoint, so that any length can be reconstructed afterwards (palette_bench/posthoc_ema.py,
    # `palette-bench ema`); EDM2 tracks (0.05, 0.10). Empty: off.
    posthoc_ema: tuple[float, ...] = ()
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    bf16: bool = True  # autocast on CUDA only
    compile: bool = False
    channels_last: bool = False  # the networks' memory layout in training and sampling (train.memory_format)
    workers: int = 1  # DataLoader workers rendering and degrading training images


@dataclass(frozen=True)
class SampleConfig:
    # "dpmpp-2m" and "heun" are the second-order ODE solvers of models/solvers.py
    sampler: Literal["ancestral", "ddim", "dpmpp-2m", "heun"] = "ancestral"
    steps: int = 1000  # Heun calls the network 2 steps - 1 times, the others once per step
    eta: float = 0.0  # DDIM only
    churn: float = 0.0  # Heun only: EDM's S_churn, 0 = deterministic
    # where the steps sit on the gamma axis: "paper" (the respaced inference schedule), or "logsnr" /
    # "karras" spread over the training schedule's gamma range (see models/samplers.py SCHEDULES)
    schedule: Literal["paper", "logsnr", "karras"] = "paper"
    n: int = 0  # evaluation inputs to sample; 0 = the whole evaluation set
    samples_per_input: int = 0  # 0 = the protocol's diversity_samples
    # inputs (the first ones of the evaluation set) that get all samples_per_input samples for the
    # diversity metrics; the others get sample 0 only, which FID, IS, CA and PD use. 0 = every input.
    diversity_n: int = 0
    batch_size: int = 64
    use_ema: bool = True


# What a run evaluates unless told otherwise: the paper's metrics, then those beyond it that need no
# other network (docs/evaluation.md): precision, recall, density and coverage in the protocol's own
# features, and SWD in pixels, together a few seconds per 1,000 images. FD_DINOv2 and CMMD need their
# ViT weights and 10 to 30 CPU minutes per 1,000 images, so they are asked for by name.
EVAL_METRICS = ("fid", "is", "kid", "pd", "ca", "lpips", "psnr", "ssim", "diversity", "precision", "recall", "density", "coverage", "swd")


@dataclass(frozen=True)
class EvalConfig:
    bootstrap: int = 100
    metrics: tuple[str, ...] = EVAL_METRICS
    batch_size: int = 64
    # The builtin protocol's judge (ignored by the Inception protocols); the default is the README's judge.
    judge_train_images: int = 5000
    judge_epochs: int = 5


@dataclass(frozen=True)
class RegressionConfig:
    """The paper's regression baseline: Palette's U-Net trained to output the target directly (no noise input)."""

    loss: Literal["l2", "l1"] = "l2"


@dataclass(frozen=True)
class Pix2PixConfig:
    """pix2pix (Isola et al. 2017): U-Net generator + PatchGAN discriminator, adversarial + lambda * L1 loss."""

    gan_loss: Literal["lsgan", "nonsaturating"] = "lsgan"
    l1_weight: float = 100.0  # lambda of the paper
    lr: float = 2e-4  # both networks; constant for the first half of train.steps, then linear decay to 0
    beta1: float = 0.5
    beta2: float = 0.999
    attention: bool = False  # the generator is the run's U-Net with its attention layers removed, unless true
    d_channels: int = 64  # width of the first discriminator layer (doubles per layer, at most 8x)
    d_layers: int = 0  # stride-2 layers of the PatchGAN; 0 = scaled to the image (3 = the 70x70 PatchGAN at 256 px)
    d_norm: Literal["instance", "none"] = "instance"  # the PatchGAN's normalisation (baselines/pix2pix.py)
    # the generator U-Net's normalisation: none (default), its GroupNorms ("group", as Palette's), or BatchNorm
    # (pix2pix's own; statistics per process under torchrun). With GroupNorm, which at 32 channels normalises
    # each channel of each image alone, the GAN learns StyleGAN's "droplet": a saturated blob of a few pixels
    # on 58% of JPEG outputs, 2.8% without normalisation (results/pix2pix-blobs/blobs.md, docs/baselines.md)
    generator_norm: Literal["group", "batch", "none"] = "none"
    max_g_loss: float = 1000.0  # a generator loss above this (or NaN) stops the run: the GAN has collapsed


@dataclass(frozen=True)
class ClassicalConfig:
    inpaint: Literal["biharmonic", "telea"] = "biharmonic"  # scikit-image's biharmonic or OpenCV's Telea


@dataclass(frozen=True)
class RunConfig:
    task: str
    preset: str
    model: UNetConfig
    train: TrainConfig
    method: str = "palette"
    protocol: str = "builtin"
    eval_set: str = ""  # "" = the task's headline evaluation set
    image_size: int = 0  # 0 = the protocol's; also the U-Net's
    seed: int = 0
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    pix2pix: Pix2PixConfig = field(default_factory=Pix2PixConfig)
    classical: ClassicalConfig = field(default_factory=ClassicalConfig)
    pred: str = ""  # method "external": the folder of outputs (NNNNNN.png, NNNNNN_k.png)
    name: str = ""  # method "external": the name the method goes by in run folders and tables

    def training_identity(self) -> dict:
        """What determines the trained weights; sampling and evaluation settings are not part of it."""
        d = to_dict(self)
        keys = ["task", "method", "protocol", "image_size", "seed", "model", "train", "pred", "name"]
        from palette_bench.methods import get_method

        section = get_method(self.method).section  # each method's own section; Palette's is the diffusion config
        return {k: d[k] for k in keys + ([section] if section else [])}


def load_presets() -> dict:
    return tomllib.loads(PRESETS_FILE.read_text())


def parse_override(text: str) -> tuple[list[str], object]:
    """'train.steps=500' -> (['train', 'steps'], 500); values are TOML literals, else plain strings."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def resolve(task: str, preset: str = "cpu", overrides: list[str] = (), **fields) -> RunConfig:
    """The RunConfig of `preset` for `task`, with named fields (method, protocol, ...) and `--set` overrides applied."""
    presets = load_presets()
    if preset not in presets:
        raise ConfigError(f"unknown preset '{preset}' (choose from {', '.join(presets)})")
    data = copy.deepcopy(presets[preset])
    data.update({"task": task, "preset": preset, **{k: v for k, v in fields.items() if v is not None}})
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text}: '{part}' is not a table")
        node[path[-1]] = value
    if not data.get("image_size"):
        from palette_bench.protocols import load_protocol

        data["image_size"] = load_protocol(data.get("protocol", "builtin")).image_size
    data.setdefault("model", {})
    if "image_size" in data["model"] and data["model"]["image_size"] != data["image_size"]:
        raise ConfigError("model.image_size is set from image_size; set image_size instead")
    data["model"]["image_size"] = data["image_size"]
    cfg = from_dict(RunConfig, data)
    if cfg.train.batch_size <= 0 or cfg.train.steps < 0:
        raise ConfigError("train.batch_size must be positive and train.steps non-negative")
    return cfg


# The settings that make Palette's recipe, as opposed to its scale (image size, network widths, steps, batch):
# what the network predicts, the loss and the noise levels it is trained on, the optimiser's schedule, the
# EMA and the sampler. The cpu and gpu presets depart from the paper preset in some of them, each a named
# setting; the report's footer lists every departure of a run (report/footer.py).
RECIPE_KEYS = ("diffusion", "train.lr", "train.warmup_steps", "train.ema_decay", "train.posthoc_ema", "train.grad_clip", "sample.sampler", "sample.steps", "sample.schedule", "sample.churn", "sample.eta")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def departures_from_paper(cfg: RunConfig) -> list[tuple[str, object, object]]:
    """(setting, this run's value, the paper preset's value) for every recipe setting (RECIPE_KEYS) that differs."""
    mine, paper = _flat(to_dict(cfg)), _flat(to_dict(resolve(cfg.task, "paper", method=cfg.method)))
    keys = [k for k in mine if any(k == r or k.startswith(r + ".") for r in RECIPE_KEYS)]
    return [(k, mine[k], paper[k]) for k in keys if mine[k] != paper[k]]


def config_hash(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
