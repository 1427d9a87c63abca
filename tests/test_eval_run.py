"""`palette-bench eval --run RUN_DIR`: a run folder's samples, evaluated with the settings the run used, give the run's own numbers."""

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import write_small_builtin

from palette_bench.cli import main


@pytest.fixture
def classical_run(tmp_path):
    """A smoke-preset classical run on inpainting (its eval stage trains the preset's tiny judge: seconds)."""
    proto = write_small_builtin(tmp_path / "small.toml")
    args = ["run", "--task", "inpainting", "--preset", "smoke", "--protocol", str(proto), "--method", "classical", "--runs-root", str(tmp_path / "runs")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    folder = tmp_path / "runs" / "small-builtin-inpainting-classical-smoke"
    return folder, folder / "eval" / "ff20-30"


def test_eval_run_reproduces_the_runs_metrics(tmp_path, classical_run, monkeypatch):
    import palette_bench.metrics.judge as J

    # the run's judge (the smoke preset's 300 images, 1 epoch), not the default one
    judges, load = [], J.load_judge
    monkeypatch.setattr(J, "load_judge", lambda config, **k: judges.append(config) or load(config, **k))
    folder, ev = classical_run
    own = json.loads((ev / "metrics.json").read_text())
    before = (ev / "metrics.json").read_bytes()
    out = tmp_path / "again.json"
    res = CliRunner().invoke(main, ["eval", "--run", str(folder), "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["metrics"] == own["metrics"]  # values, intervals (the run's bootstrap count), extractors and weights sha256
    for key in ("protocol", "task", "eval_set", "image_size", "n", "samples_per_input", "feature_space", "reference", "skipped"):
        assert r[key] == own[key], key
    assert r["n"] == 4 and r["image_size"] == 32 and r["feature_space"] == "judge"  # the smoke preset samples 4 inputs at 32 px
    assert r["run"] == {"folder": str(folder), "eval_dir": "ff20-30"}
    assert json.loads(out.read_text()) == r
    assert (ev / "metrics.json").read_bytes() == before  # the run's own result is left alone
    assert [(j.train_images, j.epochs) for j in judges] == [(300, 1)]

    # options given on the command line win over the run's
    res = CliRunner().invoke(main, ["eval", "--run", str(folder), "--json", "--bootstrap", "0", "--metrics", "fid,psnr"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    assert set(m) == {"fid", "psnr", "psnr_mask"} and m["fid"]["ci95"] is None and m["fid"]["value"] == own["metrics"]["fid"]["value"]


def test_eval_run_with_several_evaluation_folders_needs_eval_dir(classical_run):
    folder, ev = classical_run
    shutil.copytree(ev, folder / "eval" / "ff20-30-copy")
    res = CliRunner().invoke(main, ["eval", "--run", str(folder), "--json"])
    assert res.exit_code == 2 and "--eval-dir" in res.output and "ff20-30, ff20-30-copy" in res.output
    res = CliRunner().invoke(main, ["eval", "--run", str(folder), "--eval-dir", "nope"])
    assert res.exit_code == 2 and "eval/nope" in res.output and "ff20-30, ff20-30-copy" in res.output
    res = CliRunner().invoke(main, ["eval", "--run", str(folder), "--eval-dir", "ff20-30-copy", "--json", "--metrics", "psnr"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    own = json.loads((ev / "metrics.json").read_text())
    assert r["run"]["eval_dir"] == "ff20-30-copy" and r["metrics"]["psnr"] == own["metrics"]["psnr"]


@pytest.mark.parametrize(
    "extra",
    [["--task", "inpainting"], ["--eval-set", "center"], ["--pred", "x"], ["--ref", "x"], ["--protocol", "builtin"], ["--size", "64"], ["--n", "2"]],
)
def test_eval_run_refuses_what_the_run_decides(tmp_path, extra):
    res = CliRunner().invoke(main, ["eval", "--run", str(tmp_path), *extra])
    assert res.exit_code == 2 and f"drop {extra[0]}" in res.output


def test_eval_run_on_a_folder_that_is_not_a_run(tmp_path):
    res = CliRunner().invoke(main, ["eval", "--run", str(tmp_path)])
    assert res.exit_code == 2 and "no eval/<name>/config.json" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["eval", "--eval-dir", "x", "--pred", str(tmp_path), "--task", "inpainting", "--eval-set", "center"])
    assert res.exit_code == 2 and "--eval-dir goes with --run" in res.output
    res = CliRunner().invoke(main, ["eval", "--task", "inpainting", "--eval-set", "center"])
    assert res.exit_code == 2 and "--pred DIR" in res.output
