"""Higher-order solvers of the probability-flow ODE: DPM-Solver++(2M) and EDM's Heun (with optional churn).

They share the samplers' signature (see models/samplers.py):

    sample(model, y_T, schedule, extra_args, generators, callback=None, parameterization="eps") -> y_0

and their conventions: the network's output is read through diffusion.eps_and_y0 and its clean-image
estimate clipped to [-1, 1]; known pixels are pasted back bit-exact after every step; steps run
t = T..1 over the schedule's gammas and end at gamma_0 = 1, where the last step returns the clipped
estimate (the ODE's end at sigma = 0, where both solvers reduce to that estimate).

Notation at a noise level gamma: alpha = sqrt(gamma), sigma = sqrt(1 - gamma), so that
y = alpha y0 + sigma eps; lambda = log(alpha / sigma), half the log-SNR; and EDM's noise level
s = sigma / alpha, at which x = y / alpha = y0 + s eps (Karras et al. 2022, Eq. 1 with s(t) = 1).
Coefficients are Python floats (float64 maths); the state keeps y_T's dtype.
"""

from __future__ import annotations

import math

import torch

from palette_bench.models.diffusion import NoiseSchedule, draw_noise, eps_and_y0, network_input
from palette_bench.models.sampler_io import gamma_batch, keep_known, unpack


def _levels(schedule: NoiseSchedule) -> list[float]:
    """gamma_T, ..., gamma_1, 1.0: the levels the steps run through, noisiest first."""
    return schedule.gammas.tolist()[::-1] + [1.0]


def _denoiser(model, condition, mask, y0, parameterization):
    """D(y, gamma): the network's clipped clean-image estimate at state y and level gamma (a float)."""

    def denoise(y: torch.Tensor, gamma: float) -> torch.Tensor:
        output = model(network_input(condition, y, y0, mask, gamma, parameterization), gamma_batch(gamma, y))
        return eps_and_y0(output, y, gamma, parameterization)[1].clamp(-1.0, 1.0).to(y.dtype)

    return denoise


def _lam(gamma: float) -> float:
    """lambda = log(alpha / sigma) = logit(gamma) / 2."""
    return 0.5 * (math.log(gamma) - math.log1p(-gamma))


@torch.no_grad()
def dpmpp_2m_sample(model, y_T, schedule: NoiseSchedule, extra_args: dict, generators, callback=None, parameterization: str = "eps") -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): multistep, second order, in data (y0) prediction.

    With h = lambda_{t-1} - lambda_t and the estimates D_t (this step) and D_{t+1} (the step before, at
    distance h' in lambda), r = h' / h:

        y_{t-1} = (sigma_{t-1} / sigma_t) y_t + alpha_{t-1} (1 - e^{-h}) ((1 + 1/(2r)) D_t - 1/(2r) D_{t+1})

    The first step has no D_{t+1} and takes the first-order update, which is DDIM's; the last, to
    sigma = 0, returns D_1. One network call per step.
    """
    condition, mask, y0 = unpack(extra_args, y_T)
    denoise = _denoiser(model, condition, mask, y0, parameterization)
    levels = _levels(schedule)
    T = len(schedule)
    y_t = keep_known(y_T, mask, y0)
    previous = None  # (D_{t+1}, h of the step that led here)
    for i in range(T):
        gamma_t, gamma_prev = levels[i], levels[i + 1]
        d_t = denoise(y_t, gamma_t)
        if callback is not None:
            callback(dict(step=i, t=T - i, y_t=y_t, y0_hat=d_t))
        if gamma_prev == 1.0:
            y_next = d_t
        else:
            h = _lam(gamma_prev) - _lam(gamma_t)
            d = d_t
            if previous is not None:
                r = previous[1] / h
                d = (1.0 + 0.5 / r) * d_t - (0.5 / r) * previous[0]
            sigma_ratio = math.sqrt((1.0 - gamma_prev) / (1.0 - gamma_t))
            y_next = sigma_ratio * y_t + math.sqrt(gamma_prev) * -math.expm1(-h) * d
            previous = (d_t, h)
        y_t = keep_known(y_next, mask, y0)
    return keep_known(y_t.clamp(-1.0, 1.0), mask, y0)


# EDM's stochastic sampler (Karras et al. 2022, Algorithm 2) with its ImageNet-64 settings (Table 5):
# churn applies at noise levels s in [S_TMIN, S_TMAX], and the added noise is scaled by S_NOISE.
S_TMIN, S_TMAX, S_NOISE = 0.05, 50.0, 1.003


def _edm_sigma(gamma: float) -> float:
    """EDM's noise level s = sqrt((1 - gamma) / gamma); 0 at gamma = 1."""
    return math.sqrt((1.0 - gamma) / gamma)


@torch.no_grad()
def heun_sample(model, y_T, schedule: NoiseSchedule, extra_args: dict, generators, callback=None, parameterization: str = "eps", churn: float = 0.0) -> torch.Tensor:
    """EDM's Heun sampler (Karras et al. 2022, Algorithms 1 and 2), second order, in x = y / alpha.

    With d(x, s) = (x - D(x, s)) / s, a step from s_t to s_{t-1} is
        x' = x + (s_{t-1} - s_t) d(x, s_t),   x_{t-1} = x + (s_{t-1} - s_t) (d(x, s_t) + d(x', s_{t-1})) / 2,
    and the last step, to s = 0, is the Euler step alone, which returns D. 2 T - 1 network calls.

    churn > 0 (EDM's S_churn) first raises the level to s_hat = s_t (1 + min(churn / T, sqrt 2 - 1)) by adding
    fresh noise of variance s_hat^2 - s_t^2 (scaled by S_NOISE) where S_TMIN <= s_t <= S_TMAX; s_hat is capped at the
    schedule's noisiest level, so the network is never asked about a level beyond the schedule.
    """
    condition, mask, y0 = unpack(extra_args, y_T)
    denoise = _denoiser(model, condition, mask, y0, parameterization)
    levels = _levels(schedule)
    T = len(schedule)
    s_max = _edm_sigma(levels[0])
    y_t = keep_known(y_T, mask, y0)
    for i in range(T):
        gamma_t, gamma_prev = levels[i], levels[i + 1]
        s_t, s_next = _edm_sigma(gamma_t), _edm_sigma(gamma_prev)
        x = y_t / math.sqrt(gamma_t)
        s_hat = s_t
        if churn > 0 and S_TMIN <= s_t <= S_TMAX:
            s_hat = min(s_t * (1.0 + min(churn / T, math.sqrt(2.0) - 1.0)), s_max)
            if s_hat > s_t:
                z = draw_noise(y_t.shape[1:], generators, dtype=y_t.dtype, device=y_t.device)
                x = x + math.sqrt(s_hat**2 - s_t**2) * S_NOISE * z
        gamma_hat = 1.0 / (1.0 + s_hat**2) if s_hat > s_t else gamma_t
        y_hat = keep_known(x * math.sqrt(gamma_hat), mask, y0) if s_hat > s_t else y_t
        d_hat = denoise(y_hat, gamma_hat)
        if callback is not None:
            callback(dict(step=i, t=T - i, y_t=y_t, y0_hat=d_hat))
        slope = (x - d_hat) / s_hat
        x_next = x + (s_next - s_hat) * slope
        if s_next > 0:  # Heun's correction, at the level the Euler step reached
            y_next = keep_known(x_next * math.sqrt(gamma_prev), mask, y0)
            slope_next = (x_next - denoise(y_next, gamma_prev)) / s_next
            x_next = x + (s_next - s_hat) * 0.5 * (slope + slope_next)
            y_t = keep_known(x_next * math.sqrt(gamma_prev), mask, y0)
        else:
            y_t = keep_known(d_hat, mask, y0)  # s = 0: x_next = D, and y = x there
    return keep_known(y_t.clamp(-1.0, 1.0), mask, y0)
