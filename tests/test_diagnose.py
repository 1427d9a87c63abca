"""palette-bench diagnose: oracle networks give the errors they must, the references are what they say, the CLI runs on a run folder."""

import io
import json
import math

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from palette_bench.cli import main
from palette_bench.diagnose import COLUMNS, GAMMAS, errors_at, grid, mean_colour, plot
from palette_bench.models.diffusion import PARAMETERIZATIONS, TRAIN_SCHEDULE, draw_noise, linear_schedule, target
from palette_bench.seeding import generator_for

GAMMA_MIN = linear_schedule(**TRAIN_SCHEDULE).gammas[-1].item()


def gens(tag, n):
    return [generator_for("test-diagnose", tag, b) for b in range(n)]


def inputs(masked, b=4, size=8):
    """float64 originals in [-1, 1], a Palette-style condition (noise in the hole), the eps the inputs are noised with."""
    y0 = draw_noise((3, size, size), gens("y0", b), dtype=torch.float64).clamp(-1, 1)
    eps = draw_noise((3, size, size), gens("eps", b), dtype=torch.float64)
    if not masked:
        return y0, y0.clone(), None, eps
    mask = (draw_noise((1, size, size), gens("mask", b)) > 0).double()
    condition = torch.where(mask.bool(), draw_noise((3, size, size), gens("hole", b), dtype=torch.float64), y0)
    return y0, condition, mask, eps


def test_grid_is_float32_exact_and_reaches_the_smallest_trained_gamma():
    g = grid(GAMMA_MIN)
    assert len(g) == len(GAMMAS) + 1 and g == sorted(g, reverse=True)
    assert all(float(torch.tensor(x, dtype=torch.float32)) == x for x in g)  # the network sees exactly these
    assert g[-1] == pytest.approx(GAMMA_MIN, rel=1e-7)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("masked", [False, True])
def test_the_true_target_gives_zero_clean_image_error_at_every_gamma(masked, parameterization):
    """A network returning the true eps (or v, or y0) of the noised input: x0_hat is y0 and eps_hat is eps, at every gamma."""
    y0, condition, mask, eps = inputs(masked)
    for g in grid(GAMMA_MIN):
        model = lambda x, gamma: target(y0, eps, gamma.double(), parameterization)  # noqa: E731
        e = errors_at(model, y0, condition, mask, eps, g, parameterization)
        assert e["x0_mse"].max().item() < 1e-20, g
        assert e["eps_mse"].max().item() < 1e-12, g  # eps from y0 at gamma ~ 1 divides by sqrt(1 - gamma) ~ 1e-3
        assert bool((e["grey_mse"] > 0).all())


@pytest.mark.parametrize("masked", [False, True])
def test_a_network_whose_y0_hat_is_zero_reproduces_the_grey_column(masked):
    """eps_hat = y_t / sqrt(1 - gamma) makes y0_hat = (y_t - sqrt(1 - gamma) eps_hat) / sqrt(gamma) = 0: mid-grey."""
    y0, condition, mask, eps = inputs(masked)
    for g in grid(GAMMA_MIN):
        model = lambda x, gamma: x[:, 3:] / (1 - gamma.double()[:, None, None, None]).sqrt()  # noqa: E731
        e = errors_at(model, y0, condition, mask, eps, g, "eps")
        torch.testing.assert_close(e["x0_mse"], e["grey_mse"], rtol=1e-12, atol=0)
        assert bool((e["eps_mse"] > 0).all())


@pytest.mark.parametrize("masked", [False, True])
def test_references_against_direct_selection(masked):
    """grey: mean of y0^2 in the hole; mean colour: each hole's per-channel variance (its mean is the best constant)."""
    y0, condition, mask, eps = inputs(masked)
    e = errors_at(lambda x, gamma: x[:, 3:], y0, condition, mask, eps, 0.5, "eps")
    for b in range(y0.shape[0]):
        hole = torch.ones(y0.shape[2:], dtype=torch.bool) if mask is None else mask[b, 0].bool()
        pixels = y0[b][:, hole]  # [C, N]
        assert e["grey_mse"][b].item() == pytest.approx(pixels.square().mean().item(), rel=1e-12)
        assert e["mean_colour_mse"][b].item() == pytest.approx(pixels.var(dim=1, unbiased=False).mean().item(), rel=1e-12)
    assert bool((e["mean_colour_mse"] < e["grey_mse"]).all())
    if masked:  # the mean colour is of the hole only: known pixels do not enter it
        changed = torch.where(mask.bool(), y0, -y0)
        assert torch.equal(mean_colour(changed, mask), mean_colour(y0, mask))


def test_plot_is_a_png():
    rows = [{"gamma": g, "log_snr": math.log(g / (1 - g)), **{c: 0.1 * (i + 1) * g for i, c in enumerate(COLUMNS)}} for g in grid(GAMMA_MIN)]
    img = Image.open(io.BytesIO(plot(rows, "title")))
    assert img.format == "PNG" and img.size == (720, 460)


def test_run_writes_a_diagnosis_and_the_cli_repeats_it(tmp_path, small):
    """The run's training stage leaves diagnose.json/png in the run folder; `palette-bench diagnose` recomputes it elsewhere."""
    args = ["run", "--method", "palette", "--task", "uncropping", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path / "runs"), "--stage", "train"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "runs" / "small-builtin-uncropping-palette-smoke"
    first = json.loads((run_dir / "diagnose.json").read_text())
    assert first["checkpoint"] == "ckpt-00000004.pt" and first["n"] == 20 and first["masked"]  # the small protocol's 20 inputs
    assert Image.open(run_dir / "diagnose.png").format == "PNG"
    assert [r["gamma"] for r in first["rows"]] == grid(GAMMA_MIN)

    res = CliRunner().invoke(main, ["diagnose", str(run_dir), "--n", "5", "--out", str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result["n"] == 5 and result["parameterization"] == "eps" and result["step"] == 4
    assert json.loads((tmp_path / "d" / "diagnose.json").read_text()) == result
    for row in result["rows"]:
        assert set(row) == {"gamma", "log_snr", *COLUMNS} and all(math.isfinite(v) and v >= 0 for k, v in row.items() if k in COLUMNS)
        assert row["mean_colour_mse"] < row["grey_mse"]
    res = CliRunner().invoke(main, ["diagnose", str(run_dir), "--n", "5", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0 and "x0_hat MSE" in res.output and "inside the mask" in res.output
