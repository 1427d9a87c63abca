"""Palette's diffusion maths: schedules against closed forms, the gamma draw's distribution, the forward process and the loss."""

import math

import numpy as np
import pytest
import torch

from palette_bench.models.diffusion import (
    PARAMETERIZATIONS,
    SAMPLE_SCHEDULE,
    TRAIN_SCHEDULE,
    NoiseSchedule,
    draw_noise,
    edm_coefficients,
    eps_and_y0,
    logit,
    karras_schedule,
    linear_schedule,
    logsnr_schedule,
    min_snr_weight,
    network_input,
    palette_loss,
    q_sample,
    sample_gamma,
    schedule_from_gammas,
    target,
)
from palette_bench.seeding import generator_for


def gens(tag, n, start=0):
    return [generator_for("test-diffusion", tag, b) for b in range(start, start + n)]


# ---- schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [TRAIN_SCHEDULE, SAMPLE_SCHEDULE])
def test_linear_betas_endpoints_and_spacing(cfg):
    betas = linear_schedule(**cfg).betas
    assert betas.dtype == torch.float64 and betas.shape == (cfg["steps"],)
    assert betas[0].item() == cfg["beta_start"]
    assert betas[-1].item() == pytest.approx(cfg["beta_end"], rel=1e-15)
    step = (cfg["beta_end"] - cfg["beta_start"]) / (cfg["steps"] - 1)
    np.testing.assert_allclose(np.diff(betas.numpy()), step, rtol=1e-9)


@pytest.mark.parametrize("cfg", [TRAIN_SCHEDULE, SAMPLE_SCHEDULE])
def test_gammas_are_cumulative_products(cfg):
    schedule = linear_schedule(**cfg)
    np.testing.assert_allclose(schedule.gammas.numpy(), np.cumprod(1.0 - schedule.betas.numpy()), rtol=1e-13)


@pytest.mark.parametrize("cfg, approx_gamma_T", [(TRAIN_SCHEDULE, 4.386e-5), (SAMPLE_SCHEDULE, 6.604e-21)])
def test_gamma_T_matches_closed_form(cfg, approx_gamma_T):
    """gamma_T = prod(1 - beta_i), computed independently as exp(sum(log1p(-beta_i))) from Python floats."""
    T, b0, b1 = cfg["steps"], cfg["beta_start"], cfg["beta_end"]
    betas = [b0 + (b1 - b0) * i / (T - 1) for i in range(T)]
    expected = math.exp(math.fsum(math.log1p(-b) for b in betas))
    gamma_T = linear_schedule(**cfg).gammas[-1].item()
    assert gamma_T == pytest.approx(expected, rel=1e-10)
    assert gamma_T == pytest.approx(approx_gamma_T, rel=1e-3)  # what Palette's schedules end at


def test_respaced_to_full_length_is_identical():
    schedule = linear_schedule(**SAMPLE_SCHEDULE)
    assert torch.equal(schedule.respaced(1000).betas, schedule.betas)


@pytest.mark.parametrize("k", [1, 2, 10, 50, 333, 999])
def test_respaced_keeps_points_of_the_original_curve(k):
    schedule = linear_schedule(**SAMPLE_SCHEDULE)
    original = schedule.gammas
    short = schedule.respaced(k)
    assert len(short) == k and short.gammas.shape == (k,)
    # indices as guided-diffusion's space_timesteps with one section: round(i * (T - 1) / (k - 1))
    idx = [999] if k == 1 else [round(i * 999 / (k - 1)) for i in range(k)]
    np.testing.assert_allclose(short.gammas.numpy(), original[idx].numpy(), rtol=1e-10)
    assert short.gammas[-1].item() == pytest.approx(original[-1].item(), rel=1e-12)
    if k > 1:
        assert short.gammas[0].item() == pytest.approx(original[0].item(), rel=1e-15)
    # every kept gamma is one of the original curve's points, and the new betas reproduce them
    for g in short.gammas.tolist():
        assert np.min(np.abs(original.numpy() - g) / g) < 1e-10
    np.testing.assert_allclose(np.cumprod(short.alphas.numpy()), original[idx].numpy(), rtol=1e-10)
    if k >= 10:  # with fewer steps a beta can round to 1.0 (gamma falls by > 1e16 in one step): see NoiseSchedule
        np.testing.assert_allclose(np.cumprod(1.0 - short.betas.numpy()), original[idx].numpy(), rtol=1e-10)
    np.testing.assert_allclose(short.alphas.numpy() + short.betas.numpy(), 1.0, rtol=0, atol=1e-15)
    assert bool((short.betas > 0).all() and (short.betas <= 1).all() and (short.alphas > 0).all())


def test_respaced_rejects_impossible_lengths():
    schedule = linear_schedule(10, 1e-3, 0.2)
    for k in (0, 11):
        with pytest.raises(ValueError):
            schedule.respaced(k)


def test_schedule_rejects_invalid_betas():
    for betas in ([0.1, 0.0, 0.2], [0.1, 1.0], [0.1, -0.2]):
        with pytest.raises(ValueError):
            NoiseSchedule(torch.tensor(betas, dtype=torch.float64))
    with pytest.raises(ValueError):
        NoiseSchedule(torch.tensor([0.1, 0.2]), torch.tensor([0.9, 0.7]))  # alphas != 1 - betas


def test_respacing_to_few_steps_keeps_gamma_T():
    """One step from gamma ~ 1 to gamma_T ~ 6.6e-21: beta rounds to 1.0 in float64, but gamma_T must survive."""
    schedule = linear_schedule(**SAMPLE_SCHEDULE)
    for k in (1, 2, 3):
        assert schedule.respaced(k).gammas[-1].item() == pytest.approx(schedule.gammas[-1].item(), rel=1e-12)


def test_schedule_from_gammas_round_trips():
    """alpha_i = gamma_i / gamma_{i-1}: the cumulative products give the gammas back, down to Palette's 1e-20 range."""
    gammas = torch.tensor([0.999999, 0.9, 0.2, 1e-3, 4.4e-5, 1e-12, 6.6e-21], dtype=torch.float64)
    schedule = schedule_from_gammas(gammas)
    np.testing.assert_allclose(schedule.gammas.numpy(), gammas.numpy(), rtol=1e-14)
    np.testing.assert_allclose(schedule.alphas.numpy() + schedule.betas.numpy(), 1.0, rtol=0, atol=1e-15)
    with pytest.raises(ValueError):
        schedule_from_gammas([0.5, 0.7])  # gamma must fall with t


@pytest.mark.parametrize("make", [logsnr_schedule, karras_schedule])
def test_spread_schedules_end_points_and_arguments(make):
    s = make(5, 1e-4, 0.99)
    assert s.gammas[0].item() == pytest.approx(0.99, rel=1e-12) and s.gammas[-1].item() == pytest.approx(1e-4, rel=1e-12)
    assert make(1, 1e-4, 0.99).gammas.tolist() == pytest.approx([1e-4], rel=1e-12)  # one step: straight from the noisiest end
    for bad in ((0, 1e-4, 0.99), (5, 0.99, 1e-4), (5, 0.0, 0.5), (5, 0.1, 1.0)):
        with pytest.raises(ValueError):
            make(*bad)


# ---- gamma draw --------------------------------------------------------------------------------


def mixture_cdf(schedule, x):
    """CDF of Palette's gamma: (1/T) sum_t clip((x - gamma_t) / (gamma_{t-1} - gamma_t), 0, 1)."""
    lo = schedule.gammas.numpy()
    hi = np.concatenate([[1.0], lo[:-1]])
    return np.clip((x[:, None] - lo[None]) / (hi - lo)[None], 0.0, 1.0).mean(axis=1)


@pytest.mark.parametrize(
    "schedule", [linear_schedule(4, 0.1, 0.6), linear_schedule(**TRAIN_SCHEDULE)], ids=["T4", "train"]
)
def test_sample_gamma_distribution(schedule):
    """Kolmogorov-Smirnov: the draws' empirical CDF stays within the 99% band of the closed-form mixture.

    T = 4 with large betas resolves the draw inside each interval (a draw fixed at gamma_t, or t off
    by one, fails); the training schedule checks the full curve.
    """
    n = 4000
    gamma = sample_gamma(schedule, gens(f"ks-{len(schedule)}", n))
    assert gamma.dtype == torch.float32 and gamma.shape == (n,)
    lo, hi = schedule.gammas.min().item(), 1.0
    assert bool((gamma >= lo * (1 - 1e-6)).all() and (gamma <= hi).all())
    x = np.sort(gamma.double().numpy())
    cdf = mixture_cdf(schedule, x)
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.63 / math.sqrt(n), ks


def test_sample_gamma_stays_in_its_interval():
    """Each draw lies in [gamma_t, gamma_{t-1}] of one t; with T = 3 coarse intervals every one is hit."""
    schedule = linear_schedule(3, 0.2, 0.5)
    bounds = [1.0] + schedule.gammas.tolist()
    gamma = sample_gamma(schedule, gens("interval", 300)).double()
    hits = [((gamma >= bounds[t] - 1e-7) & (gamma <= bounds[t - 1] + 1e-7)).sum().item() for t in (1, 2, 3)]
    assert sum(hits) == 300 and min(hits) > 60


def test_sample_gamma_depends_on_example_not_batch():
    schedule = linear_schedule(**TRAIN_SCHEDULE)
    batch = sample_gamma(schedule, gens("batch", 8))
    alone = torch.cat([sample_gamma(schedule, gens("batch", 1, start=b)) for b in range(8)])
    assert torch.equal(batch, alone)
    reversed_order = sample_gamma(schedule, gens("batch", 8)[::-1])
    assert torch.equal(reversed_order, batch.flip(0))
    assert len(set(batch.tolist())) == 8


@pytest.mark.parametrize("kind", ["lognormal", "logsnr-uniform"])
def test_sample_gamma_lognormal_and_logsnr_uniform_distributions(kind):
    """Kolmogorov-Smirnov against the closed form: ln sigma ~ N(-1.2, 1.2) (EDM), or logit(gamma) ~ U over the
    training schedule's range; every draw inside [gamma_T, gamma_1]; a draw depends on its example only."""
    from scipy.stats import norm

    schedule = linear_schedule(**TRAIN_SCHEDULE)
    n = 4000
    gamma = sample_gamma(schedule, gens(f"ks-{kind}", n), kind).double()
    lo, hi = schedule.gammas[-1].item(), schedule.gammas[0].item()
    assert bool(((gamma >= lo * (1 - 1e-6)) & (gamma <= hi)).all())
    lam = np.sort(np.log(gamma.numpy()) - np.log1p(-gamma.numpy()))  # log-SNR
    if kind == "lognormal":  # ln sigma = -lam / 2; the clamp moves the few draws beyond the range, which the CDF below keeps
        cdf = 1.0 - norm.cdf(-lam / 2, loc=-1.2, scale=1.2)
        cdf = np.where(lam >= logit(hi) - 1e-6, 1.0, cdf)
    else:
        cdf = (lam - logit(lo)) / (logit(hi) - logit(lo))
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.63 / math.sqrt(n), ks
    batch = sample_gamma(schedule, gens("batch", 8), kind)
    alone = torch.cat([sample_gamma(schedule, gens("batch", 1, start=b), kind) for b in range(8)])
    assert torch.equal(batch, alone)
    with pytest.raises(ValueError, match="noise levels"):
        sample_gamma(schedule, gens("batch", 2), "cosine")


def test_draw_noise_depends_on_example_not_batch():
    batch = draw_noise((3, 4, 4), gens("noise", 5))
    assert batch.shape == (5, 3, 4, 4) and batch.dtype == torch.float32
    for b in range(5):
        assert torch.equal(draw_noise((3, 4, 4), gens("noise", 1, start=b))[0], batch[b])
    assert not torch.equal(batch[0], batch[1])


# ---- forward process, network input, loss -----------------------------------------------------


def test_q_sample_closed_form():
    y0 = draw_noise((3, 5, 5), gens("y0", 4)).clamp(-1, 1)
    eps = draw_noise((3, 5, 5), gens("eps", 4))
    gamma = torch.tensor([1.0, 0.75, 0.01, 1 - 1e-6], dtype=torch.float32)
    out = q_sample(y0, gamma, eps)
    g = gamma.double().numpy()[:, None, None, None]
    expected = np.sqrt(g) * y0.double().numpy() + np.sqrt(1 - g) * eps.double().numpy()
    assert out.dtype == torch.float32 and out.shape == y0.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-7)
    assert torch.equal(out[0], y0[0])  # gamma = 1: the clean image


def make_batch(b=4, size=8, masked=True):
    y0 = draw_noise((3, size, size), gens("y0", b)).clamp(-1, 1)
    eps = draw_noise((3, size, size), gens("eps", b))
    mask = (draw_noise((1, size, size), gens("mask", b)) > 0).float() if masked else None
    condition = y0 if mask is None else torch.where(mask.bool(), draw_noise((3, size, size), gens("hole", b)), y0)
    gamma = sample_gamma(linear_schedule(**TRAIN_SCHEDULE), gens("gamma", b))
    return y0, condition, mask, gamma, eps


def test_network_input_keeps_known_pixels():
    y0, condition, mask, gamma, eps = make_batch()
    y_t = q_sample(y0, gamma, eps)
    x = network_input(condition, y_t, y0, mask)
    assert x.shape == (4, 6, 8, 8)
    assert torch.equal(x[:, :3], condition)  # condition first
    known, hole = (mask == 0).expand_as(y0), (mask == 1).expand_as(y0)
    assert torch.equal(x[:, 3:][known], y0[known])
    assert torch.equal(x[:, 3:][hole], y_t[hole])
    assert torch.equal(network_input(condition, y_t), torch.cat([condition, y_t], 1))
    with pytest.raises(ValueError):
        network_input(condition, y_t, None, mask)


@pytest.mark.parametrize("weighting", ["none", "min-snr"])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("masked", [False, True])
def test_loss_is_zero_for_a_perfect_predictor(masked, parameterization, weighting):
    """The network returning the true target of its parameterization (eps, v or y0) has loss 0; the eps target is eps itself."""
    y0, condition, mask, gamma, eps = make_batch(masked=masked)
    seen = {}
    true = target(y0, eps, gamma, parameterization)

    def oracle(x, g):
        seen["gamma"] = g
        return true

    kw = dict(parameterization=parameterization, weighting=weighting)
    loss = palette_loss(oracle, y0, condition, mask, gamma, eps, **kw)
    assert loss.shape == (4,) and torch.equal(loss, torch.zeros(4))
    assert torch.equal(seen["gamma"], gamma)
    noisy = palette_loss(lambda x, g: true + 0.1, y0, condition, mask, gamma, eps, **kw)
    assert bool((noisy > 0).all())
    if parameterization != "eps":  # the eps target is not the target of v or x0
        assert bool((palette_loss(lambda x, g: eps, y0, condition, mask, gamma, eps, **kw) > 0).all())


def test_targets_in_closed_form():
    y0, _, _, gamma, eps = make_batch(masked=False)
    g = gamma.double()[:, None, None, None]
    assert target(y0, eps, gamma, "eps") is eps and target(y0, eps, gamma, "x0") is y0
    v = target(y0.double(), eps.double(), gamma, "v")
    torch.testing.assert_close(v, g.sqrt() * eps.double() - (1 - g).sqrt() * y0.double(), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="parameterization"):
        target(y0, eps, gamma, "score")


# gammas from the training schedule's smallest to its largest, where each conversion stays well conditioned
ROUND_TRIP_GAMMAS = [4.4e-5, 1e-3, 0.2, 0.5, 0.9, 0.999, 1 - 1e-6]


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("scalar", [False, True], ids=["tensor-gamma", "float-gamma"])
def test_conversions_round_trip_in_float64(parameterization, scalar):
    """target(y0, eps) read back by eps_and_y0 gives (eps, y0); any output -> (eps_hat, y0_hat) -> target gives the output back."""
    n = len(ROUND_TRIP_GAMMAS)
    y0 = draw_noise((3, 6, 6), gens("rt-y0", n), dtype=torch.float64).clamp(-1, 1)
    eps = draw_noise((3, 6, 6), gens("rt-eps", n), dtype=torch.float64)
    out = draw_noise((3, 6, 6), gens("rt-out", n), dtype=torch.float64)
    for b, g in enumerate(ROUND_TRIP_GAMMAS):
        gamma = g if scalar else torch.tensor([g], dtype=torch.float64)
        y_t = math.sqrt(g) * y0[b : b + 1] + math.sqrt(1 - g) * eps[b : b + 1]
        eps_hat, y0_hat = eps_and_y0(target(y0[b : b + 1], eps[b : b + 1], gamma, parameterization), y_t, gamma, parameterization)
        assert (eps_hat - eps[b]).abs().max().item() < 1e-9, g
        assert (y0_hat - y0[b]).abs().max().item() < 1e-9, g
        # an arbitrary output: the pair read from it is consistent with y_t and gives the output back
        eps_hat, y0_hat = eps_and_y0(out[b : b + 1], y_t, gamma, parameterization)
        torch.testing.assert_close(math.sqrt(g) * y0_hat + math.sqrt(1 - g) * eps_hat, y_t, rtol=0, atol=1e-12)
        torch.testing.assert_close(target(y0_hat, eps_hat, gamma, parameterization), out[b : b + 1], rtol=0, atol=1e-7)


@pytest.mark.parametrize("g", [4.4e-5, 0.1, 0.5, 0.9, 1 - 1e-6])
def test_edm_coefficients_are_karras_table_1_in_vp_coordinates(g):
    """EDM's c_in, c_skip, c_out act on x = y_t / sqrt(gamma) with sigma = sqrt((1 - gamma) / gamma); ours act on y_t.
    sigma_data = 1 gives v's y0_hat = sqrt(gamma) y_t + sqrt(1 - gamma) F, with F = -v."""
    sigma, sd, a = math.sqrt((1 - g) / g), 0.5, math.sqrt(g)
    c_in, c_skip, c_out = edm_coefficients(g, torch.zeros(1))
    assert c_in == pytest.approx(1 / math.sqrt(sigma**2 + sd**2) / a, rel=1e-12)
    assert c_skip == pytest.approx(sd**2 / (sigma**2 + sd**2) / a, rel=1e-12)
    assert c_out == pytest.approx(sigma * sd / math.sqrt(sigma**2 + sd**2), rel=1e-12)
    assert edm_coefficients(g, torch.zeros(1), 1.0) == pytest.approx((1.0, a, math.sqrt(1 - g)), rel=1e-12)
    tensor = edm_coefficients(torch.tensor([g, g], dtype=torch.float64), torch.zeros(2, 3, 4, 4, dtype=torch.float64))
    assert all(t.shape == (2, 1, 1, 1) and t[0].item() == pytest.approx(f, rel=1e-12) for t, f in zip(tensor, (c_in, c_skip, c_out)))


def test_edm_network_input_has_unit_variance_for_data_of_std_sigma_data():
    """c_in scales y_t so that the network sees unit variance at every noise level when the data's std is 0.5."""
    n = 20000
    y0 = 0.5 * torch.randn(n, 1, 1, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    eps = torch.randn(n, 1, 1, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cond = torch.zeros(n, 1, 1, 1, dtype=torch.float64)
    for g in (1e-3, 0.2, 0.8, 0.999):
        gamma = torch.full((n,), g, dtype=torch.float64)
        x = network_input(cond, q_sample(y0, gamma, eps), gamma=gamma, parameterization="edm")[:, 1]
        assert x.var().item() == pytest.approx(1.0, abs=0.03), g
        plain = network_input(cond, q_sample(y0, gamma, eps))[:, 1]
        assert g < 0.5 or plain.var().item() < 0.5  # without c_in, nearly clean inputs have the data's variance, 0.25
    with pytest.raises(ValueError, match="c_in"):
        network_input(cond, eps, parameterization="edm")


def test_eps_conversion_is_ddpm_eq_15():
    y_t, eps_hat = draw_noise((3, 4, 4), gens("e15-y", 2)), draw_noise((3, 4, 4), gens("e15-e", 2))
    got_eps, got_y0 = eps_and_y0(eps_hat, y_t, 0.3, "eps")
    assert got_eps is eps_hat and torch.equal(got_y0, (y_t - math.sqrt(0.7) * eps_hat) / math.sqrt(0.3))
    v_eps, v_y0 = eps_and_y0(eps_hat, y_t, 0.3, "v")  # independent form: y0 = sqrt(g) y_t - sqrt(1 - g) v
    torch.testing.assert_close(v_y0, math.sqrt(0.3) * y_t - math.sqrt(0.7) * eps_hat)
    torch.testing.assert_close(v_eps, math.sqrt(0.7) * y_t + math.sqrt(0.3) * eps_hat)


def test_min_snr_weights():
    """SNR = gamma / (1 - gamma): at gamma 0.5 SNR = 1, at 0.9 SNR = 9 (k = 5 clips it), at 1 SNR = inf.

    L2 divides min(SNR, k) by SNR (eps) or SNR + 1 (v), L1 by their square roots."""
    gamma = torch.tensor([0.5, 0.9, 0.1, 1.0], dtype=torch.float64)
    snr = [1.0, 9.0, 1 / 9, math.inf]
    expected = {
        ("x0", 2): [1.0, 5.0, 1 / 9, 5.0],
        ("eps", 2): [1.0, 5 / 9, 1.0, 0.0],
        ("v", 2): [0.5, 0.5, (1 / 9) / (1 / 9 + 1), 0.0],
        ("x0", 1): [1.0, 5.0, 1 / 9, 5.0],
        ("eps", 1): [1.0, 5 / 3, 1 / 3, 0.0],
        ("v", 1): [1 / math.sqrt(2), 5 / math.sqrt(10), 1 / (3 * math.sqrt(10)), 0.0],
    }
    for (parameterization, p), want in expected.items():
        got = min_snr_weight(gamma, parameterization, 5.0, p)
        assert got.dtype == torch.float64 and bool(torch.isfinite(got).all())
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=0, err_msg=f"{parameterization}, p = {p}, SNR {snr}")
    assert torch.equal(min_snr_weight(gamma, "eps", 5.0), min_snr_weight(gamma, "eps", 5.0, 2))  # L2 unless told
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        min_snr_weight(gamma, "eps", 5.0, 3)


@pytest.mark.parametrize("p", [2, 1])
def test_min_snr_weights_the_same_clean_image_error_alike(p):
    """One estimate (eps_hat, y0_hat) scored as eps, v or y0: with min-SNR weighting each |.|^p loss is
    min(SNR, k) mean |y0_hat - y0|^p, the weighting Hang et al. 2023 define on x0.

    The outputs are mutually consistent (one y0_hat, expressed as eps, v and y0 at the same y_t), so
    their errors differ pixel by pixel by the factors sqrt(SNR) and sqrt(SNR + 1), raised to the power p.
    """
    y0, condition, _, gamma, eps = make_batch(masked=False)
    gamma = torch.tensor([0.02, 0.5, 0.9, 0.9999])  # SNR below and above k = 5
    y0, eps = y0.double(), eps.double()
    y_t = q_sample(y0, gamma, eps)
    y0_hat = y0 + 0.1 * draw_noise((3, 8, 8), gens("err", 4), dtype=torch.float64)
    eps_hat = eps_and_y0(y0_hat, y_t, gamma, "x0")[0]  # the eps consistent with y_t and y0_hat
    snr = gamma.double() / (1 - gamma.double())
    want = snr.clamp(max=5.0) * (y0_hat - y0).abs().pow(p).mean(dim=(1, 2, 3))
    for parameterization in PARAMETERIZATIONS:
        out = target(y0_hat, eps_hat, gamma, parameterization)
        loss = palette_loss(lambda x, g: out, y0, condition.double(), None, gamma, eps, p, parameterization=parameterization, weighting="min-snr")
        torch.testing.assert_close(loss, want, rtol=1e-6, atol=0, msg=parameterization)
    with pytest.raises(ValueError, match="weighting"):
        palette_loss(lambda x, g: eps, y0, condition, None, gamma, eps, weighting="snr")


def test_loss_of_a_predictor_that_inverts_the_forward_process():
    """eps recovered from the network input: exact in the hole, wrong at the known pixels (which hold y0), which the masked loss ignores."""
    y0, condition, mask, gamma, eps = make_batch()

    def invert(x, g):
        gg = g.double()[:, None, None, None]
        return ((x[:, 3:].double() - gg.sqrt() * y0.double()) / (1 - gg).sqrt()).float()

    assert palette_loss(invert, y0, condition, mask, gamma, eps).max() < 1e-6
    assert palette_loss(invert, y0, condition, None, gamma, eps).max() < 1e-6
    # at the known pixels the network saw y0, not y_t, so the inverted eps is wrong there: only the mask hides it
    eps_hat = invert(network_input(condition, q_sample(y0, gamma, eps), y0, mask), gamma)
    known = (mask == 0).expand_as(eps)
    assert (eps_hat - eps)[known].abs().mean() > 1e-2


def test_l1_and_l2():
    y0, condition, _, gamma, eps = make_batch(masked=False)
    err = draw_noise((3, 8, 8), gens("err", 4))
    l1 = palette_loss(lambda x, g: eps + err, y0, condition, None, gamma, eps, p=1)
    l2 = palette_loss(lambda x, g: eps + err, y0, condition, None, gamma, eps, p=2)
    torch.testing.assert_close(l1, err.abs().mean(dim=(1, 2, 3)), rtol=1e-6, atol=0)
    torch.testing.assert_close(l2, err.square().mean(dim=(1, 2, 3)), rtol=1e-6, atol=0)
    const1 = palette_loss(lambda x, g: eps - 0.5, y0, condition, None, gamma, eps, p=1)
    const2 = palette_loss(lambda x, g: eps - 0.5, y0, condition, None, gamma, eps, p=2)
    torch.testing.assert_close(const1, torch.full((4,), 0.5), rtol=1e-6, atol=0)
    torch.testing.assert_close(const2, torch.full((4,), 0.25), rtol=1e-6, atol=0)
    with pytest.raises(ValueError):
        palette_loss(lambda x, g: eps, y0, condition, None, gamma, eps, p=3)


@pytest.mark.parametrize("p", [1, 2])
def test_masked_loss_counts_only_masked_pixels(p):
    y0, condition, mask, gamma, eps = make_batch()
    err = draw_noise((3, 8, 8), gens("err", 4))
    base = palette_loss(lambda x, g: eps + err, y0, condition, mask, gamma, eps, p=p)
    hole = mask.bool().expand_as(err)
    e = err.abs() if p == 1 else err.square()
    expected = torch.stack([e[b][hole[b]].mean() for b in range(4)])  # independent: boolean selection
    torch.testing.assert_close(base, expected, rtol=1e-6, atol=0)
    at_known = palette_loss(lambda x, g: eps + torch.where(hole, err, err + 5.0), y0, condition, mask, gamma, eps, p=p)
    assert torch.equal(at_known, base)
    in_hole = palette_loss(lambda x, g: eps + torch.where(hole, err + 5.0, err), y0, condition, mask, gamma, eps, p=p)
    assert bool((in_hole != base).all())


def test_empty_mask_gives_zero_loss():
    y0, condition, mask, gamma, eps = make_batch()
    mask = mask.clone()
    mask[1] = 0
    loss = palette_loss(lambda x, g: eps + 1.0, y0, condition, mask, gamma, eps)
    assert loss[1].item() == 0.0 and bool(torch.isfinite(loss).all()) and bool((loss[[0, 2, 3]] > 0).all())
