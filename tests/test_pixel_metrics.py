"""PSNR, SSIM, MS-SSIM and diversity metrics, checked against scikit-image and by-hand references."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from palette_bench.metrics.diversity import lpips_diversity, msssim_diversity
from palette_bench.metrics.msssim import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_scales, ssim_map
from palette_bench.metrics.pixel import psnr, ssim

SK_SSIM = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)


def to_t(arrs):
    """List of HWC uint8 arrays -> [B, 3, H, W] uint8 tensor."""
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def noisy(x, std, rng):
    return np.clip(x + rng.normal(0, std, x.shape), 0, 255).astype(np.uint8)


def pairs(kind, h, w, rng):
    """Two image pairs (x, y) of size h x w: random, or natural (astronaut crops) with noise."""
    if kind == "random":
        x = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2)]
        y = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8), noisy(x[1], 30, rng)]
    else:
        a = skdata.astronaut()
        x = [a[40 : 40 + h, 100 : 100 + w], a[512 - h :, 512 - w :]]
        y = [noisy(x[0], 10, rng), noisy(x[1], 40, rng)]
    return x, y


@pytest.mark.parametrize("kind", ["random", "natural"])
@pytest.mark.parametrize("hw", [(32, 32), (64, 64), (256, 256), (48, 80)])
def test_ssim_and_psnr_match_skimage(kind, hw):
    rng = np.random.default_rng([len(kind), *hw])  # str hashes vary between runs
    x, y = pairs(kind, *hw, rng)
    got_ssim, got_psnr = ssim(to_t(x), to_t(y)), psnr(to_t(x), to_t(y))
    assert got_ssim.dtype == got_psnr.dtype == torch.float64 and got_ssim.shape == (2,)
    for i in range(2):
        assert abs(got_ssim[i].item() - structural_similarity(x[i], y[i], **SK_SSIM)) < 1e-6
        assert abs(got_psnr[i].item() - peak_signal_noise_ratio(x[i], y[i], data_range=255)) < 1e-9


def test_identical_images_and_shapes():
    x = to_t([skdata.astronaut()[:64, :64]])
    assert psnr(x, x).item() == float("inf")
    assert ssim(x, x).item() == 1.0
    s, cs = ssim_map(x, x)
    assert s.shape == cs.shape == (1, 3, 54, 54)
    with pytest.raises(TypeError):
        psnr(x.float() / 127.5 - 1, x.float() / 127.5 - 1)  # model-space floats are refused


def box_mask(b, h, w, top, left, size):
    m = torch.zeros(b, 1, h, w)
    m[:, :, top : top + size, left : left + size] = 1
    return m


def test_masked_psnr_by_hand():
    rng = np.random.default_rng(1)
    x, y = pairs("natural", 64, 64, rng)
    mask = torch.from_numpy(rng.random((2, 1, 64, 64)) < 0.3)
    got = psnr(to_t(x), to_t(y), mask)
    for i in range(2):
        m = mask[i, 0].numpy()
        mse = np.mean((x[i][m].astype(np.float64) - y[i][m]) ** 2)  # [pixels in mask, 3 channels]
        assert abs(got[i].item() - 10 * np.log10(255**2 / mse)) < 1e-9
    assert got[0].item() != pytest.approx(psnr(to_t(x), to_t(y))[0].item(), abs=1e-3)


def test_masked_metrics_only_see_the_hole():
    rng = np.random.default_rng(2)
    x, y = pairs("natural", 64, 64, rng)
    x, y = to_t(x), to_t(y)
    mask = box_mask(2, 64, 64, 20, 24, 16)  # hole rows/cols 20..35 x 24..39
    base_p, base_s = psnr(x, y, mask), ssim(x, y, mask)
    # SSIM windows centred in the hole reach 5 px beyond it: change only pixels farther away.
    far = torch.ones(2, 1, 64, 64, dtype=torch.bool)
    far[:, :, 15:41, 19:45] = False
    y_out = torch.where(far, 255 - y, y)
    assert torch.equal(psnr(x, y_out, mask), base_p)
    assert torch.allclose(ssim(x, y_out, mask), base_s, rtol=0, atol=1e-12)
    assert (psnr(x, y_out) < base_p).all()  # ...while the whole-image values do change
    y_in = torch.where(mask.bool(), 255 - y, y)
    assert (psnr(x, y_in, mask) < base_p - 1).all()
    assert (ssim(x, y_in, mask) < base_s - 0.05).all()
    # A hole too close to the border for any full window: nan, documented.
    edge = box_mask(2, 64, 64, 0, 0, 4)
    assert torch.isnan(ssim(x, y, edge)).all() and torch.isfinite(psnr(x, y, edge)).all()


def reference_ms_ssim(x, y, scales):
    """MS-SSIM of two HWC uint8 images from skimage's SSIM map and scipy's Gaussian filter, numpy pooling.

    cs = SSIM / luminance, where the luminance term uses scipy's gaussian_filter as skimage does.
    """
    c1 = (0.01 * 255) ** 2
    w = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
    x, y = x.astype(np.float64), y.astype(np.float64)
    terms = []
    for j in range(scales):
        if j > 0:
            h, wd = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
            x = x[:h, :wd].reshape(h // 2, 2, wd // 2, 2, 3).mean(axis=(1, 3))
            y = y[:h, :wd].reshape(h // 2, 2, wd // 2, 2, 3).mean(axis=(1, 3))
        if j == scales - 1:
            terms.append(structural_similarity(x, y, **SK_SSIM))
            continue
        _, s = structural_similarity(x, y, full=True, **SK_SSIM)
        f = dict(sigma=(1.5, 1.5, 0), truncate=3.5, mode="reflect")
        ux, uy = gaussian_filter(x, **f), gaussian_filter(y, **f)
        cs = s / ((2 * ux * uy + c1) / (ux**2 + uy**2 + c1))
        terms.append(cs[5:-5, 5:-5].mean())
    return float(np.prod(np.maximum(terms, 0) ** w))


@pytest.mark.parametrize("size,scales", [(256, 5), (64, 3), (32, 2)])
def test_ms_ssim_matches_reference(size, scales):
    assert ms_ssim_scales(size) == scales
    rng = np.random.default_rng(size)
    x, y = pairs("natural", size, size, rng)
    got = ms_ssim(to_t(x), to_t(y))
    assert got.shape == (2,) and got.dtype == torch.float64
    for i in range(2):
        assert abs(got[i].item() - reference_ms_ssim(x[i], y[i], scales)) < 1e-4
    # Random pairs exercise the relu: their cs terms are ~0 and can be negative.
    xr, yr = pairs("random", size, size, rng)
    assert abs(ms_ssim(to_t(xr[:1]), to_t(yr[:1])).item() - reference_ms_ssim(xr[0], yr[0], scales)) < 1e-4


def test_ms_ssim_scales_rule():
    assert [ms_ssim_scales(s) for s in (11, 21, 22, 32, 64, 128, 175, 176, 256, 1024)] == [1, 1, 2, 2, 3, 4, 4, 5, 5, 5]
    with pytest.raises(ValueError, match="at least 11 px"):
        ms_ssim(torch.zeros(1, 3, 10, 10, dtype=torch.uint8), torch.zeros(1, 3, 10, 10, dtype=torch.uint8))


def test_ms_ssim_identity_symmetry_monotonicity():
    rng = np.random.default_rng(3)
    x = skdata.astronaut()[128:384, 128:384]
    t = to_t([x])
    assert abs(ms_ssim(t, t).item() - 1) < 1e-12
    r = to_t([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    assert abs(ms_ssim(r, r).item() - 1) < 1e-12
    noise = rng.normal(0, 1, x.shape)
    ys = [to_t([np.clip(x + s * noise, 0, 255).astype(np.uint8)]) for s in (2, 5, 10, 20, 40, 80)]
    vals = [ms_ssim(t, y).item() for y in ys]
    assert all(a > b for a, b in zip(vals, vals[1:])) and vals[-1] < 0.7, vals
    assert abs(ms_ssim(t, ys[2]).item() - ms_ssim(ys[2], t).item()) < 1e-12
    # The negative image has negative cs at every scale: clamped to 0 (relu) before the powers.
    assert ms_ssim(t, 255 - t).item() == 0.0


def mad(a, b):
    """Mean absolute difference per image: a stand-in perceptual distance."""
    return (a.double() - b.double()).abs().mean(dim=(1, 2, 3))


def test_diversity_identical_and_independent_samples():
    rng = np.random.default_rng(4)
    one = torch.from_numpy(rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8))
    same = one[:, None].expand(3, 5, 3, 32, 32)
    assert torch.allclose(msssim_diversity(same), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.equal(lpips_diversity(same, mad), torch.zeros(3, dtype=torch.float64))
    indep = torch.from_numpy(rng.integers(0, 256, (3, 5, 3, 32, 32), dtype=np.uint8))
    assert (msssim_diversity(indep) < 0.2).all()
    assert (lpips_diversity(indep, mad) > 50).all()


def test_diversity_pairs_and_batching():
    rng = np.random.default_rng(5)
    base = skdata.astronaut()[:64, :64].astype(np.float64)
    # Noise growing with k makes first-vs-others and consecutive pairs give different values.
    s = np.stack([[noisy(base, 5 * k * (n + 1), rng) for k in range(4)] for n in range(5)])
    samples = torch.from_numpy(s).permute(0, 1, 4, 2, 3).contiguous()  # [5, 4, 3, 64, 64]
    ms, lp = msssim_diversity(samples), lpips_diversity(samples, mad)
    by_hand_ms = torch.stack([ms_ssim(samples[:, 0], samples[:, k]) for k in (1, 2, 3)]).mean(0)
    by_hand_lp = torch.stack([mad(samples[:, k], samples[:, k + 1]) for k in (0, 1, 2)]).mean(0)
    assert torch.allclose(ms, by_hand_ms, rtol=0, atol=1e-12) and torch.allclose(lp, by_hand_lp, rtol=0, atol=1e-12)
    assert not torch.allclose(lp, torch.stack([mad(samples[:, 0], samples[:, k]) for k in (1, 2, 3)]).mean(0))
    for bs in (1, 2, 3, 64):
        assert torch.allclose(msssim_diversity(samples, batch_size=bs), ms, rtol=0, atol=1e-12)
        assert torch.allclose(lpips_diversity(samples, mad, batch_size=bs), lp, rtol=0, atol=1e-12)
