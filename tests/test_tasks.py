"""The four tasks: exact degradations, mask coverage, determinism, JPEG quality distribution."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from palette_bench.images import from_uint8, to_uint8
from palette_bench.seeding import generator_for
from palette_bench.tasks import TRAIN, get_task, masks
from palette_bench.tasks.colorization import luma
from palette_bench.tasks.jpeg import TRAIN_PROBS, TRAIN_QUALITIES, draw_quality, jpeg_round_trip


def random_image(size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)


def test_uint8_round_trip_is_exact():
    x = random_image()
    assert torch.equal(to_uint8(from_uint8(x)), x)


def test_luma_matches_pil_convert_L():
    x = random_image(48)
    pil = np.asarray(Image.fromarray(x.permute(1, 2, 0).numpy()).convert("L"))
    assert np.array_equal(luma(x).numpy(), pil)


def test_colorization_condition_is_gray_in_three_channels():
    x = random_image()
    d = get_task("colorization").degrade(from_uint8(x), "gray", generator_for(0))
    assert d.mask is None and d.coverage == 1.0
    assert torch.equal(d.condition[0], d.condition[1]) and torch.equal(d.condition[1], d.condition[2])
    assert torch.equal(to_uint8(d.condition[0]), luma(x))


@pytest.mark.parametrize("size", [32, 64, 256])
@pytest.mark.parametrize("name,bounds", [("ff10-20", (0.1, 0.2)), ("ff20-30", (0.2, 0.3)), ("ff30-40", (0.3, 0.4))])
def test_free_form_eval_masks_lie_in_their_bin(size, name, bounds):
    task = get_task("inpainting")
    y0 = from_uint8(random_image(size))
    for i in range(12):
        d = task.degrade(y0, name, generator_for(name, i))
        assert bounds[0] <= d.coverage < bounds[1]
        assert d.meta["mask_kind"] == "free-form"


@pytest.mark.parametrize("size", [32, 64, 256])
def test_free_form_coverage_statistics_do_not_depend_on_size(size):
    """Parameters scale with the image, so the coverage distribution is the same at every size."""
    cov = np.array([masks.coverage(masks.free_form(size, generator_for("ff", i))) for i in range(300)])
    # measured at 256 over 400 draws: mean 0.157, median 0.152
    assert 0.13 < cov.mean() < 0.18
    assert 0.12 < np.median(cov) < 0.18


def test_free_form_same_draw_same_shape_across_sizes():
    big = masks.free_form(256, generator_for("shape", 3)).float()
    small = masks.free_form(64, generator_for("shape", 3)).float()
    down = torch.nn.functional.avg_pool2d(big[None, None], 4)[0, 0]
    assert (down.round() != small).float().mean() < 0.05


@pytest.mark.parametrize("size", [64, 256])
def test_center_mask_is_a_quarter(size):
    d = get_task("inpainting").degrade(from_uint8(random_image(size)), "center", generator_for(1))
    assert d.coverage == 0.25
    s = size // 4
    assert d.mask[0, s : 3 * s, s : 3 * s].all() and d.mask.sum() == (size // 2) ** 2


def test_hole_holds_noise_and_known_pixels_are_kept():
    y0 = from_uint8(random_image(64))
    d = get_task("inpainting").degrade(y0, "ff20-30", generator_for(2))
    known = d.mask[0] == 0
    assert torch.equal(d.condition[:, known], y0[:, known])
    hole = d.condition[:, ~known]
    assert abs(hole.mean()) < 0.1 and abs(hole.std() - 1) < 0.1  # N(0, 1), not the image


def test_inpainting_training_mix():
    task = get_task("inpainting")
    y0 = from_uint8(random_image(64))
    kinds = {"free-form": 0, "boxes": 0}
    for i in range(400):
        d = task.degrade(y0, TRAIN, generator_for("train", i))
        kinds[d.meta["mask_kind"]] += 1
        if d.meta["mask_kind"] == "boxes":
            assert 0.10 <= d.coverage <= 0.40
    # 60% free-form: a binomial(400, 0.6) lies within 4 standard deviations (~39)
    assert abs(kinds["free-form"] - 240) < 40


@pytest.mark.parametrize("size", [63, 64, 65, 256])
def test_uncropping_masks_half(size):
    task = get_task("uncropping")
    y0 = from_uint8(random_image(size))
    d = task.degrade(y0, "right", generator_for(0))
    assert d.mask[0, :, size - size // 2 :].all() and not d.mask[0, :, : size - size // 2].any()
    if size % 2 == 0:
        assert d.coverage == 0.5
    seen = set()
    for i in range(60):
        d = task.degrade(y0, TRAIN, generator_for("unc", i))
        seen.add(d.meta["mask_kind"])
        assert abs(d.coverage - 0.5) <= 1 / size  # one row/column of rounding at most
    assert seen == set(masks.SIDES)


def test_jpeg_matches_pil_and_eval_quality():
    x = random_image(64)
    d = get_task("jpeg").degrade(from_uint8(x), "q10", generator_for(0))
    assert d.meta["quality"] == 10
    assert torch.equal(to_uint8(d.condition), jpeg_round_trip(x, 10))
    err5 = (jpeg_round_trip(x, 5).float() - x.float()).abs().mean()
    err20 = (jpeg_round_trip(x, 20).float() - x.float()).abs().mean()
    assert err5 > err20 > 0


def test_jpeg_training_quality_distribution():
    """Chi-square test of 20,000 draws against P(Q) proportional to exp(-Q/10), Q in [5, 30]."""
    g = generator_for("jpeg-q")
    draws = torch.tensor([draw_quality(g) for _ in range(20000)])
    assert draws.min() >= 5 and draws.max() <= 30
    observed = torch.bincount(draws - 5, minlength=26).numpy()
    expected = TRAIN_PROBS.numpy() * len(draws)
    assert math.isclose(TRAIN_PROBS[0] / TRAIN_PROBS[10], math.exp(1.0))
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # and it is not uniform
    assert stats.chisquare(observed, np.full(26, len(draws) / 26)).pvalue < 1e-10
    assert TRAIN_QUALITIES.tolist() == list(range(5, 31))


@pytest.mark.parametrize("task,setting", [("inpainting", "ff20-30"), ("inpainting", TRAIN), ("uncropping", TRAIN), ("jpeg", TRAIN)])
def test_degrade_is_a_pure_function_of_its_generator(task, setting):
    y0 = from_uint8(random_image(64))
    a = get_task(task).degrade(y0, setting, generator_for("same"))
    b = get_task(task).degrade(y0, setting, generator_for("same"))
    c = get_task(task).degrade(y0, setting, generator_for("other"))
    assert torch.equal(a.condition, b.condition)
    assert not torch.equal(a.condition, c.condition) or a.meta != c.meta


def test_unknown_setting_is_an_error():
    with pytest.raises(ValueError, match="no setting 'q7'"):
        get_task("jpeg").degrade(from_uint8(random_image()), "q7", generator_for(0))
    with pytest.raises(ValueError, match="unknown task"):
        get_task("deblurring")
