"""Palette (Saharia et al. 2022): the conditional diffusion model, trained with the loss of Eq. 2 and sampled by a sampler."""

from __future__ import annotations

from palette_bench.methods import Method, register
from palette_bench.models.diffusion import NoiseSchedule, draw_noise, linear_schedule, palette_loss, sample_gamma
from palette_bench.seeding import generator_for
from palette_bench.train import UNetTrainer


def schedules(cfg) -> tuple[NoiseSchedule, NoiseSchedule]:
    """The run's (training, inference) schedules from cfg.diffusion."""
    d = cfg.diffusion
    train = linear_schedule(d.train_schedule_steps, d.train_beta_start, d.train_beta_end)
    return train, linear_schedule(d.sample_schedule_steps, d.sample_beta_start, d.sample_beta_end)


def sampler_schedule(cfg) -> NoiseSchedule:
    """The steps the sampler takes: cfg.sample.schedule with cfg.sample.steps steps."""
    from palette_bench.models.samplers import step_schedule

    return step_schedule(cfg.sample.schedule, cfg.sample.steps, *schedules(cfg))


class PaletteTrainer(UNetTrainer):
    """E || f(x, sqrt(gamma) y0 + sqrt(1 - gamma) eps, gamma) - target ||_p^p, every draw keyed to (seed, step, j).

    The target is eps (Palette's), v or y0, as diffusion.parameterization says.
    """

    def loss(self, batch: dict):
        mask = None if batch["mask"] is None else batch["mask"].to(self.device)
        y0, condition = batch["y0"].to(self.device), batch["condition"].to(self.device)
        gens = [generator_for("train-noise", self.cfg.seed, batch["step"], j) for j in batch["j"]]
        d = self.cfg.diffusion
        gamma = sample_gamma(self.schedule, gens, d.noise_levels, (d.lognormal_mean, d.lognormal_std)).to(self.device)
        eps = draw_noise(batch["y0"].shape[1:], gens).to(self.device)
        p = 2 if d.loss == "l2" else 1
        loss = palette_loss(self.net, y0, condition, mask, gamma, eps, p, d.parameterization, d.loss_weighting, d.min_snr_gamma)
        return loss.mean()


@register
class Palette(Method):
    name = "palette"
    section = "diffusion"
    stochastic = True
    uses_ema = True

    def network(self, cfg):
        return cfg.model  # sees [y_t, condition]: 6 input channels

    def trainer(self, cfg, device):
        return PaletteTrainer(cfg, device)

    def predictor(self, cfg, state, device):
        from palette_bench.sample import PaletteSampler
        from palette_bench.train import network_from_state

        model = network_from_state(cfg, state, device)
        s = cfg.sample
        return PaletteSampler(model, s.sampler, sampler_schedule(cfg), device, s.eta, cfg.diffusion.parameterization, s.churn)
