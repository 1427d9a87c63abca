"""--method external: a folder of outputs joins the tables, evaluated exactly like the methods palette-bench runs."""

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import write_small_builtin
from PIL import Image

from palette_bench.cli import main

@pytest.fixture
def classical_outputs(tmp_path):
    """The classical baseline's outputs on inpainting/center, and its metrics."""
    proto = write_small_builtin(tmp_path / "small.toml", n=12)
    args = ["run", "--task", "inpainting", "--eval-set", "center", "--preset", "smoke", "--protocol", str(proto), "--runs-root", str(tmp_path / "runs"), "--set", "sample.n=12"]
    res = CliRunner().invoke(main, args + ["--method", "classical"])
    assert res.exit_code == 0, res.output
    ev = tmp_path / "runs" / "small-builtin-inpainting-classical-smoke" / "eval" / "center"
    outputs = tmp_path / "released"
    shutil.copytree(ev / "samples", outputs, ignore=shutil.ignore_patterns(".done"))
    return args, outputs, json.loads((ev / "metrics.json").read_text())


def test_external_outputs_score_exactly_like_the_same_outputs_run_here(tmp_path, classical_outputs):
    args, outputs, classical = classical_outputs
    res = CliRunner().invoke(main, args + ["--method", "external", "--pred", str(outputs), "--name", "biharmonic"])
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "runs" / "small-builtin-inpainting-external-biharmonic"
    m = json.loads((run_dir / "eval" / "center" / "metrics.json").read_text())
    assert m["run"]["sampled_from"] == {"method": "external", "pred": str(outputs.resolve())}
    assert {k: v["value"] for k, v in m["metrics"].items()} == {k: v["value"] for k, v in classical["metrics"].items()}


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / "000004.png").unlink(), "000004.png: missing output for evaluation index 4"),
        (lambda d: Image.new("RGB", (64, 64)).save(d / "000002.png"), "000002.png: image is 64x64, the protocol needs 32x32"),
    ],
)
def test_external_refuses_a_bad_folder_naming_the_file(classical_outputs, damage, message):
    args, outputs, _ = classical_outputs
    damage(outputs)
    res = CliRunner().invoke(main, args + ["--method", "external", "--pred", str(outputs), "--name", "broken"])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_external_needs_pred_and_name(classical_outputs):
    args, outputs, _ = classical_outputs
    res = CliRunner().invoke(main, args + ["--method", "external", "--pred", str(outputs)])
    assert res.exit_code == 2 and "--pred DIR and --name NAME go with --method external" in res.output
