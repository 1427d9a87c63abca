"""`palette-bench ablate curve` at smoke size: checkpoints of one run as a learning curve, floors compared paired."""

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from palette_bench.ablations.curve import NOT_MEASURED, _reached, curve_verdict
from palette_bench.cli import main
from palette_bench.compare import compare


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
    # each verdict is the paired comparison's, in the curve's words
    for row in table.itertuples():
        for key in ("fid", "ca_top1", "pd"):
            c = compare(row.eval_dir, floor / "eval" / "ff20-30", (key,))["metrics"][key]
            words = {"A better": "palette better", "B better": "classical better", "cannot decide": "cannot decide"}[c["verdict"]]
            assert getattr(row, f"{key}_vs_classical_verdict") == words
            assert getattr(row, f"{key}_vs_classical") == pytest.approx(c["difference"])
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


def verdict_table(verdicts):
    """A one-curve table against the floor "classical" with the given FID verdicts at steps 1, 2, 3, ..."""
    steps = range(1, len(verdicts) + 1)
    return pd.DataFrame({"curve": "palette (v)", "step": list(steps), "images_seen": [32 * s for s in steps], "train_seconds": [60.0 * s for s in steps], "fid_vs_classical_verdict": verdicts})


def test_a_missing_verdict_is_not_evidence_of_not_worse():
    # step 1 shown worse, step 2 not measured, step 3 cannot decide, step 4 shown better
    (fid,) = _reached(verdict_table(["classical better", NOT_MEASURED, "cannot decide", "palette better"]), ["classical"])
    assert fid["not_worse"]["step"] == 3 and fid["better"]["step"] == 4 and fid["measured"]
    (fid,) = _reached(verdict_table([NOT_MEASURED, NOT_MEASURED]), ["classical"])
    assert fid["not_worse"] is None and fid["better"] is None and not fid["measured"]


def test_a_comparison_without_a_result_or_interval_is_not_measured():
    assert curve_verdict(None, "classical") == NOT_MEASURED
    assert curve_verdict({"verdict": "cannot decide", "ci95": None}, "classical") == NOT_MEASURED
    assert curve_verdict({"verdict": "cannot decide", "ci95": [-1.0, 1.0]}, "classical") == "cannot decide"
    assert curve_verdict({"verdict": "B better", "ci95": [0.5, 1.0]}, "classical") == "classical better"
    assert curve_verdict({"verdict": "A better", "ci95": [0.5, 1.0]}, "classical") == "palette better"
