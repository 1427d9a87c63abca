"""The regression baseline (Palette Sec. 5): Palette's U-Net trained to output the target directly.

The network sees the condition image only: no noisy y_t, and its noise-level input held at
gamma = 1 (a clean image), so the architecture, size and training budget are Palette's and only
the objective differs. The loss is L2 (L1 selectable) on the output; for inpainting and
uncropping it covers the pixels to generate and the known pixels are copied into the output.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from palette_bench.methods import Method, register
from palette_bench.models.diffusion import masked_error
from palette_bench.train import UNetTrainer, network_from_state


def direct_output(net, condition: torch.Tensor, mask: torch.Tensor | None, squash: bool = False) -> torch.Tensor:
    """The network's prediction of the target from the condition, known pixels copied (bit-exact) from the input.

    `squash` puts the output through tanh, as pix2pix's generator does.
    """
    out = net(condition, torch.ones(condition.shape[0], device=condition.device))
    if squash:
        out = torch.tanh(out)
    return out if mask is None else torch.where(mask.bool(), out, condition)


def regression_loss(net, y0, condition, mask, p: int = 2) -> torch.Tensor:
    """Per-example |f(x) - y0|^p, averaged over the pixels to generate (all pixels without a mask)."""
    return masked_error(direct_output(net, condition, mask), y0, mask, p)


class DirectPredictor:
    """The method interface of regression and pix2pix: one deterministic output per input.

    predict(condition, mask, generator) -> images, all [B, 3, H, W] in [-1, 1] model space; the
    generator is accepted for the shared interface and not used (nothing is drawn).
    """

    def __init__(self, net: torch.nn.Module, device, squash: bool = False):
        self.net, self.device, self.squash = net.eval(), torch.device(device), squash

    @torch.no_grad()
    def predict(self, condition: torch.Tensor, mask: torch.Tensor | None, generator=None) -> torch.Tensor:
        mask = None if mask is None else mask.to(self.device)
        out = direct_output(self.net, condition.to(self.device), mask, self.squash)
        return out.clamp(-1, 1).cpu()


class RegressionTrainer(UNetTrainer):
    """Palette's optimizer, warm-up and EMA on the direct prediction's loss."""

    def loss(self, batch: dict) -> torch.Tensor:
        mask = None if batch["mask"] is None else batch["mask"].to(self.device)
        y0, condition = batch["y0"].to(self.device), batch["condition"].to(self.device)
        return regression_loss(self.net, y0, condition, mask, p=2 if self.cfg.regression.loss == "l2" else 1).mean()


@register
class Regression(Method):
    name = "regression"
    section = "regression"
    uses_ema = True

    def network(self, cfg):
        return replace(cfg.model, in_channels=3)  # the condition only: no noisy y_t

    def trainer(self, cfg, device):
        return RegressionTrainer(cfg, device)

    def predictor(self, cfg, state, device):
        return DirectPredictor(network_from_state(cfg, state, device), device)
