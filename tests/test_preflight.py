"""`palette-bench run` checks what its stages need before the first training step, and overrides apply before anything is derived."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from palette_bench.cli import main


def imagenet_protocol(tmp_path, root, train_root=None) -> str:
    """A small ImageNet-style protocol on the test folder (InceptionV3 features): 8 images, trained on a [train] folder."""
    path = tmp_path / "inet.toml"
    path.write_text(
        'name = "inet"\ndescription = "test"\nimage_size = 32\ndiversity_samples = 2\n'
        f'[dataset]\nkind = "imagenet"\nroot = "{root}"\nfile_list = "ctest10k.txt"\nlabels = "auto"\nn = 8\n'
        f'[reference]\nkind = "imagenet"\nroot = "{root}"\nn = 8\n'
        f'[train]\nkind = "folder"\nroot = "{train_root or root}"\nn = 0\n'
        "[tasks.inpainting]\ncenter = { n = 8 }\n"
    )
    return str(path)


def one_error_line(res) -> str:
    (line,) = [line for line in res.output.splitlines() if line.startswith("palette-bench: error: ")]
    return line


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if the training loop is ever entered."""
    import palette_bench.train

    def refuse(*args, **kwargs):
        raise AssertionError("training started although the preflight should have stopped the run")

    monkeypatch.setattr(palette_bench.train, "train", refuse)


def test_missing_weights_stop_the_run_before_training(tmp_path, imagenet_val, no_training):
    root, _ = imagenet_val
    runs = tmp_path / "runs"
    start = time.perf_counter()
    res = CliRunner().invoke(main, ["run", "--method", "palette", "--task", "inpainting", "--eval-set", "center", "--preset", "smoke", "--protocol", imagenet_protocol(tmp_path, root), "--runs-root", str(runs)])
    elapsed = time.perf_counter() - start
    assert res.exit_code == 2, res.output
    line = one_error_line(res)
    assert "missing weights file" in line and "weights-inception-2015-12-05-6726825d.pth" in line and "--weights-dir" in line
    assert elapsed < 5, elapsed  # the point of the preflight: seconds, not a training run
    assert not list(runs.rglob("ckpt-*.pt")) and not list(runs.rglob("stats.jsonl")) and not list(runs.rglob("*.png"))


def test_run_takes_weights_dir_and_allow_unverified(tmp_path, imagenet_val, standin_weights):
    """The stand-ins do not match the real checksums: refused without the flag (before sampling), marked unverified with it."""
    root, _ = imagenet_val
    args = ["run", "--task", "inpainting", "--eval-set", "center", "--method", "classical", "--preset", "smoke", "--protocol", imagenet_protocol(tmp_path, root), "--runs-root", str(tmp_path / "runs"), "--weights-dir", str(standin_weights), "--set", 'eval.metrics=["fid", "pd", "ca"]', "--set", "eval.bootstrap=0"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "does not match the expected" in one_error_line(res) and "--allow-unverified-weights" in one_error_line(res)
    assert not list((tmp_path / "runs").rglob("*.png"))
    res = CliRunner().invoke(main, [*args, "--allow-unverified-weights"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(next((tmp_path / "runs").rglob("metrics.json")).read_text())
    assert metrics["verified"] is False and set(metrics["metrics"]) == {"fid", "pd", "ca_top1", "ca_top5"}
    assert metrics["metrics"]["fid"]["extractor"].startswith("inception")


def test_missing_training_folder_stops_the_run_before_training(tmp_path, imagenet_val, standin_weights, no_training):
    root, _ = imagenet_val
    proto = imagenet_protocol(tmp_path, root, train_root=tmp_path / "no-such-train")
    res = CliRunner().invoke(main, ["run", "--method", "palette", "--task", "inpainting", "--eval-set", "center", "--preset", "smoke", "--protocol", proto, "--runs-root", str(tmp_path / "runs"), "--weights-dir", str(standin_weights), "--allow-unverified-weights"])
    assert res.exit_code == 2
    assert "training folder" in one_error_line(res) and "no-such-train" in one_error_line(res)


def test_unwritable_run_folder_stops_the_run_before_training(tmp_path, small, no_training):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    res = CliRunner().invoke(main, ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(blocker)])
    assert res.exit_code == 2 and "run folder is not writable" in one_error_line(res)


def test_image_size_override_applies_before_the_model_is_checked(tmp_path, small, no_training):
    """At 64 px the smoke U-Net (mults 1, 2) reaches 64 and 32 px maps only: its attention at 16 px fails, in seconds."""
    res = CliRunner().invoke(main, ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path / "runs"), "--set", "image_size=64"])
    assert res.exit_code == 2
    assert "attention resolution 16 is never reached: feature maps are 64, 32" in one_error_line(res)
    assert not list((tmp_path / "runs").rglob("ckpt-*.pt"))


def test_image_size_override_with_its_attention_runs(tmp_path, small):
    runs = tmp_path / "runs"
    common = ["--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(runs), "--set", "image_size=64", "--set", "sample.n=2"]
    res = CliRunner().invoke(main, ["run", "--method", "palette", *common, "--set", "model.attention_resolutions=[32]"])
    assert res.exit_code == 0, res.output
    # the folder name carries the hash of the overridden training config, not the preset's
    (palette,) = [p for p in runs.iterdir() if "-palette-" in p.name]
    cfg = json.loads((palette / "config.json").read_text())
    assert palette.name.startswith("small-builtin-inpainting-palette-smoke-") and cfg["image_size"] == cfg["model"]["image_size"] == 64
    assert cfg["model"]["attention_resolutions"] == [32]
    from PIL import Image

    sample = next(palette.rglob("000000.png"))
    assert Image.open(sample).size == (64, 64)
    # classical has no U-Net: the smoke model's unreachable attention is not its concern
    res = CliRunner().invoke(main, ["run", *common, "--method", "classical"])
    assert res.exit_code == 0, res.output
    (classical,) = [p for p in runs.iterdir() if "-classical-" in p.name]
    assert Image.open(next(classical.rglob("000000.png"))).size == (64, 64)


POISON = """
import os, sys
import torch
from palette_bench.methods.palette import PaletteTrainer

real = PaletteTrainer.loss

def poisoned(self, batch):
    loss = real(self, batch)
    # rank 1 only, from the third step on: the other rank's loss stays finite
    return loss * float("nan") if os.environ["RANK"] == "1" and batch["step"] >= 2 else loss

PaletteTrainer.loss = poisoned
from palette_bench.cli import main
sys.exit(main())
"""


def test_nan_on_one_rank_stops_every_rank(tmp_path, small):
    script = tmp_path / "poisoned_run.py"
    script.write_text(POISON)
    run_dir = tmp_path / "two"
    args = ["run", "--task", "uncropping", "--preset", "smoke", "--protocol", small, "--stage", "train", "--set", "train.steps=6", "--set", "train.workers=0", "--run-dir", str(run_dir)]
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--tee=3", str(script), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert time.perf_counter() - start < 60, "the healthy rank waited for the failed one"
    assert res.returncode != 0
    out = res.stdout + res.stderr
    message = "loss is nan on rank 1 at step 3; training stopped, the last good checkpoint"
    # both ranks print the same one-line message (torchrun's --tee prefixes each line with its rank)
    for rank in (0, 1):
        assert any(line.startswith(f"[default{rank}]") and message in line for line in out.splitlines()), out[-3000:]
    assert "ckpt-00000002.pt is kept" in out
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]  # the failed step is not logged, by any rank
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["ckpt-00000002.pt"]
