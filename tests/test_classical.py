"""The classical baseline: known pixels copied exactly, holes filled smoothly, inputs returned as outputs."""

import json

import pytest
import torch
from click.testing import CliRunner

from baselines.classical import Classical
from palette_bench.cli import main
from palette_bench.data.evalset import EvalSet
from palette_bench.data.predictions import Predictions
from palette_bench.images import to_uint8
from palette_bench.protocols import load_protocol

BUILTIN = load_protocol("builtin").with_size(32)


def batch(task, eval_set, n=4):
    es = EvalSet(BUILTIN, task, eval_set, n=n)
    items = [es[k] for k in range(n)]
    mask = None if items[0].degraded.mask is None else torch.stack([it.degraded.mask for it in items])
    return torch.stack([it.image for it in items]), torch.stack([it.degraded.condition for it in items]), mask


@pytest.mark.parametrize("inpaint", ["biharmonic", "telea"])
@pytest.mark.parametrize("task,eval_set", [("inpainting", "ff20-30"), ("inpainting", "center"), ("uncropping", "right")])
def test_known_pixels_are_kept_and_the_hole_is_smooth(task, eval_set, inpaint):
    y0, cond, mask = batch(task, eval_set)
    out = Classical(task, inpaint).predict(cond, mask)
    known = mask.expand_as(out) == 0
    assert torch.equal(to_uint8(out)[known], to_uint8(y0)[known])
    hole = ~known
    assert out[hole].abs().max() <= 1
    # the filling continues the known pixels: far closer to the original than the noise it replaces: far closer to the original than the noise it replaces
    assert (out[hole] - y0[hole]).abs().mean() < 0.5 * (cond[hole].clamp(-1, 1) - y0[hole]).abs().mean()


@pytest.mark.parametrize("task,eval_set", [("colorization", "gray"), ("jpeg", "q10")])
def test_the_input_is_the_output(task, eval_set):
    _, cond, mask = batch(task, eval_set)
    assert torch.equal(Classical(task).predict(cond, mask), cond)


@pytest.mark.parametrize("task", ["colorization", "inpainting", "uncropping", "jpeg"])
def test_classical_run_smoke(tmp_path, small, task):
    res = CliRunner().invoke(main, ["run", "--task", task, "--method", "classical", "--preset", "smoke", "--protocol", str(small), "--runs-root", str(tmp_path / "runs"), "--set", "sample.n=12"])
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "runs" / f"small-builtin-{task}-classical-smoke"
    assert not (run_dir / "checkpoints").exists()  # nothing is trained
    ev = next((run_dir / "eval").iterdir())
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["n"] == 12 and metrics["samples_per_input"] == 1 and "fid" in metrics["metrics"] and "diversity" in metrics["skipped"]
    if task in ("inpainting", "uncropping"):
        es = EvalSet(load_protocol(str(small)), task, metrics["eval_set"], n=12)
        preds = Predictions(ev / "samples", es.positions, 32)
        for k, index in enumerate(es.positions):
            item = es[k]
            known = item.degraded.mask[0] == 0
            assert torch.equal(preds.load(index)[:, known], to_uint8(item.image)[:, known])


def test_telea_and_biharmonic_differ_and_an_unknown_inpainter_is_named():
    _, cond, mask = batch("uncropping", "right")
    assert not torch.equal(Classical("uncropping", "telea").predict(cond, mask), Classical("uncropping").predict(cond, mask))
    with pytest.raises(ValueError, match="classical.inpaint 'navier' is not one of biharmonic, telea"):
        Classical("uncropping", "navier")


def test_telea_run_gets_its_own_run_folder(tmp_path, small):
    args = ["run", "--task", "inpainting", "--method", "classical", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path / "runs"), "--set", "sample.n=12"]
    assert CliRunner().invoke(main, args).exit_code == 0
    res = CliRunner().invoke(main, args + ["--set", "classical.inpaint=telea"])
    assert res.exit_code == 0, res.output
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders[0] == "small-builtin-inpainting-classical-smoke" and folders[1].startswith("small-builtin-inpainting-classical-smoke-") and len(folders) == 2
    origin = json.loads((tmp_path / "runs" / folders[1] / "eval" / "ff20-30" / "samples" / ".done").read_text())
    timing = origin.pop("sampling")  # the sampling stage's wall time, beside what made the outputs
    assert origin == {"method": "classical", "inpaint": "telea"} and timing["images"] == 12 and timing["seconds"] > 0
