"""`palette-bench ablate curve` at smoke size: checkpoints of one run as a learning curve, floors compared paired."""

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from palette_bench.cli import main


def invoke(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


def test_curve_points_are_the_runs_of_that_length(tmp_path, small):
    common = ["run", "--task", "inpainting", "--preset", "smoke", "--protocol", small]
    long_run, short_run = tmp_path / "long", tmp_path / "short"
    invoke(*common, "--run-dir", str(long_run), "--stage", "train", "--set", "train.keep_checkpoints=10")
    invoke(*common, "--run-dir", str(short_run), "--set", "train.steps=2")
    invoke(*common, "--method", "classical", "--runs-root", str(tmp_path / "floors"))
    floor = next((tmp_path / "floors").iterdir())
    invoke("ablate", "curve", "--run", str(long_run), "--at", "2,4", "--floor", str(floor), "--out", str(tmp_path / "curve"))

    # the checkpoint of step 2 of a 4-step run is the one a 2-step run ends with (constant rate after warm-up)
    a = torch.load(long_run / "checkpoints" / "ckpt-00000002.pt", weights_only=True)
    b = torch.load(short_run / "checkpoints" / "ckpt-00000002.pt", weights_only=True)
    for key in ("model", "ema"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), (key, name)
    # so its curve point's samples are the short run's samples
    point = long_run / "eval" / "ff20-30-ddim3-step2" / "samples"
    own = short_run / "eval" / "ff20-30-ddim3" / "samples"
    for p in sorted(own.glob("*.png")):
        assert p.read_bytes() == (point / p.name).read_bytes(), p.name

    table = pd.read_csv(tmp_path / "curve" / "curve.csv")
    assert list(table["step"]) == [2, 4] and list(table["images_seen"]) == [8, 16]
    assert set(table["fid_vs_classical_verdict"]) <= {"palette better", "classical better", "cannot decide"}
    summary = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert {r["metric"] for r in summary["reached"]} == {"FID", "CA", "PD"}
    assert summary["floors"]["classical"]["fid"] == json.loads((floor / "eval" / "ff20-30" / "metrics.json").read_text())["metrics"]["fid"]["value"]
    assert Image.open(tmp_path / "curve" / "curve.png").size[0] > 600


def test_a_step_without_a_kept_checkpoint_is_named(tmp_path, small):
    run = tmp_path / "r"
    invoke("run", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--run-dir", str(run), "--stage", "train", "--set", "train.keep_checkpoints=1")
    res = CliRunner().invoke(main, ["ablate", "curve", "--run", str(run), "--at", "2", "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and "ckpt-00000002.pt: no checkpoint of step 2 (kept: 4)" in res.output
    # a step beyond the run's training is left out and said so; the steps it reached are evaluated
    res = CliRunner().invoke(main, ["ablate", "curve", "--run", str(run), "--at", "4,8", "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert list(pd.read_csv(tmp_path / "c" / "curve.csv")["step"]) == [4]
    assert json.loads((tmp_path / "c" / "curve.json").read_text())["not_reached"] == [{"run": str(run), "step": 8, "trained_to": 4}]
    assert "was trained to step 4: step 8 is not on its curve" in (tmp_path / "c" / "curve.md").read_text()
