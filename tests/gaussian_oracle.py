"""Gaussian data: a case where the exact denoiser and the exact probability-flow ODE are known in closed form.

Every pixel of y0 is independent, y0 ~ N(mu, s^2), with mu and s per channel (or one pair for all).
At y_t = sqrt(gamma) y0 + sqrt(1 - gamma) eps the pair (y0, y_t) is jointly Gaussian, with
y_t ~ N(sqrt(gamma) mu, gamma s^2 + 1 - gamma), so

    E[y0 | y_t]   = mu + sqrt(gamma) s^2 (y_t - sqrt(gamma) mu) / (gamma s^2 + 1 - gamma)
    Var[y0 | y_t] = s^2 (1 - gamma) / (gamma s^2 + 1 - gamma)

and the MMSE network, the best any training could reach, returns the eps, v or y0 that goes with
E[y0 | y_t] at y_t. Unlike a network that knows one fixed y0, it leaves every step of a sampler
something to do: the final image depends on y_T and on every draw, so a wrong coefficient at any
step moves it.

Probability-flow ODE. In x = y / sqrt(gamma), sigma^2 = (1 - gamma) / gamma the forward process
reads x = y0 + sigma eps, and the PF-ODE is dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al.
2022, Eq. 1 with s(t) = 1, sigma(t) = t), D = E[y0 | x] = mu + s^2 (x - mu) / (s^2 + sigma^2). So
u = x - mu obeys du/dsigma = u sigma / (s^2 + sigma^2), solved by
u(sigma) = u(sigma') sqrt((s^2 + sigma^2) / (s^2 + sigma'^2)); back in y,

    y(gamma) = sqrt(gamma) mu + sqrt((gamma s^2 + 1 - gamma) / (gamma' s^2 + 1 - gamma')) (y(gamma') - sqrt(gamma') mu):

the flow standardises y against its marginal at gamma' and rescales it to the marginal at gamma.
DDIM with eta = 0 is Euler's method on this ODE in sigma (x_{t-1} = x_t + (sigma_{t-1} - sigma_t) eps_hat),
so its error from `pf_ode` falls as 1 / steps.

Everything is float64. The samplers hand the network gamma as float32, so for answers exact to
float64 a test runs the sampler on `float32_levels(schedule)`, whose gammas float32 holds exactly.
"""

from __future__ import annotations

import math

import torch

from palette_bench.models.diffusion import NoiseSchedule, edm_coefficients, schedule_from_gammas, target


def _level(gamma, like: torch.Tensor) -> torch.Tensor:
    """gamma (a float, or a [B] tensor as the samplers pass it) as float64, broadcastable against `like` [B, C, H, W]."""
    if isinstance(gamma, (int, float)):
        return torch.tensor(float(gamma), dtype=torch.float64)
    return torch.as_tensor(gamma).to(torch.float64).reshape(-1, *([1] * (like.ndim - 1)))


class GaussianOracle:
    """The exact denoiser of y0 ~ N(mean, std^2) per pixel, called as the samplers call a network: net(cat([condition, y_t]), gamma).

    mean, std: one value, or one per channel. parameterization: what the output is ("eps", "v",
    "x0" or "edm"), read back by the sampler with the same parameterization. `calls` counts the network calls.
    """

    def __init__(self, mean, std, parameterization: str = "eps"):
        self.mean = torch.as_tensor(mean, dtype=torch.float64).reshape(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float64).reshape(1, -1, 1, 1)
        if self.mean.shape != self.std.shape or not bool((self.std > 0).all()):
            raise ValueError("mean and std need the same number of values, and std > 0")
        self.parameterization = parameterization
        self.calls = 0

    def marginal(self, gamma, like: torch.Tensor):
        """(mean, variance) of y_t at gamma: sqrt(gamma) mu and gamma s^2 + 1 - gamma."""
        g = _level(gamma, like)
        return g.sqrt() * self.mean, g * self.std.square() + 1.0 - g

    def posterior_mean(self, y_t: torch.Tensor, gamma) -> torch.Tensor:
        """E[y0 | y_t] at gamma."""
        g = _level(gamma, y_t)
        s2 = self.std.square()
        return self.mean + g.sqrt() * s2 * (y_t.to(torch.float64) - g.sqrt() * self.mean) / (g * s2 + 1.0 - g)

    def posterior_variance(self, gamma, like: torch.Tensor) -> torch.Tensor:
        """Var[y0 | y_t] at gamma (the same for every y_t)."""
        g = _level(gamma, like)
        s2 = self.std.square()
        return s2 * (1.0 - g) / (g * s2 + 1.0 - g)

    def __call__(self, x: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """The output for the network input x = cat([condition, y_t], dim=1): eps_hat, v_hat or y0_hat of E[y0 | y_t], float64."""
        self.calls += 1
        y_t = x[:, x.shape[1] // 2 :].to(torch.float64)
        g = _level(gamma, y_t)
        if self.parameterization == "edm":  # the input holds c_in y_t
            y_t = y_t / edm_coefficients(g.flatten(), y_t)[0]
        y0_hat = self.posterior_mean(y_t, g.flatten())
        eps_hat = (y_t - g.sqrt() * y0_hat) / (1.0 - g).sqrt()
        return target(y0_hat, eps_hat, g.flatten(), self.parameterization)

    def reverse_mean(self, y_t: torch.Tensor, gamma_t: float, gamma_prev: float) -> torch.Tensor:
        """E[y_{t-1} | y_t], the mean of the true reverse step from gamma_t to gamma_prev > gamma_t.

        By Gaussian conditioning, with no diffusion posterior formula: y_t = sqrt(alpha) y_{t-1} + sqrt(1 - alpha) eps'
        with alpha = gamma_t / gamma_prev, so Cov(y_{t-1}, y_t) = sqrt(alpha) Var(y_{t-1}) and
        E[y_{t-1} | y_t] = m_{t-1} + sqrt(alpha) v_{t-1} / v_t (y_t - m_t).
        """
        (m_prev, v_prev), (m_t, v_t) = self.marginal(gamma_prev, y_t), self.marginal(gamma_t, y_t)
        return m_prev + math.sqrt(gamma_t / gamma_prev) * v_prev / v_t * (y_t.to(torch.float64) - m_t)

    def pf_ode(self, y: torch.Tensor, gamma_from: float, gamma_to: float) -> torch.Tensor:
        """The exact probability-flow ODE solution at gamma_to from the state y at gamma_from (see the module docstring)."""
        (m_from, v_from), (m_to, v_to) = self.marginal(gamma_from, y), self.marginal(gamma_to, y)
        return m_to + (v_to / v_from).sqrt() * (y.to(torch.float64) - m_from)


def float32_levels(schedule: NoiseSchedule) -> NoiseSchedule:
    """The schedule with its gammas rounded to float32, so that the float32 gamma the network gets is the sampler's own.

    Left unrounded, the logsnr schedule's gamma_1 = 1 - 1e-6 reaches the network as 1 - 1.013e-6, 1.3%
    off in 1 - gamma: the oracle would answer for that level and the sampler read the answer at its own.
    """
    gammas = schedule.gammas.to(torch.float32).to(torch.float64)
    if not bool((gammas[1:] < gammas[:-1]).all()):
        raise ValueError("two of the schedule's gammas round to the same float32 value")
    return schedule_from_gammas(gammas)


def standard_errors(n: int) -> tuple[float, float]:
    """Standard errors of the mean and of the variance of n independent N(0, 1) draws: 1 / sqrt(n), sqrt(2 / n)."""
    return 1.0 / math.sqrt(n), math.sqrt(2.0 / n)
