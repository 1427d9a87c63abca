"""FD_DINOv2, CMMD, precision/recall/density/coverage and SWD: agreement with the reference code on the same
features, the properties each metric is built to have, and the evaluation and comparison paths."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import write_small_builtin
from standins import natural_images, perturb
from test_compare import noisy_pair
from test_eval_protocol import TINY_JUDGE, originals, write_method

from palette_bench.compare import compare
from palette_bench.evaluate import EvalOptions, evaluate_folders, evaluate_protocol
from palette_bench.metrics import swd as swd_lib
from palette_bench.metrics.cmmd import ResampledCMMD, cmmd
from palette_bench.metrics.prdc import ResampledPRDC, prdc
from palette_bench.protocols import load_protocol
from palette_bench.runconfig import EVAL_METRICS
from palette_bench.weights import WEIGHTS, ResolvedWeights, WeightsError, resolve


def _gaussian(n, d=16, seed=0, shift=0.0, scale=1.0):
    return np.random.default_rng(seed).standard_normal((n, d)) * scale + shift


# ---------------------------------------------------------------- PRDC


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prdc_agrees_with_torch_fidelity_and_the_prdc_package_on_the_same_features(seed):
    prdc_package = pytest.importorskip("prdc")
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    real = _gaussian(300, seed=seed)
    fake = _gaussian(250, seed=seed + 10, shift=0.3, scale=1.2)
    ours = prdc(real, fake)
    # torch-fidelity's prc (k = 3): generated first, real second. It averages its 0/1 indicators in float32,
    # so the agreement is checked on the counts, exactly (the float32 mean carries ~1e-8 of rounding)
    p, r = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), neighborhood=3)
    assert ours["precision"] * len(fake) == round(p * len(fake)) and ours["recall"] * len(real) == round(r * len(real))
    ref = prdc_package.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    assert ours["density"] == pytest.approx(ref["density"], abs=1e-9) and ours["coverage"] == pytest.approx(ref["coverage"], abs=1e-9)
    assert 0 < ours["precision"] < 1 and 0 < ours["coverage"] < 1  # a case where the values could differ


def test_prdc_on_identical_sets_and_on_sets_from_one_distribution():
    x = _gaussian(200)
    same = prdc(x, x.copy())
    # every point is its own nearest neighbour: inside every ball it owns; each real ball holds exactly k points
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0 and same["density"] == pytest.approx(1.0, abs=1e-12)
    densities = [prdc(_gaussian(300, seed=s), _gaussian(300, seed=100 + s))["density"] for s in range(10)]
    assert 0.9 < np.mean(densities) < 1.1  # Naeem et al.: about 1 in expectation for two samples of one distribution


def test_a_shifted_set_loses_precision_and_coverage_a_collapsed_set_keeps_precision_and_loses_recall():
    real = _gaussian(300)
    base = prdc(real, _gaussian(300, seed=1))
    shifted = prdc(real, _gaussian(300, seed=1, shift=1.5))
    assert shifted["precision"] < base["precision"] - 0.3 and shifted["coverage"] < base["coverage"] - 0.3
    # collapse: 300 outputs that are 5 real-like points, each repeated
    few = np.repeat(_gaussian(5, seed=2, scale=0.3), 60, axis=0) + 1e-6 * _gaussian(300, seed=3)
    collapsed = prdc(real, few)
    assert collapsed["precision"] >= base["precision"] - 0.05 and collapsed["recall"] < base["recall"] - 0.5


def test_resampled_prdc_is_the_metric_of_the_resampled_rows():
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    real, fake = _gaussian(120), _gaussian(100, seed=5, shift=0.2)
    stat = ResampledPRDC(real, fake)
    for idx in np.random.default_rng(0).integers(0, 100, size=(5, 100)):
        got = stat(idx)
        direct = prdc(real, fake[idx])  # recall with duplicated rows: the library's balls on the resampled set
        p, r = calculate_precision_recall_full(torch.from_numpy(fake[idx]), torch.from_numpy(real), neighborhood=3)
        assert got == pytest.approx(direct, abs=1e-12)
        assert got["precision"] * 100 == round(p * 100) and got["recall"] * 120 == round(r * 120)


# ---------------------------------------------------------------- CMMD


def _cmmd_reference(x, y, sigma=10, scale=1000):
    """google-research/cmmd distance.py's mmd, op for op (jnp -> np, float64)."""
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))
    gamma = 1 / (2 * sigma**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * np.matmul(x, x.T) + np.expand_dims(x_sqnorms, 1) + np.expand_dims(x_sqnorms, 0))))
    k_xy = np.mean(np.exp(-gamma * (-2 * np.matmul(x, y.T) + np.expand_dims(x_sqnorms, 1) + np.expand_dims(y_sqnorms, 0))))
    k_yy = np.mean(np.exp(-gamma * (-2 * np.matmul(y, y.T) + np.expand_dims(y_sqnorms, 1) + np.expand_dims(y_sqnorms, 0))))
    return scale * (k_xx + k_yy - 2 * k_xy)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cmmd_matches_the_reference_is_zero_for_identical_sets_and_ignores_order():
    x = _unit(_gaussian(200, d=32, seed=1))
    y = _unit(_gaussian(150, d=32, seed=2, shift=0.4))
    assert cmmd(x, y) == pytest.approx(_cmmd_reference(x, y), abs=1e-6) and cmmd(x, y) > 1e-3
    assert cmmd(x, x.copy()) == pytest.approx(0.0, abs=1e-9)
    perm = np.random.default_rng(0).permutation(len(x))
    assert cmmd(x[perm], y[::-1]) == pytest.approx(cmmd(x, y), abs=1e-9)
    stat = ResampledCMMD(x, y)
    idx = np.random.default_rng(1).integers(0, 200, 200)
    assert stat(idx) == pytest.approx(_cmmd_reference(x[idx], y), abs=1e-9)


# ---------------------------------------------------------------- SWD


def _blur(images, sigma):
    from torchvision.transforms.functional import gaussian_blur

    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(images.float(), [k, k], [sigma, sigma]).round().clamp(0, 255).to(torch.uint8)


def test_swd_is_zero_for_identical_sets_and_grows_with_blur_and_with_noise():
    images = natural_images(48, 32)
    idx = np.arange(48)
    orig = swd_lib.descriptors(images, idx)
    assert swd_lib.swd(orig, swd_lib.descriptors(images.clone(), idx)) == 0.0
    blur = [swd_lib.swd(swd_lib.descriptors(_blur(images, s), idx), orig) for s in (0.5, 1.0, 2.0)]
    noise = [swd_lib.swd(swd_lib.descriptors(perturb(images, a, seed=3), idx), orig) for a in (4, 16, 48)]
    assert 0 < blur[0] < blur[1] < blur[2] and 0 < noise[0] < noise[1] < noise[2]


def test_laplacian_pyramid_reconstructs_the_image_and_descriptors_do_not_depend_on_the_batch():
    images = natural_images(6, 32)
    pyr = swd_lib.laplacian_pyramid(images, 2)
    assert [p.shape[-1] for p in pyr] == [32, 16]
    up = torch.zeros_like(pyr[0])
    up[..., ::2, ::2] = pyr[1]
    assert torch.allclose(pyr[0] + swd_lib._blur(up, 4.0), images.double(), atol=1e-9)  # pyrUp(coarse) + detail
    whole = swd_lib.descriptors(images, range(6))
    parts = np.concatenate([swd_lib.descriptors(images[:2], range(2)), swd_lib.descriptors(images[2:], range(2, 6))])
    assert np.array_equal(whole, parts)


def test_resampled_swd_replicate_equals_swd_of_the_resampled_sets():
    """The replicate's precomputed channel projections give the same number as normalising and projecting the resample."""
    images = natural_images(12, 32)
    a = swd_lib.descriptors(images, range(12))
    b = swd_lib.descriptors(perturb(images, 20, seed=5), range(12))
    stat = swd_lib.ResampledSWD(a, b)
    for idx in (np.arange(12), np.random.default_rng(1).integers(0, 12, 12), np.array([3, 3, 3, 7, 0, 11, 11, 2, 5, 5, 9, 1])):
        direct = swd_lib.swd_levels(a[idx][:, :, : swd_lib.REPLICATE_NHOODS], b[idx][:, :, : swd_lib.REPLICATE_NHOODS], 1, swd_lib.REPLICATE_DIRS).mean()
        assert stat(idx) == pytest.approx(direct, rel=1e-5)


# ---------------------------------------------------------------- extractors from stand-in files


def _standin_dinov2(path, width=64, depth=2):
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    m = VisionTransformer(img_size=518, patch_size=14, embed_dim=width, depth=depth, num_heads=width // 64, init_values=1e-5, num_classes=0)
    state = m.state_dict()
    state["mask_token"] = torch.zeros(1, width)  # DINOv2's file layout
    torch.save(state, path)
    return path


def _standin_openai_clip(path, width=64, depth=2, patch=14, grid=24, out=32):
    g = torch.Generator().manual_seed(0)
    r = lambda *s, std=0.05: torch.randn(*s, generator=g) * std  # noqa: E731
    sd = {"visual.class_embedding": r(width, std=1), "visual.positional_embedding": r(grid * grid + 1, width, std=0.1),
          "visual.conv1.weight": r(width, 3, patch, patch), "visual.ln_pre.weight": 1 + r(width), "visual.ln_pre.bias": r(width),
          "visual.ln_post.weight": 1 + r(width), "visual.ln_post.bias": r(width), "visual.proj": r(width, out, std=0.2)}
    for i in range(depth):
        p = f"visual.transformer.resblocks.{i}."
        sd |= {p + "ln_1.weight": 1 + r(width), p + "ln_1.bias": r(width), p + "ln_2.weight": 1 + r(width), p + "ln_2.bias": r(width),
               p + "attn.in_proj_weight": r(3 * width, width), p + "attn.in_proj_bias": r(3 * width),
               p + "attn.out_proj.weight": r(width, width), p + "attn.out_proj.bias": r(width),
               p + "mlp.c_fc.weight": r(4 * width, width), p + "mlp.c_fc.bias": r(4 * width),
               p + "mlp.c_proj.weight": r(width, 4 * width), p + "mlp.c_proj.bias": r(width)}
    torch.save(sd, path)
    return sd


def _openai_clip_forward(sd, x, depth=2, heads=1):
    """OpenAI's VisionTransformer.forward (clip/model.py), written from its definition: the check on timm's renaming."""
    x = F.conv2d(x, sd["visual.conv1.weight"], stride=sd["visual.conv1.weight"].shape[-1])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd["visual.class_embedding"].expand(len(x), 1, -1), x], dim=1) + sd["visual.positional_embedding"]
    ln = lambda t, n: F.layer_norm(t, t.shape[-1:], sd[n + ".weight"], sd[n + ".bias"], eps=1e-5)  # noqa: E731
    x = ln(x, "visual.ln_pre")
    for i in range(depth):
        p = f"visual.transformer.resblocks.{i}."
        h = ln(x, p + "ln_1")
        att = torch.nn.MultiheadAttention(x.shape[-1], heads, batch_first=True)
        att.load_state_dict({"in_proj_weight": sd[p + "attn.in_proj_weight"], "in_proj_bias": sd[p + "attn.in_proj_bias"],
                             "out_proj.weight": sd[p + "attn.out_proj.weight"], "out_proj.bias": sd[p + "attn.out_proj.bias"]})
        x = x + att(h, h, h, need_weights=False)[0]
        h = F.linear(ln(x, p + "ln_2"), sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        x = x + F.linear(h, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    return ln(x[:, 0], "visual.ln_post") @ sd["visual.proj"]


def test_clip_extractor_is_openais_forward_and_dinov2_loads_its_file_layout(tmp_path):
    from palette_bench.metrics.vit_extractors import CLIP_MEAN, CLIP_STD, CLIPImage, DINOv2

    sd = _standin_openai_clip(tmp_path / WEIGHTS["clip-vitl14-336"].filename)
    clip = CLIPImage(resolve("clip-vitl14-336", tmp_path, allow_unverified=True))
    images = natural_images(3, 32)
    x = F.interpolate(images.float() / 255, size=(336, 336), mode="bicubic", align_corners=False)
    x = (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        want = _openai_clip_forward(sd, x).double()
    want = want / want.norm(dim=1, keepdim=True)
    assert torch.allclose(clip(images)["pool"], want, atol=1e-5)
    assert "CMMD reference" in clip.info["resize"] and clip.info["verified"] is False

    _standin_dinov2(tmp_path / WEIGHTS["dinov2-vitl14"].filename)
    dino = DINOv2(resolve("dinov2-vitl14", tmp_path))  # no published digest: used, marked unverified, no flag needed
    f = dino(images)["pool"]
    assert f.shape == (3, 64) and dino.info["verified"] is False and torch.isfinite(f).all()
    assert dino.model.pos_embed.shape[1] == 16 * 16 + 1  # the 37x37 grid resampled for 224 px


def test_missing_vit_weights_stop_with_one_line_naming_the_file(tmp_path):
    for name in ("dinov2-vitl14", "clip-vitl14-336"):
        with pytest.raises(WeightsError) as e:
            resolve(name, tmp_path)
        msg = str(e.value)
        assert "\n" not in msg and str(tmp_path / WEIGHTS[name].filename) in msg and WEIGHTS[name].url in msg


def test_an_unverified_torchscript_clip_file_is_not_opened(tmp_path):
    from palette_bench.metrics.vit_extractors import CLIPImage

    path = tmp_path / WEIGHTS["clip-vitl14-336"].filename
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(WeightsError, match="TorchScript archive whose sha256 is not OpenAI's"):
        CLIPImage(ResolvedWeights(WEIGHTS["clip-vitl14-336"], path, "0" * 64, False))


# ---------------------------------------------------------------- evaluation and paired comparison


@pytest.fixture
def two_evaluations(tmp_path):
    """Inpainting/center on the small builtin protocol, light (A) and heavy (B) noise, with every new metric."""
    weights = tmp_path / "weights"
    weights.mkdir()
    _standin_dinov2(weights / WEIGHTS["dinov2-vitl14"].filename)
    _standin_openai_clip(weights / WEIGHTS["clip-vitl14-336"].filename)
    metrics = ("fid", "fd_dinov2", "cmmd", "precision", "recall", "density", "coverage", "swd")
    opts = EvalOptions(metrics=metrics, judge_config=TINY_JUDGE, progress=False, bootstrap=20, weights_dir=str(weights), allow_unverified=True)
    return noisy_pair(tmp_path, opts)


def test_new_metrics_evaluate_and_compare_decides_on_each(two_evaluations):
    a, b = two_evaluations
    result = json.loads((a / "metrics.json").read_text())
    m = result["metrics"]
    assert set(m) == {"fid", "fd_dinov2", "cmmd", "precision", "recall", "density", "coverage", "swd"}
    assert m["precision"]["features"] == "dinov2" and m["precision"]["extractor"].startswith("dinov2-vitl14")  # DINOv2 when computed
    assert m["swd"]["extractor"].startswith("none") and len(m["swd"]["levels"]) == 2
    assert set(result["references"]) == {"dinov2", "clip"}
    for name, entry in m.items():
        assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1], name
    r = compare(a, b, replicates=200)
    for name in ("fd_dinov2", "cmmd", "precision", "recall", "density", "coverage", "swd"):
        got = r["metrics"][name]
        assert got["a"] == pytest.approx(m[name]["value"], rel=1e-9, abs=1e-12), name  # recomputed from the arrays
        assert got["ci95"][0] <= got["difference"] <= got["ci95"][1], name
    assert r["metrics"]["swd"]["verdict"] == "A better"  # 5x less pixel noise: the fine pyramid level sees it
    # FD_DINOv2 is FID's formula in DINOv2 features: dgm-eval computes it with scipy's sqrtm, as clean-fid does
    from cleanfid.fid import frechet_distance

    from palette_bench.metrics.reference import cache_root, load_npz

    ref = load_npz(cache_root() / "reference" / f"{result['references']['dinov2']['cache_key']}.npz")
    with np.load(a / "eval_arrays.npz") as z:
        x = z["dinov2"].astype(np.float64)
    theirs = frechet_distance(x.mean(axis=0), np.cov(x, rowvar=False), ref.mu, ref.sigma)
    assert abs(m["fd_dinov2"]["value"] - theirs) / theirs < 1e-4 and theirs > 0
    same = compare(a, a, ("swd", "cmmd", "prdc"), replicates=50)
    for name, got in same["metrics"].items():
        assert got["difference"] == 0 and got["ci95"] == [0.0, 0.0], name


def test_prdc_on_the_builtin_protocol_uses_the_judge(tmp_path):
    proto = load_protocol(str(write_small_builtin(tmp_path / "small.toml")))
    idx, orig = originals(proto, "uncropping", "right")
    pred = write_method(tmp_path / "pred", idx, perturb(orig, 10, seed=2))
    opts = EvalOptions(metrics=("precision", "coverage", "swd"), judge_config=TINY_JUDGE, progress=False, bootstrap=10)
    m = evaluate_protocol(proto, "uncropping", "right", pred, opts)["metrics"]
    assert m["precision"]["features"] == "pool" and m["precision"]["extractor"].startswith("judge-builtin")
    assert m["precision"]["real_n"] == 20 and m["precision"]["k"] == 3 and m["coverage"]["k"] == 5


def _write_pngs(folder, images, names):
    from PIL import Image

    folder.mkdir(parents=True)
    for img, name in zip(images, names):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / name)
    return folder


def test_two_folder_mode_computes_the_set_metrics_and_names_what_needs_a_protocol(tmp_path, standin_weights):
    images = natural_images(24, 32)
    pred_images = perturb(images, 30, seed=4)
    names = [f"{i:06d}.png" for i in range(24)]
    ref = _write_pngs(tmp_path / "ref", images, names)
    pred = _write_pngs(tmp_path / "pred", pred_images, names)
    opts = EvalOptions(metrics=EVAL_METRICS, bootstrap=30, weights_dir=str(standin_weights), allow_unverified=True, progress=False)
    r = evaluate_folders(pred, ref, opts)
    m = r["metrics"]
    assert {"fid", "pd", "lpips", "precision", "recall", "density", "coverage", "swd"} <= set(m)
    assert set(r["skipped"]) == {"ca", "psnr", "ssim", "diversity"}
    # the same number as SWD of the two image sets' descriptors, paired by file name
    direct = swd_lib.swd(swd_lib.descriptors(pred_images, range(24)), swd_lib.descriptors(images, range(24)))
    assert m["swd"]["value"] == pytest.approx(direct, rel=1e-9) and m["swd"]["value"] > 0
    for name in ("precision", "recall", "coverage"):
        lo, hi = m[name]["ci95"]
        assert 0.0 <= lo <= m[name]["value"] <= hi <= 1.0, name
    # different names and sizes: nothing pairs, so PD, LPIPS and SWD are named as skipped, not dropped
    ref_few = _write_pngs(tmp_path / "ref_few", images[:20], [f"r{i}.png" for i in range(20)])
    r = evaluate_folders(pred, ref_few, opts)
    assert {"pd", "lpips", "swd"} <= set(r["skipped"]) and "20" in r["skipped"]["swd"] and "24" in r["skipped"]["swd"]
    assert "precision" in r["metrics"] and "swd" not in r["metrics"]
