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


@pytest.mark.parametrize("task,eval_set", [("inpainting", "ff20-30"), ("inpainting", "center"), ("uncropping", "right")])
def test_known_pixels_are_kept_and_the_hole_is_smooth(task, eval_set):
    y0, cond, mask = batch(task, eval_set)
    out = Classical(task).predict(cond, mask)
    known = mask.expand_as(out) == 0
    assert torch.equal(to_uint8(out)[known], to_uint8(y0)[known])
    hole = ~known
    assert out[hole].abs().max() <= 1
    # biharmonic filling is smooth: far closer to the original than the noise it replaces
    assert (out[hole] - y0[hole]).abs().mean() < 0.5 * (cond[hole].clamp(-1, 1) - y0[hole]).abs().mean()


@pytest.mark.parametrize("task,eval_set", [("colorization", "gray"), ("jpeg", "q10")])
def test_the_input_is_the_output(task, eval_set):
    _, cond, mask = batch(task, eval_set)
    assert torch.equal(Classical(task).predict(cond, mask), cond)


@pytest.mark.parametrize("task", ["colorization", "inpainting", "uncropping", "jpeg"])
def test_classical_run_smoke(tmp_path, task):
    small = tmp_path / "small.toml"
    small.write_text(
        'name = "small-builtin"\ndescription = "test"\nimage_size = 32\ndiversity_samples = 2\n'
        '[dataset]\nkind = "builtin"\nn = 100\n[reference]\nkind = "builtin"\nn = 60\n'
        '[tasks.colorization]\ngray = { n = 12 }\n[tasks.inpainting]\nff20-30 = { n = 12 }\n'
        '[tasks.uncropping]\nright = { n = 12 }\n[tasks.jpeg]\nq10 = { n = 12 }\n'
    )
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
