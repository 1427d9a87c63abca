"""Ancestral and DDIM samplers: known pixels, batch-size invariance, golden values, determinism, perfect-denoiser recovery,
for every step schedule and every parameterization of the network's output; and, with Gaussian data whose exact
denoiser and probability-flow ODE are known in closed form (gaussian_oracle.py), every step against those closed forms."""

import inspect
import math
from unittest import mock

import numpy as np

import pytest
import torch
import torch.nn.functional as F

from gaussian_oracle import GaussianOracle, float32_levels, standard_errors
from palette_bench.models.diffusion import PARAMETERIZATIONS, SAMPLE_SCHEDULE, TRAIN_SCHEDULE, draw_noise, edm_coefficients, eps_and_y0, linear_schedule, network_input, target
from palette_bench.models.samplers import SAMPLERS, SCHEDULES, ancestral_sample, ddim_sample, sampling_schedule, step_schedule
from palette_bench.models.solvers import dpmpp_2m_sample, heun_sample
from palette_bench.seeding import generator_for

# (name, sampler) pairs covering every sampler and the stochastic variants of DDIM and Heun
VARIANTS = {
    "ancestral": ancestral_sample,
    "ddim": ddim_sample,
    "ddim-eta1": lambda *a, **k: ddim_sample(*a, **k, eta=1.0),
    "dpmpp-2m": dpmpp_2m_sample,
    "heun": heun_sample,
    "heun-churn": lambda *a, **k: heun_sample(*a, **k, churn=40.0),
}


def gens(tag, n, start=0):
    return [generator_for("test-samplers", tag, b) for b in range(start, start + n)]


class TinyConvNet:
    """A fixed-weight 2-layer conv net conditioned on gamma, weights drawn from a seeded generator (float32)."""

    def __init__(self, seed=0, width=16, dtype=torch.float32):
        g = torch.Generator().manual_seed(seed)
        self.w1 = (torch.randn(width, 6, 3, 3, generator=g) * 0.2).to(dtype)
        self.b1 = (torch.randn(width, generator=g) * 0.1).to(dtype)
        self.wg = torch.randn(width, generator=g).to(dtype)
        self.w2 = (torch.randn(3, width, 3, 3, generator=g) * 0.1).to(dtype)
        self.calls = []

    def __call__(self, x, gamma):
        self.calls.append((x.shape, gamma.clone()))
        gamma = gamma.to(x.dtype)[:, None, None, None]
        h = F.conv2d(x, self.w1, self.b1, padding=1) + self.wg[None, :, None, None] * gamma
        return F.conv2d(F.silu(h), self.w2, padding=1)


def pointwise_model(x, gamma):
    """A per-pixel model with no reductions: batch invariance of the sampler maths alone."""
    condition, y_t = x[:, :3], x[:, 3:]
    return torch.tanh(1.3 * y_t - 0.4 * condition + gamma[:, None, None, None])


def inpainting_inputs(b, size, tag="in"):
    """Palette-style inpainting: a random mask, the condition holds y0 outside the hole and N(0, 1) noise inside."""
    y0 = draw_noise((3, size, size), gens(tag + "-y0", b)).clamp(-1, 1)
    mask = (draw_noise((1, size, size), gens(tag + "-mask", b)) > 0).float()
    condition = torch.where(mask.bool(), draw_noise((3, size, size), gens(tag + "-hole", b)), y0)
    return dict(condition=condition, mask=mask, y0=condition)


def run(sampler, model, extra, steps, tag, start=0, schedule="paper", **kwargs):
    """Draw y_T from the per-sample generators, then sample with the same generators (as callers do)."""
    b, _, h, w = extra["condition"].shape
    generators = gens(tag, b, start)
    y_T = draw_noise((3, h, w), generators, dtype=extra["condition"].dtype)
    return sampler(model, y_T, step_schedule(schedule, steps), extra, generators, **kwargs)


def test_sampling_schedule():
    full = linear_schedule(**SAMPLE_SCHEDULE)
    assert torch.equal(sampling_schedule(1000).betas, full.betas)
    assert len(sampling_schedule(50)) == 50
    assert sampling_schedule(50).gammas[-1].item() == pytest.approx(full.gammas[-1].item(), rel=1e-12)
    assert set(SAMPLERS) == {"ancestral", "ddim", "dpmpp-2m", "heun"}
    assert set(SCHEDULES) == {"paper", "logsnr", "karras"}
    for k in (1, 3, 10, 1000):  # "paper" is the respaced inference schedule, bit for bit
        paper, respaced = step_schedule("paper", k), sampling_schedule(k)
        assert torch.equal(paper.betas, respaced.betas) and torch.equal(paper.alphas, respaced.alphas)
    with pytest.raises(ValueError, match="schedule 'cosine'"):
        step_schedule("cosine", 10)


TRAINED = linear_schedule(**TRAIN_SCHEDULE).gammas
GAMMA_MIN, GAMMA_MAX = TRAINED[-1].item(), TRAINED[0].item()  # ~4.4e-5 and 1 - 1e-6


@pytest.mark.parametrize("name", ["logsnr", "karras"])
@pytest.mark.parametrize("steps", [1, 2, 3, 10, 20, 250, 1000])
def test_schedules_stay_in_the_trained_gamma_range(name, steps):
    """Every step lies in [gamma_T, gamma_1] of the training schedule, both ends are reached, and gamma decreases with t.

    The sampler's gammas are the cumulative products of alpha_i = gamma_i / gamma_{i-1}, which round at 1e-16.
    """
    gammas = step_schedule(name, steps).gammas
    assert len(gammas) == steps and bool((gammas[1:] < gammas[:-1]).all())
    assert gammas.min().item() >= GAMMA_MIN * (1 - 1e-12) and gammas.max().item() <= GAMMA_MAX * (1 + 1e-12)
    assert gammas[-1].item() == pytest.approx(GAMMA_MIN, rel=1e-12)
    if steps > 1:
        assert gammas[0].item() == pytest.approx(GAMMA_MAX, rel=1e-12)
    # how the steps are spread: evenly in log-SNR, or evenly in sigma^(1/7) with sigma = sqrt((1 - gamma) / gamma)
    g = gammas.numpy()
    axis = np.log(g / (1 - g)) if name == "logsnr" else ((1 - g) / g) ** (1 / 14)
    if steps > 2:
        np.testing.assert_allclose(np.diff(axis), np.diff(axis).mean(), rtol=1e-6)


def test_the_paper_schedule_leaves_the_trained_range():
    """Why the other schedules exist: Palette's respaced inference schedule ends at gamma ~ 6.6e-21, below any training draw."""
    assert step_schedule("paper", 20).gammas[-1].item() < 1e-20 < GAMMA_MIN


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", VARIANTS)
def test_known_pixels_are_bit_exact(name, schedule):
    extra, seen = inpainting_inputs(4, 16), []
    generators = gens("known", 4)
    y_T = draw_noise((3, 16, 16), generators)
    out = VARIANTS[name](TinyConvNet(), y_T, step_schedule(schedule, 10), extra, generators, callback=seen.append)
    known = (extra["mask"] == 0).expand_as(out)
    assert all(torch.equal(s["y_t"][known], extra["y0"][known]) for s in seen)  # pasted back at every step
    assert torch.equal(out[known], extra["y0"][known])
    assert not torch.equal(out[~known], extra["y0"][~known])
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("masked", [False, True])
def test_batch_invariance_of_the_sampler_maths(name, masked, schedule):
    """Per-pixel model (no reductions anywhere): samples alone and in a batch of 8 are bit-identical."""
    extra = inpainting_inputs(8, 8) if masked else dict(condition=inpainting_inputs(8, 8)["y0"], mask=None, y0=None)
    batch = run(VARIANTS[name], pointwise_model, extra, 20, "inv", schedule=schedule)
    for b in range(8):
        one = {k: None if v is None else v[b : b + 1] for k, v in extra.items()}
        assert torch.equal(run(VARIANTS[name], pointwise_model, one, 20, "inv", start=b, schedule=schedule)[0], batch[b]), b


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")  # printed by mkldnn.flags on CPU-only builds
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", VARIANTS)
def test_batch_invariance_with_a_conv_net(name, schedule):
    """A conv net: samples alone and in a batch of 8 are bit-identical.

    oneDNN is switched off: PyTorch's CPU convolution picks its backend per call, and for a batch of 1
    with a 3x3 kernel and a small input (at most 20480 elements) it takes the native im2col+GEMM path
    (Slow2d) while a batch of 2 or more goes to oneDNN; the two sum in different orders and differ by
    ~1e-6. With oneDNN off every batch size takes Slow2d, which convolves each example on its own.
    """
    extra = inpainting_inputs(8, 16)
    net = TinyConvNet()
    with torch.backends.mkldnn.flags(enabled=False):
        batch = run(VARIANTS[name], net, extra, 10, "conv", schedule=schedule)
        for b in range(8):
            one = {k: v[b : b + 1] for k, v in extra.items()}
            assert torch.equal(run(VARIANTS[name], net, one, 10, "conv", start=b, schedule=schedule)[0], batch[b]), b


# Golden values: TinyConvNet(seed=0), 10 steps, 2x3x8x8, generators "golden"/b, all in float64: in
# float32 the result moves by ~1e-5 with the convolution backend (oneDNN or not, CPU or GPU), as
# errors of the early steps are divided by sqrt(gamma_T) ~ 1e-10 before clipping. In float64 the
# values hold to 1e-12 wherever torch runs. They pin what the samplers output today, so they guard
# against an unintended change; they are not evidence that the output is right (the values were
# recorded from the code, not derived). The proof of correctness is the Gaussian tests below, which
# check every step against closed forms. Recompute only after a deliberate change to the sampler maths.
GOLDEN = {
    "ancestral": dict(sum=11.83121371940837, values=[0.3684607548, -0.7550010295, -0.1463051599, 0.5536694677, 0.0261471462]),
    "ddim": dict(sum=0.6594735028381269, values=[0.5976969256, 0.0039050779, -0.3465565367, 0.8899015178, 0.1907261861]),
    # TinyConvNet drives most of these solvers' pixels to the clip, so each pins pixels of its own that stay inside
    "dpmpp-2m": dict(sum=16.321240056786863, values=[-0.8195660682, -0.5969092576, -0.306964569, 0.4762719374, 0.6507929336],
                     index=[(0, 0, 2, 5), (0, 2, 0, 7), (1, 0, 3, 1), (0, 0, 4, 4), (0, 1, 4, 7)]),
    "heun": dict(sum=19.94879350763526, values=[0.6402695041, 0.7517669413, 0.2517684586, -0.7489225072, 0.9145715857],
                 index=[(1, 2, 3, 4), (1, 0, 2, 7), (0, 1, 7, 3), (0, 1, 7, 6), (1, 0, 7, 5)]),
    "heun-churn": dict(sum=33.906171074681374, values=[0.5762419229, -0.0713950565, -0.2794164849, -0.7326409833, 0.0166376249],
                       index=[(1, 2, 2, 1), (0, 1, 5, 2), (1, 2, 6, 2), (0, 1, 4, 3), (0, 1, 0, 3)]),
}
GOLDEN_INDEX = [(0, 0, 1, 7), (0, 1, 5, 6), (0, 2, 1, 3), (1, 0, 3, 4), (1, 2, 7, 1)]  # pixels not clipped to +-1


def golden_run(name):
    condition = draw_noise((3, 8, 8), gens("golden-condition", 2), dtype=torch.float64).clamp(-1, 1)
    net = TinyConvNet(seed=0, dtype=torch.float64)
    return run(VARIANTS[name], net, dict(condition=condition, mask=None, y0=None), 10, "golden")


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_values(name):
    out = golden_run(name)
    assert out.dtype == torch.float64
    assert out.sum().item() == pytest.approx(GOLDEN[name]["sum"], abs=1e-6)
    for index, value in zip(GOLDEN[name].get("index", GOLDEN_INDEX), GOLDEN[name]["values"]):
        assert out[index].item() == pytest.approx(value, abs=1e-6), index


def test_ddim_eta1_is_the_ancestral_sampler():
    """DDIM with eta = 1 on the same schedule takes DDPM's posterior step (Song et al. 2021, Sec. 4.1):
    with the same generators the two samplers agree, which checks each against the other."""
    ancestral, ddim1 = golden_run("ancestral"), golden_run("ddim-eta1")
    assert (ancestral - ddim1).abs().max().item() < 1e-10


def test_ddim_eta0_is_deterministic_and_ancestral_is_not():
    extra = dict(condition=draw_noise((3, 8, 8), gens("det-c", 2)).clamp(-1, 1), mask=None, y0=None)
    y_T = draw_noise((3, 8, 8), gens("det-yT", 2))
    schedule, net = sampling_schedule(10), TinyConvNet()
    a, b = gens("det-a", 2), gens("det-b", 2)
    state = [g.get_state() for g in a]
    assert torch.equal(ddim_sample(net, y_T, schedule, extra, a), ddim_sample(net, y_T, schedule, extra, b))
    assert all(torch.equal(s, g.get_state()) for s, g in zip(state, a))  # eta = 0 draws nothing
    ancestral_a = ancestral_sample(net, y_T, schedule, extra, gens("det-a", 2))
    assert not torch.equal(ancestral_a, ancestral_sample(net, y_T, schedule, extra, b))
    eta1 = ddim_sample(net, y_T, schedule, extra, gens("det-a", 2), eta=1.0)
    assert not torch.equal(eta1, ddim_sample(net, y_T, schedule, extra, gens("det-b", 2), eta=1.0))


@pytest.mark.parametrize("schedule_name", SCHEDULES)
@pytest.mark.parametrize("name", ["ancestral", "ddim", "dpmpp-2m"])
def test_model_sees_the_schedule_in_order(name, schedule_name):
    """The network gets cat([condition, y_t]) and gamma_T..gamma_1 as float32 [B]; the callback sees every step."""
    net, steps = TinyConvNet(), []
    extra = inpainting_inputs(3, 8)
    schedule = step_schedule(schedule_name, 7)
    generators = gens("order", 3)
    y_T = draw_noise((3, 8, 8), generators)
    SAMPLERS[name](net, y_T, schedule, extra, generators, callback=steps.append)
    assert [shape for shape, _ in net.calls] == [(3, 6, 8, 8)] * 7
    for (_, gamma), expected in zip(net.calls, schedule.gammas.flip(0).tolist()):
        assert gamma.dtype == torch.float32 and torch.equal(gamma, torch.full((3,), expected, dtype=torch.float32))
    assert [s["step"] for s in steps] == list(range(7)) and [s["t"] for s in steps] == list(range(7, 0, -1))
    assert all(s["y_t"].shape == s["y0_hat"].shape == (3, 3, 8, 8) for s in steps)
    known = (extra["mask"] == 0).expand_as(y_T)
    assert torch.equal(steps[0]["y_t"][~known], y_T[~known])  # step 0 starts from y_T (known pixels pasted)


class PerfectDenoiser:
    """Returns the exact eps of the known clean image y0, eps = (y_t - sqrt(gamma) y0) / sqrt(1 - gamma),
    or the v or y0 that goes with it."""

    def __init__(self, y0, parameterization="eps"):
        self.y0, self.parameterization = y0.double(), parameterization

    def __call__(self, x, gamma):
        g = gamma.double()[:, None, None, None]
        y_t = x[:, 3:].double()
        if self.parameterization == "edm":  # the input holds c_in y_t
            y_t = y_t / edm_coefficients(gamma.double(), y_t)[0]
        eps = (y_t - g.sqrt() * self.y0) / (1 - g).sqrt()
        return target(self.y0, eps, gamma, self.parameterization).float()


def clean_image(b=2, size=16):
    return (0.8 * torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(3)) - 0.4).clamp(-1, 1)


@pytest.mark.parametrize("name, steps", [("ancestral", 1000), ("ancestral", 50), ("ancestral", 10), ("ddim", 10), ("ddim", 2)])
def test_perfect_denoiser_recovers_y0(name, steps):
    """A smoke test of the whole loop, not of its coefficients: with a network that knows y0 the last step
    returns y0 whatever the earlier steps did (test_the_gaussian_checks_catch_a_wrong_sampler shows wrong
    samplers passing it). The Gaussian tests below check every step."""
    y0 = clean_image()
    out = run(SAMPLERS[name], PerfectDenoiser(y0), dict(condition=y0, mask=None, y0=None), steps, "perfect")
    assert (out - y0).abs().max().item() < 1e-4


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("name, steps", [("ancestral", 50), ("ddim", 10), ("ddim-eta1", 10)])
def test_perfect_predictor_of_each_parameterization_recovers_y0(name, steps, parameterization, schedule):
    """A network returning the true eps, v or y0 of a fixed y0, read with the same parameterization, samples y0.

    Every step's clean-image estimate is y0 too, except for eps at the paper schedule's first steps: there
    y0_hat = (y_t - sqrt(1 - gamma) eps_hat) / sqrt(gamma) divides eps_hat's float32 rounding by
    sqrt(gamma) ~ 1e-10.
    """
    y0, seen = clean_image(), []
    out = run(VARIANTS[name], PerfectDenoiser(y0, parameterization), dict(condition=y0, mask=None, y0=None), steps, "perfect",
              schedule=schedule, parameterization=parameterization, callback=seen.append)
    assert (out - y0).abs().max().item() < 1e-4
    if not (parameterization == "eps" and schedule == "paper"):
        assert max((s["y0_hat"] - y0).abs().max().item() for s in seen) < 1e-4


@pytest.mark.parametrize("parameterization", ["v", "x0"])
def test_a_parameterization_read_as_another_goes_astray(parameterization):
    """The sampler reads the output through its parameterization: the true v or y0 read as eps gives wrong estimates."""
    y0, seen = clean_image(), []
    run(ddim_sample, PerfectDenoiser(y0, parameterization), dict(condition=y0, mask=None, y0=None), 10, "perfect", schedule="logsnr", callback=seen.append)
    assert max((s["y0_hat"] - y0).abs().max().item() for s in seen) > 0.1


@pytest.mark.parametrize("name, steps", [("ancestral", 1000), ("ancestral", 10), ("ddim-eta1", 10)])
def test_perfect_denoiser_keeps_the_forward_marginals(name, steps):
    """With the true eps, ancestral steps sample q(y_{t-1} | y_t, y0) exactly, so every y_t is
    sqrt(gamma_t) y0 + sqrt(1 - gamma_t) * N(0, 1): a wrong posterior mean or variance shows here."""
    y0 = clean_image(4, 32)
    schedule, seen = sampling_schedule(steps), []
    generators = gens("marginal", 4)
    y_T = draw_noise((3, 32, 32), generators)
    VARIANTS[name](PerfectDenoiser(y0), y_T, schedule, dict(condition=y0, mask=None, y0=None), generators, callback=seen.append)
    for s in seen:
        g = schedule.gammas[s["t"] - 1].item()
        z = (s["y_t"].double() - math.sqrt(g) * y0.double()) / math.sqrt(1 - g)
        assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1) < 0.03, (s["t"], z.mean(), z.std())


def test_ddim_eta0_with_a_perfect_denoiser_keeps_its_noise():
    """Deterministic DDIM moves along sqrt(gamma) y0 + sqrt(1 - gamma) eps with one fixed eps (Song et al. Eq. 12)."""
    y0 = clean_image()
    schedule, seen = sampling_schedule(10), []
    y_T = draw_noise((3, 16, 16), gens("ddim-path", 2))
    g_T = schedule.gammas[-1].item()
    eps = (y_T.double() - math.sqrt(g_T) * y0.double()) / math.sqrt(1 - g_T)
    ddim_sample(PerfectDenoiser(y0), y_T, schedule, dict(condition=y0, mask=None, y0=None), None, callback=seen.append)
    for s in seen:
        g = schedule.gammas[s["t"] - 1].item()
        z = (s["y_t"].double() - math.sqrt(g) * y0.double()) / math.sqrt(1 - g)
        assert (z - eps).abs().max().item() < 1e-3, s["t"]


# ---- Gaussian data: every step against closed forms ---------------------------------------------
# With a network that knows one fixed y0 (PerfectDenoiser above) the last step returns y0 whatever the
# earlier steps did. For y0 ~ N(mu, s^2) per pixel the exact denoiser and the exact probability-flow
# ODE are known in closed form (tests/gaussian_oracle.py), and the output depends on every step.
# mu and s per channel; |y0| stays below 1 beyond 5 standard deviations, so the clip to [-1, 1] never
# acts (checked) and what is measured is the sampler's maths.
GAUSSIAN_MEAN, GAUSSIAN_STD = (0.1, -0.1, 0.0), (0.15, 0.12, 0.18)
DOUBLINGS = (25, 50, 100, 200)  # the paper schedule respaces a fixed 1000-step curve and stops refining near 1000
# The error ratio per doubling of the steps, 25 -> 50 -> 100 -> 200, as measured: 1.67, 1.84, 1.89 (paper),
# 1.98, 1.99, 1.99 (logsnr), 1.96, 1.98, 1.99 (karras). The paper schedule puts most of its steps at
# gamma < 1e-3, where the flow is nearly linear in sigma and Euler nearly exact, and few through
# sigma ~ s, where the error is made, so it nears the first-order ratio of 2 more slowly.
LOWEST_RATIO = {"paper": 1.6, "logsnr": 1.9, "karras": 1.9}


def gaussian_run(sampler, schedule, parameterization, shape, tag, **kwargs):
    """Sample Gaussian data with its exact denoiser, float64 throughout: (oracle, y_T, the callback's steps, output)."""
    oracle, seen = GaussianOracle(GAUSSIAN_MEAN, GAUSSIAN_STD, parameterization), []
    generators = gens(tag, shape[0])
    y_T = draw_noise(shape[1:], generators, dtype=torch.float64)
    extra = dict(condition=torch.zeros_like(y_T), mask=None, y0=None)
    out = sampler(oracle, y_T, schedule, extra, generators, callback=seen.append, parameterization=parameterization, **kwargs)
    largest = max(s["y0_hat"].abs().max().item() for s in seen)
    assert largest < 0.95, f"|y0_hat| reached {largest}: the clip to [-1, 1] may have acted"
    return oracle, y_T, seen, out


def check_ddim_is_first_order_on_the_pf_ode(sampler, schedule_name, parameterization):
    """DDIM (eta = 0) is Euler's method on the PF-ODE in sigma: the error of its output from the exact solution
    halves when the steps double, and Richardson's extrapolation 2 y_200 - y_100, which cancels the first-order
    term, lands several times closer. Returns the errors."""
    errors, outputs = [], []
    for steps in DOUBLINGS:
        schedule = float32_levels(step_schedule(schedule_name, steps))
        oracle, y_T, _, out = gaussian_run(sampler, schedule, parameterization, (2, 3, 16, 16), "gauss-ddim")
        exact = oracle.pf_ode(y_T, schedule.gammas[-1].item(), 1.0)
        errors.append((out - exact).abs().max().item())
        outputs.append(out)
    ratios = [a / b for a, b in zip(errors, errors[1:])]
    assert all(LOWEST_RATIO[schedule_name] < r < 2.1 for r in ratios), (errors, ratios)
    extrapolated = (2 * outputs[-1] - outputs[-2] - exact).abs().max().item()
    assert extrapolated < errors[-1] / 5, (extrapolated, errors[-1])
    return errors


# DDPM's ancestral step draws y_{t-1} ~ N(E[y_{t-1} | y_t, y0 = y0_hat], Var[y_{t-1} | y_t, y0]). With the exact
# y0_hat = E[y0 | y_t] its mean is the true E[y_{t-1} | y_t] (the posterior mean is linear in y0); its
# variance, that of y_{t-1} given y_t and y0, is the same for any data: conditioning
# y_t = sqrt(alpha) y_{t-1} + sqrt(1 - alpha) eps' on y_{t-1} = sqrt(gamma_{t-1}) y0 + sqrt(1 - gamma_{t-1}) eps''
# gives (1 - gamma_{t-1}) (1 - alpha) / (1 - gamma_t), alpha = gamma_t / gamma_{t-1}.
def known_y0_variance(gamma_t, gamma_prev):
    alpha = gamma_t / gamma_prev
    return (1.0 - gamma_prev) * (1.0 - alpha) / (1.0 - gamma_t)


def recording_draws(sampler, draws):
    """Patch the draw_noise the sampler calls so that every draw is also appended to `draws`."""
    namespace = inspect.unwrap(sampler).__globals__
    real = namespace["draw_noise"]

    def spy(*args, **kwargs):
        draws.append(real(*args, **kwargs))
        return draws[-1]

    return mock.patch.dict(namespace, draw_noise=spy)


def check_ancestral_steps_are_the_gaussian_reverse_steps(sampler, schedule_name, parameterization, steps=50):
    """Every step, from the state it started at and the noise it drew: y_{t-1} = E[y_{t-1} | y_t] + sqrt(known_y0_variance) z,
    and the last step returns E[y0 | y_1], all to float64 rounding."""
    schedule = float32_levels(step_schedule(schedule_name, steps))
    gammas, draws = schedule.gammas.tolist(), []
    with recording_draws(sampler, draws):
        oracle, _, seen, out = gaussian_run(sampler, schedule, parameterization, (2, 3, 16, 16), "gauss-path")
    assert len(draws) == steps - 1  # one draw per step, none at t = 1
    for s, z, y_next in zip(seen, draws + [None], [s["y_t"] for s in seen[1:]] + [out]):
        gamma_t = gammas[s["t"] - 1]
        gamma_prev = gammas[s["t"] - 2] if s["t"] > 1 else 1.0
        expected = oracle.reverse_mean(s["y_t"], gamma_t, gamma_prev)
        if z is not None:
            expected = expected + math.sqrt(known_y0_variance(gamma_t, gamma_prev)) * z
        assert (y_next - expected).abs().max().item() < 1e-9, s["t"]


def test_gaussian_oracle_is_the_posterior_mean():
    """Monte Carlo against the closed forms: y0 - E[y0 | y_t] has mean 0, variance Var[y0 | y_t] and no correlation
    with y_t; the oracle's eps, v and y0 outputs all read back to E[y0 | y_t]."""
    oracle = GaussianOracle(GAUSSIAN_MEAN, GAUSSIAN_STD)
    y0 = oracle.mean + oracle.std * draw_noise((3, 64, 64), gens("oracle-y0", 8), dtype=torch.float64)
    eps = draw_noise((3, 64, 64), gens("oracle-eps", 8), dtype=torch.float64)
    n_channel = 8 * 64 * 64
    for g in (1e-4, 0.05, 0.5, 0.95, 0.9999):
        y_t = math.sqrt(g) * y0 + math.sqrt(1 - g) * eps
        residual = (y0 - oracle.posterior_mean(y_t, g)) / oracle.posterior_variance(g, y_t).sqrt()
        se_mean, se_var = standard_errors(residual.numel())
        assert abs(residual.mean().item()) < 5 * se_mean and abs(residual.var().item() - 1) < 5 * se_var, g
        y_centred = y_t - oracle.marginal(g, y_t)[0]
        corr = (residual * y_centred).mean(dim=(0, 2, 3)) / y_centred.std(dim=(0, 2, 3))
        assert corr.abs().max().item() < 5 / math.sqrt(n_channel), (g, corr)
        gamma = torch.full((8,), g, dtype=torch.float64)
        for parameterization in PARAMETERIZATIONS:
            output = GaussianOracle(GAUSSIAN_MEAN, GAUSSIAN_STD, parameterization)(network_input(y0, y_t, gamma=gamma, parameterization=parameterization), gamma)
            y0_hat = eps_and_y0(output, y_t, gamma, parameterization)[1]
            torch.testing.assert_close(y0_hat, oracle.posterior_mean(y_t, g), rtol=0, atol=1e-9)


def test_pf_ode_closed_form():
    """The closed form is a flow: it composes, is the identity from a level to itself, and carries the marginal
    N(sqrt(gamma) mu, gamma s^2 + 1 - gamma) at one level onto the marginal at another. That DDIM converges to
    it is test_ddim_is_first_order_on_the_gaussian_pf_ode."""
    oracle = GaussianOracle(GAUSSIAN_MEAN, GAUSSIAN_STD)
    y = draw_noise((3, 8, 8), gens("flow", 2), dtype=torch.float64)
    a, b, c = 1e-20, 0.3, 0.999
    torch.testing.assert_close(oracle.pf_ode(oracle.pf_ode(y, a, b), b, c), oracle.pf_ode(y, a, c), rtol=0, atol=1e-12)
    torch.testing.assert_close(oracle.pf_ode(y, b, b), y, rtol=0, atol=1e-15)
    (m_b, v_b), (m_c, v_c) = oracle.marginal(b, y), oracle.marginal(c, y)
    torch.testing.assert_close(oracle.pf_ode(m_b + v_b.sqrt() * y, b, c), m_c + v_c.sqrt() * y, rtol=0, atol=1e-12)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddim_is_first_order_on_the_gaussian_pf_ode(schedule, parameterization):
    """DDIM with eta = 0 and the exact denoiser lands on the exact probability-flow ODE solution from the same y_T,
    with an error that halves as the steps double (25, 50, 100, 200)."""
    check_ddim_is_first_order_on_the_pf_ode(ddim_sample, schedule, parameterization)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ancestral_steps_are_the_gaussian_reverse_steps(schedule, parameterization):
    check_ancestral_steps_are_the_gaussian_reverse_steps(ancestral_sample, schedule, parameterization)


def ancestral_chain_moments(oracle, gammas, like):
    """The exact per-channel (mean, variance) of the ancestral chain with the exact denoiser after each step, from y_T ~ N(0, 1).

    The mean maps through E[y_{t-1} | y_t], which is affine in y_t with slope sqrt(alpha) v_{t-1} / v_t
    (v: the marginal variances), and the variance through slope^2 plus the noise the step adds.
    """
    mean, var, moments = torch.zeros_like(oracle.mean), torch.ones_like(oracle.std), []
    for t in range(len(gammas), 0, -1):
        gamma_t, gamma_prev = gammas[t - 1], gammas[t - 2] if t > 1 else 1.0
        slope = math.sqrt(gamma_t / gamma_prev) * oracle.marginal(gamma_prev, like)[1] / oracle.marginal(gamma_t, like)[1]
        mean = oracle.reverse_mean(mean, gamma_t, gamma_prev)
        var = slope.square() * var + (known_y0_variance(gamma_t, gamma_prev) if t > 1 else 0.0)
        moments.append((mean, var))
    return moments


def check_ancestral_samples_have_the_chain_moments(sampler, schedule_name, steps):
    """4 x 3 x 64 x 64 pixels sampled with the exact denoiser: after every step the standardised mean and variance
    match the chain's exact moments within 5 standard errors. Returns the final level's exact (mean, variance)."""
    schedule = float32_levels(step_schedule(schedule_name, steps))
    oracle, y_T, seen, out = gaussian_run(sampler, schedule, "v", (4, 3, 64, 64), "gauss-moments")
    moments = ancestral_chain_moments(oracle, schedule.gammas.tolist(), out)
    se_mean, se_var = standard_errors(out.numel())
    for (mean, var), y, t in zip(moments, [s["y_t"] for s in seen[1:]] + [out], range(steps - 1, -1, -1)):
        z = (y - mean) / var.sqrt()
        assert abs(z.mean().item()) < 5 * se_mean and abs(z.var().item() - 1) < 5 * se_var, (t, z.mean(), z.var())
    return moments[-1]


@pytest.mark.parametrize("schedule_name, steps", [("paper", 100), ("logsnr", 50), ("karras", 50)])
def test_ancestral_sampling_of_gaussian_data_has_its_exact_moments(schedule_name, steps):
    """Samples of Gaussian data drawn with the exact denoiser have the chain's exact moments after every step, and at
    the end the data's mean (to 1e-6, the chain's mean starting from y_T ~ N(0, 1) rather than N(sqrt(gamma_T) mu, ...)).

    Their variance falls short of the data's by DDPM's known first-order amount: each step adds the variance of
    y_{t-1} given y0, never the spread of y0 given y_t, so the samples are too narrow: here by 40-49% at 100 paper
    steps (7-11% at the paper's 1000), 21% at 50 logsnr and 26-28% at 50 karras steps, and by about half as much at
    twice the steps (a ratio of 1.5 for the paper schedule, which approaches first order slowly, 1.8-1.9 for the others).
    """
    mean, var = check_ancestral_samples_have_the_chain_moments(ancestral_sample, schedule_name, steps)
    oracle = GaussianOracle(GAUSSIAN_MEAN, GAUSSIAN_STD)
    torch.testing.assert_close(mean, oracle.mean, rtol=0, atol=1e-5)
    shortfall = 1 - var / oracle.std.square()
    twice = float32_levels(step_schedule(schedule_name, 2 * steps))
    shortfall_at_twice = 1 - ancestral_chain_moments(oracle, twice.gammas.tolist(), oracle.mean)[-1][1] / oracle.std.square()
    ratio = shortfall / shortfall_at_twice
    assert bool((shortfall > 0.1).all() and (ratio > 1.4).all() and (ratio < 2.1).all()), (shortfall, ratio)


def mutant(sampler, original: str, mutated: str):
    """A copy of `sampler` with one piece of its source replaced: a deliberately wrong sampler for the checks to catch."""
    source = inspect.getsource(sampler)
    assert source.count(original) == 1, f"{sampler.__name__} no longer contains {original!r}: update MUTANTS"
    namespace = dict(inspect.unwrap(sampler).__globals__)
    exec(compile(source.replace(original, mutated), inspect.getsourcefile(sampler), "exec"), namespace)
    return namespace[sampler.__name__]


# (sampler, its code, the wrong code, the Gaussian check that must catch it, the check's arguments after the sampler).
# Each leaves the last step (t = 1, gamma_{t-1} = 1) as it was, so a network that knows one fixed y0 still recovers it.
# The step-by-step check catches any error in a coefficient; the moments, limited by their sampling error, one of
# about 1% in the y_t coefficient or 3% in the variance.
STEPS, MOMENTS, PF_ODE = check_ancestral_steps_are_the_gaussian_reverse_steps, check_ancestral_samples_have_the_chain_moments, check_ddim_is_first_order_on_the_pf_ode
MUTANTS = {
    "ancestral-yt-coefficient": (ancestral_sample, "coef_yt = math.sqrt(alpha_t)", "coef_yt = 1.001 * math.sqrt(alpha_t)", STEPS, ("logsnr", "v")),
    "ancestral-variance": (ancestral_sample, "variance = beta_t", "variance = 1.01 * beta_t", STEPS, ("logsnr", "v")),
    "ancestral-y0-coefficient-at-gamma-t": (ancestral_sample, "coef_y0 = math.sqrt(gamma_prev)", "coef_y0 = math.sqrt(gamma_t)", STEPS, ("logsnr", "v")),
    "ancestral-yt-coefficient-in-the-moments": (ancestral_sample, "coef_yt = math.sqrt(alpha_t)", "coef_yt = 1.01 * math.sqrt(alpha_t)", MOMENTS, ("logsnr", 50)),
    "ddim-direction-coefficient": (
        ddim_sample,
        "+ math.sqrt(max(1.0 - gamma_prev - sigma**2, 0.0)) * eps_dir",
        "+ 1.001 * math.sqrt(max(1.0 - gamma_prev - sigma**2, 0.0)) * eps_dir",
        PF_ODE,
        ("logsnr", "v"),
    ),
    "ddim-direction-from-gamma-prev": (ddim_sample, "eps_dir = (y_t - math.sqrt(gamma_t) * y0_hat)", "eps_dir = (y_t - math.sqrt(gamma_prev) * y0_hat)", PF_ODE, ("logsnr", "v")),
}


@pytest.mark.parametrize("name", MUTANTS)
def test_the_gaussian_checks_catch_a_wrong_sampler(name):
    """A sampler wrong only at the steps t > 1 passes the perfect-denoiser check and fails a Gaussian one."""
    sampler, original, mutated, check, args = MUTANTS[name]
    wrong = mutant(sampler, original, mutated)
    y0 = clean_image()
    out = run(wrong, PerfectDenoiser(y0), dict(condition=y0, mask=None, y0=None), 10, "perfect", schedule="logsnr")
    assert (out - y0).abs().max().item() < 1e-4
    check(mutant(sampler, original, original), *args)  # an unchanged copy passes
    with pytest.raises(AssertionError):
        check(wrong, *args)
