"""`palette-bench run --task T` without --method: every method in turn, per seed, resumable, then the comparison."""

import json
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from palette_bench.benchmark import BENCHMARK_METHODS
from palette_bench.cli import main


def steps_logged(run_dir):
    path = run_dir / "stats.jsonl"
    return [json.loads(line)["step"] for line in path.read_text().splitlines()] if path.exists() else []


def test_default_is_every_method_and_seeds_give_one_folder_each(tmp_path, small):
    res = CliRunner().invoke(main, ["run", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--dry-run"])
    assert res.exit_code == 0, res.output
    assert [r["config"]["method"] for r in json.loads(res.output)] == list(BENCHMARK_METHODS)
    args = ["run", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path), "--methods", "palette,classical", "--seeds", "0,1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    # palette learns: one folder per seed; classical does not: one folder
    assert sorted(p.name for p in tmp_path.glob("small-*")) == [
        "small-builtin-inpainting-classical-smoke", "small-builtin-inpainting-palette-smoke", "small-builtin-inpainting-palette-smoke-seed1"]
    w0 = (tmp_path / "small-builtin-inpainting-palette-smoke" / "checkpoints" / "ckpt-00000004.pt").read_bytes()
    w1 = (tmp_path / "small-builtin-inpainting-palette-smoke-seed1" / "checkpoints" / "ckpt-00000004.pt").read_bytes()
    assert w0 != w1
    assert json.loads((tmp_path / "small-builtin-inpainting-palette-smoke-seed1" / "config.json").read_text())["seed"] == 1
    # the comparison table: a row per run, the paired Palette - method difference on the classical row
    table = res.output[res.output.index("| method"):]
    assert table.count("| palette ") == 2 and "| classical " in table and "Palette − it, FID" in table


def test_an_interrupted_benchmark_resumes_without_redoing_finished_work(tmp_path, small):
    args = [sys.executable, "-m", "palette_bench.cli", "run", "--task", "uncropping", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path),
            "--methods", "palette,regression", "--set", "train.steps=8", "--set", "train.checkpoint_every=2", "--set", "train.workers=0"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        found = list(tmp_path.glob("*-regression-*/stats.jsonl"))
        if found and len(steps_logged(found[0].parent)) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (palette,) = tmp_path.glob("*-palette-*")
    (regression,) = tmp_path.glob("*-regression-*")
    metrics = next(palette.glob("eval/*/metrics.json"))
    stamp = metrics.stat().st_mtime_ns
    assert 3 <= len(steps_logged(regression)) < 8
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert metrics.stat().st_mtime_ns == stamp  # Palette's finished evaluation is not redone
    assert steps_logged(palette) == list(range(1, 9))  # nor its training
    assert steps_logged(regression) == list(range(1, 9))  # regression resumed from its checkpoint, each step once
    assert next(regression.glob("eval/*/metrics.json")).exists()
