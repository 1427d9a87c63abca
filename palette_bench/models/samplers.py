"""Samplers for Palette: ancestral (DDPM) and DDIM here, DPM-Solver++(2M) and EDM's Heun in solvers.py, with one
signature (k-diffusion style):

    sample(model, y_T, schedule, extra_args, generators, callback=None, parameterization="eps") -> y_0

model(x, gamma) -> its output with x = cat([condition, y_t]) and gamma a float32 [B] tensor; the
output is eps_hat, v_hat or y0_hat as `parameterization` says, read through diffusion.eps_and_y0.
extra_args: condition [B, 3, H, W]; mask [B, 1, H, W] (1 = generate) or None; y0 [B, 3, H, W], the
image holding the known pixels (required with a mask; for Palette the condition itself).
generators: one per sample; every draw for sample b comes from generators[b], so a sample's result
does not depend on which other samples share its batch.
Steps run t = T..1 over the schedule's gammas, with gamma_0 = 1. callback, if given, sees each
step as dict(step=i, t=t, y_t=the state the step starts from (at gamma_t), y0_hat=its clipped
clean-image estimate), like k-diffusion's callbacks; the final y_0 is the return value.

Where the steps sit on the gamma axis is the schedule's business (SCHEDULES below): Palette's
respaced inference schedule, or steps spread evenly in log-SNR or by EDM's rule over the range of
gamma the network was trained on.
"""

from __future__ import annotations

import math

import torch

from palette_bench.models.diffusion import (
    SAMPLE_SCHEDULE,
    TRAIN_SCHEDULE,
    NoiseSchedule,
    draw_noise,
    eps_and_y0,
    karras_schedule,
    linear_schedule,
    logsnr_schedule,
    network_input,
)
from palette_bench.models.sampler_io import gamma_batch as _gamma_batch
from palette_bench.models.sampler_io import keep_known as _keep_known
from palette_bench.models.sampler_io import unpack as _unpack
from palette_bench.models.solvers import dpmpp_2m_sample, heun_sample


def sampling_schedule(steps: int, base=SAMPLE_SCHEDULE) -> NoiseSchedule:
    """Palette's 1000-step inference schedule (betas 1e-4..0.09) respaced to `steps` steps."""
    return linear_schedule(**base).respaced(steps)


# Each schedule maps (steps, training schedule, inference schedule) to the sampler's NoiseSchedule.
# "paper" respaces the inference schedule, which ends at gamma_T ~ 6.6e-21, far below the smallest
# gamma training draws (~4.4e-5); the others stay within the trained range [gamma_T, gamma_1] of the
# training schedule, so the network is never asked about a noise level it has not seen.
def _trained_range(train: NoiseSchedule) -> tuple[float, float]:
    return train.gammas[-1].item(), train.gammas[0].item()


SCHEDULES = {
    "paper": lambda steps, train, inference: inference.respaced(steps),
    "logsnr": lambda steps, train, inference: logsnr_schedule(steps, *_trained_range(train)),
    "karras": lambda steps, train, inference: karras_schedule(steps, *_trained_range(train)),
}


def step_schedule(name: str, steps: int, train: NoiseSchedule | None = None, inference: NoiseSchedule | None = None) -> NoiseSchedule:
    """The `steps`-step schedule `name` (see SCHEDULES); train and inference default to Palette's."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule {name!r} is not one of {list(SCHEDULES)}")
    train = linear_schedule(**TRAIN_SCHEDULE) if train is None else train
    inference = linear_schedule(**SAMPLE_SCHEDULE) if inference is None else inference
    return SCHEDULES[name](steps, train, inference)


@torch.no_grad()
def ancestral_sample(model, y_T, schedule: NoiseSchedule, extra_args: dict, generators, callback=None, parameterization: str = "eps") -> torch.Tensor:
    """Ancestral sampling (Ho et al. 2020, Algorithm 2; Palette's sampler), posterior written in gamma terms."""
    condition, mask, y0 = _unpack(extra_args, y_T)
    gammas, betas, alphas = schedule.gammas.tolist(), schedule.betas.tolist(), schedule.alphas.tolist()  # float64 maths
    T = len(schedule)
    y_t = _keep_known(y_T, mask, y0)
    for i, t in enumerate(range(T, 0, -1)):
        gamma_t, beta_t, alpha_t = gammas[t - 1], betas[t - 1], alphas[t - 1]
        gamma_prev = gammas[t - 2] if t > 1 else 1.0
        output = model(network_input(condition, y_t, y0, mask, gamma_t, parameterization), _gamma_batch(gamma_t, y_t))
        # the clean-image estimate (DDPM Eq. 15 for eps), clipped to the image range
        y0_hat = eps_and_y0(output, y_t, gamma_t, parameterization)[1].clamp(-1.0, 1.0)
        if callback is not None:
            callback(dict(step=i, t=t, y_t=y_t, y0_hat=y0_hat))
        # posterior q(y_{t-1} | y_t, y0_hat): mean and variance of DDPM Eqs. 6-7
        coef_y0 = math.sqrt(gamma_prev) * beta_t / (1.0 - gamma_t)
        coef_yt = math.sqrt(alpha_t) * (1.0 - gamma_prev) / (1.0 - gamma_t)
        mean = coef_y0 * y0_hat + coef_yt * y_t
        if t > 1:  # Algorithm 2, line 3: z ~ N(0, I) if t > 1, else z = 0
            variance = beta_t * (1.0 - gamma_prev) / (1.0 - gamma_t)
            z = draw_noise(y_t.shape[1:], generators, dtype=y_t.dtype, device=y_t.device)
            y_prev = mean + math.sqrt(variance) * z
        else:
            y_prev = mean
        y_t = _keep_known(y_prev, mask, y0)
    return _keep_known(y_t.clamp(-1.0, 1.0), mask, y0)


@torch.no_grad()
def ddim_sample(model, y_T, schedule: NoiseSchedule, extra_args: dict, generators, callback=None, eta: float = 0.0, parameterization: str = "eps") -> torch.Tensor:
    """DDIM (Song et al. 2021, Eq. 12 with sigma of Eq. 16): eta = 0 deterministic, eta = 1 DDPM-like."""
    condition, mask, y0 = _unpack(extra_args, y_T)
    gammas = schedule.gammas.tolist()
    T = len(schedule)
    y_t = _keep_known(y_T, mask, y0)
    for i, t in enumerate(range(T, 0, -1)):
        gamma_t = gammas[t - 1]
        gamma_prev = gammas[t - 2] if t > 1 else 1.0
        output = model(network_input(condition, y_t, y0, mask, gamma_t, parameterization), _gamma_batch(gamma_t, y_t))
        # "predicted x0" of Eq. 12, clipped; the direction to y_t is recomputed from the clipped value
        y0_hat = eps_and_y0(output, y_t, gamma_t, parameterization)[1].clamp(-1.0, 1.0)
        eps_dir = (y_t - math.sqrt(gamma_t) * y0_hat) / math.sqrt(1.0 - gamma_t)
        if callback is not None:
            callback(dict(step=i, t=t, y_t=y_t, y0_hat=y0_hat))
        # Eq. 16: sigma_t = eta sqrt((1 - gamma_{t-1}) / (1 - gamma_t)) sqrt(1 - gamma_t / gamma_{t-1})
        sigma = eta * math.sqrt((1.0 - gamma_prev) / (1.0 - gamma_t)) * math.sqrt(1.0 - gamma_t / gamma_prev)
        # Eq. 12: y_{t-1} = sqrt(gamma_{t-1}) y0_hat + sqrt(1 - gamma_{t-1} - sigma^2) eps_dir + sigma z
        y_prev = math.sqrt(gamma_prev) * y0_hat + math.sqrt(max(1.0 - gamma_prev - sigma**2, 0.0)) * eps_dir
        if sigma > 0:  # no draws at eta = 0, nor at t = 1 where sigma = 0
            y_prev = y_prev + sigma * draw_noise(y_t.shape[1:], generators, dtype=y_t.dtype, device=y_t.device)
        y_t = _keep_known(y_prev, mask, y0)
    return _keep_known(y_t.clamp(-1.0, 1.0), mask, y0)


SAMPLERS = {"ancestral": ancestral_sample, "ddim": ddim_sample, "dpmpp-2m": dpmpp_2m_sample, "heun": heun_sample}


def nfe(sampler: str, steps: int) -> int:
    """Network evaluations per sample: one per step, but Heun's 2 per step less the last step's correction."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r} is not one of {list(SAMPLERS)}")
    return 2 * steps - 1 if sampler == "heun" else steps
