"""Palette's diffusion maths: noise schedules, the gamma draw, the forward process and the loss.

Palette (Saharia et al. 2022, Sec. 2) conditions the network on the continuous noise level gamma,
not on a step index t:  y_t = sqrt(gamma) y0 + sqrt(1 - gamma) eps,  with gamma near 1 = nearly clean.
The loss is  E || f(x, y_t, gamma) - eps ||_p^p  with p = 2 (default) or 1 (Palette Eq. 1).
The network may instead predict v = sqrt(gamma) eps - sqrt(1 - gamma) y0 (Salimans & Ho 2022) or
y0 itself: `target` gives what it regresses onto and `eps_and_y0` reads (eps_hat, y0_hat) back
from its output, for the loss and both samplers alike.
Schedules are kept in float64: gamma_T of the inference schedule is about 1e-20, far below what
float32 differences of nearby gammas can resolve.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

# Palette Sec. 4 / App. A: linear betas over 2000 steps for training, 1000 steps for inference.
TRAIN_SCHEDULE = dict(steps=2000, beta_start=1e-6, beta_end=0.01)
SAMPLE_SCHEDULE = dict(steps=1000, beta_start=1e-4, beta_end=0.09)


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: field-wise == on tensors is ambiguous
class NoiseSchedule:
    """A discrete noise schedule: betas[t - 1] = beta_t for t = 1..T (float64).

    `alphas` = 1 - betas, kept as its own field because a respaced step can shrink gamma by more
    than 1e16 (Palette's gamma_T is about 1e-20), and then 1 - alpha rounds to beta = 1.0 exactly
    while alpha itself is still exact. Left out, it is 1 - betas.
    """

    betas: torch.Tensor
    alphas: torch.Tensor | None = None

    def __post_init__(self):
        betas = torch.as_tensor(self.betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("every beta must lie in (0, 1]")
        alphas = 1.0 - betas if self.alphas is None else torch.as_tensor(self.alphas, dtype=torch.float64)
        if alphas.shape != betas.shape or not bool(((alphas > 0) & (alphas <= 1)).all()):
            raise ValueError("alphas must match betas in shape and lie in (0, 1] (gamma must stay above 0)")
        if not torch.allclose(alphas + betas, torch.ones_like(betas), rtol=0, atol=1e-12):
            raise ValueError("alphas must equal 1 - betas")
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "alphas", alphas)

    def __len__(self) -> int:
        return len(self.betas)

    @property
    def gammas(self) -> torch.Tensor:
        """gamma_t = prod_{s <= t} alpha_s = prod_{s <= t} (1 - beta_s) for t = 1..T (DDPM's alpha-bar), index t - 1."""
        return torch.cumprod(self.alphas, dim=0)

    def respaced(self, steps: int) -> NoiseSchedule:
        """A `steps`-step schedule on the same gamma curve (DDIM / guided-diffusion respacing, one section).

        Keeps gamma at `steps` evenly spaced indices of the T-step curve, always including t = 1 and
        t = T, and recomputes alpha_i = gamma_i / gamma_{i-1} (gamma_0 = 1), beta_i = 1 - alpha_i, so that the usual
        posterior formulas apply unchanged to the shorter chain.
        """
        T = len(self)
        if not 1 <= steps <= T:
            raise ValueError(f"cannot respace a {T}-step schedule to {steps} steps")
        if steps == T:
            return self
        if steps == 1:
            idx = np.array([T - 1])
        else:
            idx = np.round(np.linspace(0, T - 1, steps)).astype(np.int64)
        return schedule_from_gammas(self.gammas[torch.from_numpy(idx)])


def schedule_from_gammas(gammas) -> NoiseSchedule:
    """The schedule whose cumulative products are `gammas` (strictly decreasing, in (0, 1)).

    alpha_i = gamma_i / gamma_{i-1} with gamma_0 = 1, beta_i = 1 - alpha_i: any placement of steps on
    the gamma axis becomes a chain the ancestral and DDIM posteriors apply to unchanged.
    """
    gammas = torch.as_tensor(gammas, dtype=torch.float64)
    alphas = gammas / torch.cat([gammas.new_ones(1), gammas[:-1]])
    return NoiseSchedule(1.0 - alphas, alphas)


def linear_schedule(steps: int, beta_start: float, beta_end: float) -> NoiseSchedule:
    """Betas evenly spaced from beta_start to beta_end over `steps` steps (DDPM / Palette)."""
    return NoiseSchedule(torch.linspace(beta_start, beta_end, steps, dtype=torch.float64))


def logit(gamma: float) -> float:
    """log-SNR = log(gamma / (1 - gamma)), the noise-level axis of Kingma et al. 2021."""
    return math.log(gamma) - math.log1p(-gamma)


def _endpoints(steps: int, gamma_min: float, gamma_max: float) -> torch.Tensor:
    """Positions 0..1 of `steps` points from the cleanest (gamma_max) to the noisiest (gamma_min) end; one step = the noisiest."""
    if steps < 1 or not 0 < gamma_min < gamma_max < 1:
        raise ValueError(f"need steps >= 1 and 0 < gamma_min < gamma_max < 1, got {steps}, {gamma_min}, {gamma_max}")
    return torch.ones(1, dtype=torch.float64) if steps == 1 else torch.linspace(0, 1, steps, dtype=torch.float64)


def logsnr_schedule(steps: int, gamma_min: float, gamma_max: float) -> NoiseSchedule:
    """Steps evenly spaced in log-SNR from gamma_max (t = 1) down to gamma_min (t = T).

    Clamped to [gamma_min, gamma_max]: the sigmoid of the end points may round one ulp outside.
    """
    u = _endpoints(steps, gamma_min, gamma_max)
    lam = logit(gamma_max) + u * (logit(gamma_min) - logit(gamma_max))
    return schedule_from_gammas(torch.sigmoid(lam).clamp(gamma_min, gamma_max))


def karras_schedule(steps: int, gamma_min: float, gamma_max: float, rho: float = 7.0) -> NoiseSchedule:
    """EDM's spacing (Karras et al. 2022, Eq. 5) in sigma = sqrt((1 - gamma) / gamma), from gamma_max (t = 1) to gamma_min (t = T).

    rho = 7 crowds the steps at low noise, where EDM found the truncation error matters most.
    """
    u = _endpoints(steps, gamma_min, gamma_max)
    s_min, s_max = (math.sqrt((1.0 - g) / g) ** (1.0 / rho) for g in (gamma_max, gamma_min))
    sigma = (s_min + u * (s_max - s_min)) ** rho  # increasing with t, as the schedule runs t = 1..T
    return schedule_from_gammas((1.0 / (1.0 + sigma.square())).clamp(gamma_min, gamma_max))


def draw_noise(shape_per_example, generators: list[torch.Generator], dtype=torch.float32, device=None) -> torch.Tensor:
    """One N(0, 1) draw of `shape_per_example` per example from its own generator, stacked to [B, ...].

    Each example's noise depends only on its generator, never on the batch it shares.
    """
    draws = [torch.randn(tuple(shape_per_example), generator=g, dtype=dtype, device=g.device) for g in generators]
    out = torch.stack(draws)
    return out if device is None else out.to(device)


NOISE_LEVELS = ("paper", "lognormal", "logsnr-uniform")


def sample_gamma(schedule: NoiseSchedule, generators: list[torch.Generator], kind: str = "paper", lognormal: tuple[float, float] = (-1.2, 1.2)) -> torch.Tensor:
    """The noise level gamma of each training example, one generator per example (a draw depends on the example, not on the batch).

    "paper": Palette / WaveGrad's draw, t ~ U{1..T}, then gamma ~ U(gamma_t, gamma_{t-1}), gamma_0 = 1.
    "lognormal": EDM's (Karras et al. 2022, Table 1), ln sigma ~ N(P_mean, P_std) with sigma = sqrt((1 - gamma) / gamma),
    (P_mean, P_std) = `lognormal`, (-1.2, 1.2) in EDM. "logsnr-uniform": log-SNR = logit(gamma) uniform over the
    schedule's range (Kingma et al. 2021's uniform weighting over log-SNR). Both are clamped to the schedule's
    [gamma_T, gamma_1], the levels the network's gamma embedding is trained on and the samplers step inside.
    Returns float32 [B] on the CPU (the caller moves it).
    """
    if kind not in NOISE_LEVELS:
        raise ValueError(f"noise levels {kind!r} is not one of {list(NOISE_LEVELS)}")
    gammas = schedule.gammas
    lo_gamma, hi_gamma = float(gammas[-1]), float(gammas[0])
    upper = torch.cat([gammas.new_ones(1), gammas[:-1]])  # gamma_{t-1}
    out = []
    for g in generators:
        if kind == "paper":
            t = int(torch.randint(1, len(schedule) + 1, (), generator=g, device=g.device))
            u = float(torch.rand((), generator=g, dtype=torch.float64, device=g.device))
            lo, hi = float(gammas[t - 1]), float(upper[t - 1])
            out.append(lo + u * (hi - lo))
            continue
        if kind == "lognormal":
            z = float(torch.randn((), generator=g, dtype=torch.float64, device=g.device))
            log_snr = -2.0 * (lognormal[0] + lognormal[1] * z)  # SNR = 1 / sigma^2
        else:
            u = float(torch.rand((), generator=g, dtype=torch.float64, device=g.device))
            log_snr = logit(lo_gamma) + u * (logit(hi_gamma) - logit(lo_gamma))
        out.append(min(max(1.0 / (1.0 + math.exp(-log_snr)), lo_gamma), hi_gamma))
    return torch.tensor(out, dtype=torch.float32)


def _per_example(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[B] -> [B, 1, 1, ...] in `like`'s dtype and device, for broadcasting over an image batch."""
    return values.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(y0: torch.Tensor, gamma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Forward process (Palette Sec. 2): y_t = sqrt(gamma) y0 + sqrt(1 - gamma) eps, gamma [B]."""
    gamma = gamma.to(torch.float64)  # 1 - gamma in float64: gamma can sit within 1e-6 of 1
    return _per_example(gamma.sqrt(), y0) * y0 + _per_example((1.0 - gamma).sqrt(), eps) * eps


def network_input(condition, y_t, y0=None, mask=None, gamma=None, parameterization: str = "eps") -> torch.Tensor:
    """The network's input cat([condition, c_in y_t'], dim=1).

    Inpainting/uncropping: y_t' = mask * y_t + (1 - mask) * y0 (known pixels exactly as y0, as
    Palette does); `mask` is binary, 1 = generate. Without a mask y_t' = y_t. c_in is 1 except for
    the "edm" parameterization, which needs `gamma` (see edm_coefficients).
    """
    if mask is not None:
        if y0 is None:
            raise ValueError("network_input: a mask needs y0, the image that holds the known pixels")
        y_t = torch.where(mask.bool(), y_t, y0)  # bit-exact y0 where mask = 0
    if parameterization == "edm":
        if gamma is None:
            raise ValueError("network_input: the edm parameterization scales y_t by c_in, which needs gamma")
        c_in = edm_coefficients(gamma, y_t)[0]
        y_t = y_t * (c_in if isinstance(c_in, float) else c_in.to(y_t.dtype))
    return torch.cat([condition, y_t], dim=1)


# ---- what the network predicts ----------------------------------------------------------------
# eps: Palette's (and DDPM's) choice. At low gamma, y0_hat = (y_t - sqrt(1 - gamma) eps_hat) / sqrt(gamma)
# divides the network's error by sqrt(gamma), so the clean-image estimate of a small network is poor
# exactly where the sampler starts. v keeps both estimates bounded at every gamma; x0 predicts y0 directly.
# edm: Karras et al. 2022's preconditioning (Table 1, "Ours") written in Palette's variance-preserving
# coordinates; v is the same preconditioning with sigma_data = 1 instead of EDM's 0.5.
PARAMETERIZATIONS = ("eps", "v", "x0", "edm")
EDM_SIGMA_DATA = 0.5  # EDM's standard deviation of the data, for images in [-1, 1]


def _coefficients(gamma, like: torch.Tensor):
    """(sqrt(gamma), sqrt(1 - gamma)): Python floats for a scalar gamma (the samplers' float64 maths), else [B, 1, ...] tensors."""
    if isinstance(gamma, (int, float)):
        return math.sqrt(gamma), math.sqrt(1.0 - gamma)
    gamma = torch.as_tensor(gamma).to(torch.float64)  # 1 - gamma in float64: gamma can sit within 1e-6 of 1
    return _per_example(gamma.sqrt(), like), _per_example((1.0 - gamma).sqrt(), like)


def edm_coefficients(gamma, like: torch.Tensor, sigma_data: float = EDM_SIGMA_DATA):
    """EDM's (c_in, c_skip, c_out) for y_t = a y0 + b eps, a = sqrt(gamma), b = sqrt(1 - gamma).

    EDM writes x = y0 + sigma n with sigma = b / a, i.e. x = y_t / a, and D(x) = c_skip x + c_out F(c_in x)
    with c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2), c_in = 1 / sqrt(sigma^2 + sd^2).
    With d = sqrt(b^2 + sd^2 a^2) that is, on y_t: c_in x = y_t / d, c_skip x = sd^2 a y_t / d^2, c_out = b sd / d.
    Returned as (1 / d, sd^2 a / d^2, b sd / d), the factors of y_t, y_t and F; sd = 1 gives (1, a, b): y0_hat = a y_t + b F, v's.
    """
    a, b = _coefficients(gamma, like)
    if isinstance(a, float):
        d = math.sqrt(b * b + sigma_data**2 * a * a)
    else:
        d = (b.square() + sigma_data**2 * a.square()).sqrt()
    return 1.0 / d, sigma_data**2 * a / (d * d), b * sigma_data / d


def _check(parameterization: str) -> None:
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization {parameterization!r} is not one of {list(PARAMETERIZATIONS)}")


def target(y0: torch.Tensor, eps: torch.Tensor, gamma, parameterization: str = "eps") -> torch.Tensor:
    """What the network regresses onto: eps, v = sqrt(gamma) eps - sqrt(1 - gamma) y0 (Salimans & Ho 2022, Sec. 4), or y0."""
    _check(parameterization)
    if parameterization == "eps":
        return eps
    if parameterization == "x0":
        return y0
    a, b = _coefficients(gamma, y0)
    if parameterization == "edm":  # F* = (y0 - c_skip x) / c_out, so that D(x) = y0 exactly
        _, skip, out = edm_coefficients(gamma, y0)
        return (y0 - skip * (a * y0 + b * eps)) / out
    return a * eps - b * y0


def eps_and_y0(output: torch.Tensor, y_t: torch.Tensor, gamma, parameterization: str = "eps"):
    """(eps_hat, y0_hat) from the network's output at y_t = sqrt(gamma) y0 + sqrt(1 - gamma) eps; unclipped.

    gamma: a Python float (one level for the batch, as the samplers use it) or a [B] tensor.
    """
    _check(parameterization)
    a, b = _coefficients(gamma, y_t)
    if parameterization == "eps":  # DDPM Eq. 15
        return output, (y_t - b * output) / a
    if parameterization == "x0":
        return (y_t - a * output) / b, output
    if parameterization == "edm":
        _, skip, out = edm_coefficients(gamma, y_t)
        y0_hat = skip * y_t + out * output
        return (y_t - a * y0_hat) / b, y0_hat
    # v: rotate (y_t, v) back to (eps, y0), since y_t = a y0 + b eps and v = a eps - b y0 with a^2 + b^2 = 1
    return b * y_t + a * output, a * y_t - b * output


def min_snr_weight(gamma: torch.Tensor, parameterization: str = "eps", k: float = 5.0, p: int = 2) -> torch.Tensor:
    """Min-SNR-gamma loss weight [B] (Hang et al. 2023), SNR = gamma / (1 - gamma), float64, for the loss |.|^p.

    The paper's weight min(SNR, k) is for an x0 loss. For one estimate y0_hat, with y_t fixed, the errors
    of the three outputs are proportional pixel by pixel:
        eps_hat - eps = -sqrt(SNR) (y0_hat - y0),   v_hat - v = -sqrt(SNR + 1) (y0_hat - y0)
    (eps = (y_t - sqrt(gamma) y0) / sqrt(1 - gamma), v = sqrt(gamma) eps - sqrt(1 - gamma) y0, 1 / (1 - gamma) = SNR + 1).
    A |.|^p loss raises that factor to the p-th power, so the same weighting reads
    min(SNR, k) / SNR^(p/2) on an eps loss and min(SNR, k) / (SNR + 1)^(p/2) on a v loss:
    min(SNR, k) / SNR and min(SNR, k) / (SNR + 1) for L2, min(SNR, k) / sqrt(SNR) and
    min(SNR, k) / sqrt(SNR + 1) for L1.
    """
    _check(parameterization)
    if p not in (1, 2):
        raise ValueError(f"min_snr_weight: p must be 1 or 2, got {p}")
    gamma = torch.as_tensor(gamma).to(torch.float64)
    snr = gamma / (1.0 - gamma)  # gamma = 1 gives inf, and weight 0 (eps, v) or k (x0), never NaN
    clipped = snr.clamp(max=k)
    if parameterization == "eps":
        return clipped / snr.pow(p / 2)
    if parameterization == "v":
        return clipped / (snr + 1.0).pow(p / 2)
    if parameterization == "edm":  # F_hat - F* = (y0_hat - y0) / c_out
        return clipped * edm_coefficients(gamma, gamma)[2].pow(p)
    return clipped


LOSS_WEIGHTINGS = ("none", "min-snr")


def palette_loss(model, y0, condition, mask, gamma, eps, p: int = 2, parameterization: str = "eps", weighting: str = "none", min_snr_gamma: float = 5.0) -> torch.Tensor:
    """Per-example loss [B]: mean of |model(x, gamma) - target|^p over (masked) pixels and channels (Palette Eq. 1).

    The target is eps (Palette's), v or y0 (see `target`). With a mask only pixels to generate count:
    sum(mask * err) / (C * sum(mask)). weighting "min-snr" multiplies each example by
    `min_snr_weight` for this p and parameterization. The caller averages over the batch.
    """
    if p not in (1, 2):
        raise ValueError(f"palette_loss: p must be 1 or 2, got {p}")
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"loss weighting {weighting!r} is not one of {list(LOSS_WEIGHTINGS)}")
    y_t = q_sample(y0, gamma, eps)
    output = model(network_input(condition, y_t, y0, mask, gamma, parameterization), gamma)
    loss = masked_error(output, target(y0, eps, gamma, parameterization), mask, p)
    if weighting == "min-snr":
        loss = loss * min_snr_weight(gamma, parameterization, min_snr_gamma, p).to(loss)
    return loss


def masked_error(prediction, target, mask, p: int = 2) -> torch.Tensor:
    """Per-example mean of |prediction - target|^p over pixels and channels, only where mask = 1 if a mask is given.

    With a mask: sum(mask * err) / (C * sum(mask)), so known pixels carry no loss and the size of
    the hole does not weigh an example.
    """
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    diff = prediction - target
    err = diff.abs() if p == 1 else diff.square()
    dims = tuple(range(1, err.ndim))
    if mask is None:
        return err.mean(dim=dims)
    total = (mask * err).sum(dim=dims)
    count = err.shape[1] * mask.sum(dim=dims)
    return total / count.clamp_min(1e-12)  # an empty mask has total 0, so its loss is 0
