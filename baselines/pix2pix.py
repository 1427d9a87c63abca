"""pix2pix (Isola et al. 2017): the conditional GAN baseline of Palette's colorization table.

Generator: the run's U-Net (the same family as Palette's), attention off unless pix2pix.attention,
seeing the condition only and ending in tanh; known pixels are copied into its output for
inpainting and uncropping, as for every method here. Discriminator: a PatchGAN that judges
(condition, image) pairs patch by patch. Loss: adversarial (LSGAN or non-saturating) +
lambda * L1, lambda = 100, both networks trained with Adam(2e-4, betas 0.5, 0.999); the rate is
constant for the first half of the steps and decays linearly to zero over the second (pix2pix's
100 + 100 epochs). The step budget, batch and image size are the preset's, as for Palette.

pix2pix's generator also takes dropout as its noise; the authors note it learns to ignore it,
so this one is deterministic and gives one output per input.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from baselines.regression import DirectPredictor, direct_output
from palette_bench.methods import Method, register
from palette_bench.models.diffusion import masked_error
from palette_bench.runconfig import RunConfig
from palette_bench.train import build_model, memory_format, wrap

KERNEL = 4  # every PatchGAN convolution is 4x4 with padding 1


def patchgan_strides(layers: int) -> list[int]:
    """Strides of the PatchGAN's convolutions: `layers` stride-2 ones, then two stride-1 (the last outputs 1 channel)."""
    return [2] * layers + [1, 1]


def receptive_field(layers: int) -> int:
    """Receptive field (pixels) of one discriminator output: r = 1 + sum_i (k - 1) * prod_{j<i} s_j.

    3 layers give pix2pix's 70x70 PatchGAN; 2 give 34x34, 1 gives 16x16.
    """
    r, jump = 1, 1
    for s in patchgan_strides(layers):
        r += (KERNEL - 1) * jump
        jump *= s
    return r


def output_size(image_size: int, layers: int) -> int:
    """Side of the discriminator's output map: each stride-2 layer halves, each stride-1 layer (k 4, pad 1) loses one."""
    size = image_size
    for s in patchgan_strides(layers):
        size = (size + 2 - KERNEL) // s + 1
    return size


def default_layers(image_size: int) -> int:
    """The 70x70 PatchGAN scaled with the image: a patch about 70/256 of the side, at least one stride-2 layer.

    256 px -> 3 layers (70 px patches), 128 -> 2 (34 px), 64 and 32 -> 1 (16 px).
    """
    return max(1, min(3, round(math.log2(image_size / 32))))


class PatchGAN(nn.Module):
    """pix2pix's NLayerDiscriminator on the channel-concatenation of condition and image: a logit per patch.

    Normalisation is instance norm (pix2pix's `--norm instance` option) rather than batch norm: a
    patch's score then depends on its own image only, so a batch split over processes trains the
    same as on one. `norm=False` drops it (the receptive-field test needs purely local layers).
    """

    def __init__(self, in_channels: int = 6, channels: int = 64, layers: int = 3, norm: bool = True):
        super().__init__()
        if layers < 1:
            raise ValueError(f"a PatchGAN needs at least one stride-2 layer, got {layers}")
        self.layers = layers

        def block(i, o, stride, normalise=True):
            # no bias before instance norm: the norm removes any per-channel constant, so such a bias
            # would only collect rounding noise, which Adam scales up to full-size steps
            out = [nn.Conv2d(i, o, KERNEL, stride, 1, bias=not (normalise and norm))]
            if normalise and norm:
                out.append(nn.InstanceNorm2d(o))
            return out + [nn.LeakyReLU(0.2)]

        widths = [channels * min(2**n, 8) for n in range(layers + 1)]
        seq = block(in_channels, widths[0], 2, normalise=False)
        for n in range(1, layers):
            seq += block(widths[n - 1], widths[n], 2)
        seq += block(widths[layers - 1], widths[layers], 1)
        seq.append(nn.Conv2d(widths[layers], 1, KERNEL, 1, 1))
        self.net = nn.Sequential(*seq)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, image], dim=1))


def adversarial_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    """LSGAN: mean (D - target)^2; non-saturating: binary cross-entropy on the logits (the G side maximises log D)."""
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    if kind == "nonsaturating":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise ValueError(f"unknown GAN loss '{kind}' (lsgan or nonsaturating)")


def reconstruction_loss(fake: torch.Tensor, y0: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """pix2pix's L1 term, over the pixels the method generates (all of them without a mask)."""
    return masked_error(fake, y0, mask, p=1).mean()


def lr_at(cfg: RunConfig, step: int) -> float:
    """pix2pix's schedule over the run's budget: constant for the first half, then linear decay to 0."""
    half = cfg.train.steps // 2
    if step < half:
        return cfg.pix2pix.lr
    return cfg.pix2pix.lr * max(0.0, 1.0 - (step - half) / max(1, cfg.train.steps - half))


def build_discriminator(cfg: RunConfig) -> PatchGAN:
    p = cfg.pix2pix
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 1)  # not the generator's seed: the two networks start independent
        return PatchGAN(6, p.d_channels, p.d_layers or default_layers(cfg.image_size), norm=p.d_norm == "instance")


def swap_norms(net: nn.Module, kind: str) -> nn.Module:
    """The generator with each GroupNorm replaced: "batch" by BatchNorm2d (running statistics at evaluation,
    so an output does not depend on its batch), "none" by the identity; "group" leaves it as built."""
    if kind == "group":
        return net
    for module in list(net.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.GroupNorm):
                setattr(module, child_name, nn.BatchNorm2d(child.num_channels) if kind == "batch" else nn.Identity())
    return net


def build_generator(cfg: RunConfig) -> nn.Module:
    return swap_norms(build_model(cfg), cfg.pix2pix.generator_norm)


class Pix2PixTrainer:
    """Generator and discriminator, each with its Adam; one alternating step per batch (D, then G)."""

    def __init__(self, cfg: RunConfig, device: torch.device):
        self.cfg, self.device, p = cfg, device, cfg.pix2pix
        self.generator = memory_format(build_generator(cfg).to(device), cfg)
        self.discriminator = memory_format(build_discriminator(cfg).to(device), cfg)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2))
        self.g_net, self.d_net = wrap(self.generator, cfg, device), wrap(self.discriminator, cfg, device)
        self.limits = {"generator_loss": p.max_g_loss}
        self.use_bf16 = cfg.train.bf16 and device.type == "cuda"

    def state(self) -> dict:
        # "model" is the generator: sampling reads it like any method's network
        return {"model": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(), "optimizer": self.opt_g.state_dict(), "optimizer_d": self.opt_d.state_dict()}

    def load(self, state: dict) -> None:
        self.generator.load_state_dict(state["model"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["optimizer"])
        self.opt_d.load_state_dict(state["optimizer_d"])

    def train_step(self, batch: dict, guard) -> dict:
        kind, lr = self.cfg.pix2pix.gan_loss, lr_at(self.cfg, batch["step"])
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        y0, condition = batch["y0"].to(self.device), batch["condition"].to(self.device)
        mask = None if batch["mask"] is None else batch["mask"].to(self.device)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16)
        with autocast:
            fake = direct_output(self.g_net, condition, mask, squash=True)
            # D: real and fake pairs in one forward (instance norm keeps them independent; one DDP forward per backward)
            logits = self.d_net(torch.cat([condition, condition]), torch.cat([y0, fake.detach()])).float()
            real_logits, fake_logits = logits.chunk(2)
            d_loss = 0.5 * (adversarial_loss(real_logits, True, kind) + adversarial_loss(fake_logits, False, kind))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        guard(discriminator_loss=d_loss)
        self.opt_d.step()

        # G: fool the updated D, and stay close to the target in L1. D's own module, frozen, scores the fakes.
        self.discriminator.requires_grad_(False)
        try:
            with autocast:
                g_adv = adversarial_loss(self.discriminator(condition, fake).float(), True, kind)
                g_l1 = reconstruction_loss(fake.float(), y0, mask)
                g_loss = g_adv + self.cfg.pix2pix.l1_weight * g_l1
        finally:
            self.discriminator.requires_grad_(True)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        guard(generator_loss=g_loss)
        self.opt_g.step()
        return {"discriminator_loss": d_loss.detach(), "generator_loss": g_loss.detach(), "generator_adv": g_adv.detach(), "generator_l1": g_l1.detach(), "lr": lr}


@register
class Pix2Pix(Method):
    name = "pix2pix"
    section = "pix2pix"

    def network(self, cfg):
        net = replace(cfg.model, in_channels=3)  # the condition only
        return net if cfg.pix2pix.attention else replace(net, attention_resolutions=())  # fully convolutional

    def trainer(self, cfg, device):
        return Pix2PixTrainer(cfg, device)

    def predictor(self, cfg, state, device):
        # pix2pix keeps no EMA: its generator is used as trained
        net = build_generator(cfg).to(device)
        net.load_state_dict(state["model"])
        return DirectPredictor(memory_format(net, cfg).eval(), device, squash=True)
