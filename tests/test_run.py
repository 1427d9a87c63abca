"""`palette-bench run`: presets and overrides, the run folder, stage skipping, resume after SIGKILL, torchrun."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from palette_bench.cli import main
from palette_bench.config import ConfigError
from palette_bench.runconfig import departures_from_paper, resolve

def cli(*args, env=None, timeout=600):
    """palette-bench in a fresh process, as a user (or torchrun) runs it."""
    return subprocess.run([sys.executable, "-m", "palette_bench.cli", *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def losses(run_dir: Path, key: str = "loss") -> dict[int, float]:
    return {r["step"]: r[key] for r in map(json.loads, (run_dir / "stats.jsonl").read_text().splitlines())}


def test_unknown_set_key_fails_with_its_name():
    with pytest.raises(ConfigError, match="unknown key 'train.stepz'"):
        resolve("inpainting", "smoke", ["train.stepz=3"])
    with pytest.raises(ConfigError, match="unknown key 'model.attenton'"):
        resolve("inpainting", "smoke", ['model.attenton="local"'])
    res = CliRunner().invoke(main, ["run", "--task", "inpainting", "--preset", "smoke", "--set", "sample.stepz=3", "--dry-run"])
    assert res.exit_code == 2 and "unknown key 'sample.stepz'" in res.output


def test_overrides_and_presets():
    cfg = resolve("jpeg", "smoke", ["train.steps=7", "model.num_res_blocks=2", 'sample.sampler="ancestral"'])
    assert cfg.train.steps == 7 and cfg.model.num_res_blocks == 2 and cfg.sample.sampler == "ancestral"
    assert cfg.model.image_size == cfg.image_size == 32
    paper = resolve("inpainting", "paper")
    assert paper.model.attention_resolutions == (32, 16, 8) and paper.train.batch_size == 1024 and paper.train.ema_decay == 0.9999
    assert paper.sample.sampler == "ancestral" and paper.sample.steps == 1000 and paper.image_size == 256
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve("inpainting", "tiny")


def test_the_paper_preset_keeps_the_papers_recipe_and_every_departure_is_named():
    paper = resolve("uncropping", "paper")
    d, s = paper.diffusion, paper.sample
    assert (d.parameterization, d.loss, d.noise_levels, d.loss_weighting, s.sampler, s.steps, s.schedule) == ("eps", "l2", "paper", "none", "ancestral", 1000, "paper")
    assert departures_from_paper(paper) == []
    for preset in ("cpu", "gpu"):
        cfg = resolve("uncropping", preset)
        found = departures_from_paper(cfg)
        assert ("diffusion.parameterization", cfg.diffusion.parameterization, "eps") in found
        # setting each named departure back to the paper's value leaves none: the list is complete
        back = resolve("uncropping", preset, [f"{key}={json.dumps(list(p) if isinstance(p, tuple) else p)}" for key, _, p in found])
        assert departures_from_paper(back) == [], preset


@pytest.mark.parametrize("task", ["colorization", "inpainting", "uncropping", "jpeg"])
def test_smoke_run_writes_a_self_describing_folder(tmp_path, small, task):
    res = CliRunner().invoke(main, ["run", "--method", "palette", "--task", task, "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "runs" / f"small-builtin-{task}-palette-smoke"
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["task"] == task and cfg["train"]["steps"] == 4 and cfg["preset"] == "smoke"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["ckpt-00000002.pt", "ckpt-00000004.pt"]
    state = torch.load(run_dir / "checkpoints" / "ckpt-00000004.pt", weights_only=True)
    assert state["step"] == 4 and state["config"]["task"] == task  # the config travels inside the checkpoint
    ev = next((run_dir / "eval").iterdir())
    names = sorted(p.name for p in (ev / "samples").glob("*.png"))
    assert names[:2] == ["000000.png", "000000_1.png"] and len(names) == 8  # 4 inputs x 2 samples
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["task"] == task and "fid" in metrics["metrics"] and metrics["samples_per_input"] == 2
    assert sorted(losses(run_dir)) == [1, 2, 3, 4]
    assert json.loads((run_dir / "diagnose.json").read_text())["checkpoint"] == "ckpt-00000004.pt"  # written after training


def test_known_pixels_are_exact_in_run_outputs(tmp_path, small):
    from palette_bench.data.evalset import EvalSet
    from palette_bench.data.predictions import Predictions
    from palette_bench.images import to_uint8
    from palette_bench.protocols import load_protocol

    res = CliRunner().invoke(main, ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path), "--stage", "train"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path), "--stage", "sample"])
    assert res.exit_code == 0, res.output
    es = EvalSet(load_protocol(small), "inpainting", "ff20-30", n=4)
    preds = Predictions(next((tmp_path / "small-builtin-inpainting-palette-smoke" / "eval").iterdir()) / "samples", es.positions, 32)
    for k_pos, index in enumerate(es.positions):
        item = es[k_pos]
        known = item.degraded.mask[0] == 0
        for k in range(2):
            out = preds.load(index, k)
            assert torch.equal(out[:, known], to_uint8(item.image)[:, known])


def test_completed_stages_are_skipped_and_force_redoes_them(tmp_path, small):
    args = ["run", "--method", "palette", "--task", "uncropping", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    metrics = next((tmp_path / "small-builtin-uncropping-palette-smoke" / "eval").iterdir()) / "metrics.json"
    stamp = metrics.stat().st_mtime_ns
    assert CliRunner().invoke(main, args).exit_code == 0
    assert metrics.stat().st_mtime_ns == stamp  # nothing recomputed
    assert CliRunner().invoke(main, args + ["--stage", "eval", "--force"]).exit_code == 0
    assert metrics.stat().st_mtime_ns != stamp
    res = CliRunner().invoke(main, args + ["--set", "model.base_channels=8", "--run-dir", str(tmp_path / "small-builtin-uncropping-palette-smoke")])
    assert res.exit_code == 2 and "made with another config (model.base_channels: 16 there, 8 now)" in res.output


def test_sigkill_then_resume_gives_the_same_losses(tmp_path, small):
    common = ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--stage", "train", "--set", "train.steps=12", "--set", "train.checkpoint_every=3"]
    full = cli(*common, "--run-dir", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    killed_dir = tmp_path / "killed"

    def logged_steps(run_dir):
        """Steps of stats.jsonl in file order; a line still being written when read is left out."""
        path = run_dir / "stats.jsonl"
        lines = path.read_text().split("\n")[:-1] if path.exists() else []
        return [json.loads(line)["step"] for line in lines]

    def run_until_killed(args, checkpoint, step):
        proc = subprocess.Popen([sys.executable, "-m", "palette_bench.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        # Killed once a step past the checkpoint is logged: the resume must drop that stale row, not log the step twice.
        while time.time() < deadline and not ((killed_dir / "checkpoints" / checkpoint).exists() and max(logged_steps(killed_dir), default=0) > step) and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert (killed_dir / "checkpoints" / checkpoint).exists()
        steps = logged_steps(killed_dir)
        assert step < max(steps) < 12  # it really was interrupted, after logging a step the resume recomputes
        assert steps == list(range(1, max(steps) + 1))

    run_until_killed([*common, "--run-dir", str(killed_dir)], "ckpt-00000003.pt", 3)
    run_until_killed([*common, "--run-dir", str(killed_dir)], "ckpt-00000006.pt", 6)  # the same command again resumes
    resumed = cli("run", "--resume", str(killed_dir), "--stage", "train")  # the folder's own config, no flags retyped
    assert resumed.returncode == 0, resumed.stderr
    # Every step exactly once and in order: a dict keyed by step would hide duplicated or stale rows.
    assert logged_steps(killed_dir) == logged_steps(tmp_path / "full") == list(range(1, 13))
    assert losses(killed_dir) == losses(tmp_path / "full")
    a = torch.load(killed_dir / "checkpoints" / "ckpt-00000012.pt", weights_only=True)
    b = torch.load(tmp_path / "full" / "checkpoints" / "ckpt-00000012.pt", weights_only=True)
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])


def torchrun(nproc, *args):
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "palette_bench.cli", *args],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.parametrize("method,keys,networks", [("palette", ["loss"], ["model"]), ("pix2pix", ["generator_loss", "discriminator_loss"], ["model", "discriminator"])])
def test_two_process_gloo_training_matches_one_process(tmp_path, small, method, keys, networks):
    common = ["run", "--task", "uncropping", "--method", method, "--preset", "smoke", "--protocol", small, "--stage", "train", "--set", "train.steps=3", "--set", "train.workers=0"]
    one = cli(*common, "--run-dir", str(tmp_path / "one"), env={"OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, one.stderr
    two = torchrun(2, *common, "--run-dir", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    for key in keys:
        l1, l2 = losses(tmp_path / "one", key), losses(tmp_path / "two", key)
        assert sorted(l1) == sorted(l2) == [1, 2, 3]
        for s in l1:
            assert abs(l1[s] - l2[s]) < 1e-5 * max(1, abs(l1[s])), (key, s)
    states = [torch.load(tmp_path / run / "checkpoints" / "ckpt-00000003.pt", weights_only=True) for run in ("one", "two")]
    for net in networks:
        a, b = states[0][net], states[1][net]
        if method == "pix2pix" and net == "model":
            # Compared as functions: Adam (lr 2e-4 from step one, no warm-up) turns rounding noise in
            # near-zero gradients into full-size steps that differ with the reduction order.
            from baselines.pix2pix import build_generator

            cfg = resolve("uncropping", "smoke", ["train.steps=3"], method="pix2pix")
            x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
            outs = []
            for state in (a, b):
                model = build_generator(cfg)
                model.load_state_dict(state)
                outs.append(model(x, torch.ones(4)).detach())
            assert torch.allclose(outs[0], outs[1], atol=1e-5), (outs[0] - outs[1]).abs().max()
        else:
            assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), net


def two_copies(tmp_path, common, stages):
    """Run `stages` once in folder r, then copy it to r2: the same state for a 1- and a 2-process continuation."""
    import shutil

    for stage in stages:
        assert cli(*common, "--stage", stage, "--run-dir", str(tmp_path / "r"), env={"OMP_NUM_THREADS": "1"}).returncode == 0
    shutil.copytree(tmp_path / "r", tmp_path / "r2")


def test_two_process_sampling_writes_the_same_files(tmp_path, small):
    common = ["run", "--method", "palette", "--task", "uncropping", "--preset", "smoke", "--protocol", small]
    two_copies(tmp_path, common, ["train"])
    one = cli(*common, "--stage", "sample", "--run-dir", str(tmp_path / "r"), env={"OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, one.stderr
    two = torchrun(2, *common, "--stage", "sample", "--run-dir", str(tmp_path / "r2"))
    assert two.returncode == 0, two.stderr[-3000:]
    s1 = next((tmp_path / "r" / "eval").iterdir()) / "samples"
    s2 = next((tmp_path / "r2" / "eval").iterdir()) / "samples"
    names = sorted(p.name for p in s1.glob("*.png"))
    assert names == sorted(p.name for p in s2.glob("*.png")) and len(names) == 8
    for n in names:
        assert (s1 / n).read_bytes() == (s2 / n).read_bytes(), n


def test_two_process_evaluation_gathers_the_same_metrics(tmp_path, small):
    common = ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--set", "sample.n=12"]
    two_copies(tmp_path, common, ["train", "sample"])
    one = cli(*common, "--stage", "eval", "--run-dir", str(tmp_path / "r"), env={"OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, one.stderr
    two = torchrun(2, *common, "--stage", "eval", "--run-dir", str(tmp_path / "r2"))
    assert two.returncode == 0, two.stderr[-3000:]
    m1 = json.loads((next((tmp_path / "r" / "eval").iterdir()) / "metrics.json").read_text())["metrics"]
    m2 = json.loads((next((tmp_path / "r2" / "eval").iterdir()) / "metrics.json").read_text())["metrics"]
    assert set(m1) == set(m2) and "is" in m1 and "div_lpips" in m1
    for name in m1:
        assert m1[name]["n"] == m2[name]["n"] == 12
        assert abs(m1[name]["value"] - m2[name]["value"]) <= 1e-6 * max(1.0, abs(m1[name]["value"])), name


def test_a_run_folder_from_before_a_config_key_existed_still_resumes(tmp_path, small):
    """config.json written without keys added later (at their defaults) is the same config; a real difference is not."""
    args = ["run", "--task", "uncropping", "--preset", "smoke", "--protocol", small, "--run-dir", str(tmp_path / "r"), "--stage", "train"]
    assert CliRunner().invoke(main, args).exit_code == 0
    for path in (tmp_path / "r" / "config.json", next((tmp_path / "r" / "eval").iterdir()) / "config.json"):
        old = {k: v for k, v in json.loads(path.read_text()).items() if k not in ("pred", "name", "regression", "pix2pix", "classical")}
        for section, keys in (("diffusion", ("parameterization", "loss_weighting", "min_snr_gamma")), ("sample", ("schedule",))):
            old[section] = {k: v for k, v in old[section].items() if k not in keys}  # keys added inside a section
        path.write_text(json.dumps(old))
    res = CliRunner().invoke(main, args + ["--set", "train.steps=6"])
    assert res.exit_code != 0 and "train.steps: 4 there, 6 now" in res.output
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output


def test_diversity_n_draws_all_samples_for_the_first_inputs_only(tmp_path, small):
    from palette_bench.data.evalset import EvalSet
    from palette_bench.data.predictions import Predictions
    from palette_bench.protocols import load_protocol
    from palette_bench.sample import sample_evalset

    class Draw:  # one uniform image per generator: outputs depend only on (seed, index, k)
        def predict(self, condition, mask, generator):
            return torch.stack([torch.rand(1, generator=g).expand_as(c) * 2 - 1 for c, g in zip(condition, generator)])

    es = EvalSet(load_protocol(small), "inpainting", "center", n=6)
    full, part = tmp_path / "full", tmp_path / "part"
    assert sample_evalset(Draw(), es, full, 0, samples_per_input=3, batch_size=4, progress=False) == 18
    assert sample_evalset(Draw(), es, part, 0, samples_per_input=3, batch_size=5, progress=False, diversity_n=2) == 6 + 2 * 2
    first = es.positions[:2]
    assert sorted(p.name for p in part.glob("*_*.png")) == sorted(f"{i:06d}_{k}.png" for i in first for k in (1, 2))
    for p in part.iterdir():
        assert p.read_bytes() == (full / p.name).read_bytes()  # the same samples as a full draw
    preds = Predictions(part, es.positions, 32)
    assert preds.samples == 3 and preds.diverse == first


def test_gpu_preset_runs_end_to_end_at_smoke_size(tmp_path, small):
    # the gpu preset has not run on a GPU in the test suite; this runs its code path (64 px, v-prediction,
    # Heun with churn on the log-SNR schedule, diversity on a subset) with the widths, steps and counts shrunk to seconds
    cfg = resolve("uncropping", "gpu")
    assert cfg.image_size == 64 and cfg.diffusion.parameterization == "v" and cfg.train.bf16 and cfg.train.compile
    assert (cfg.sample.sampler, cfg.sample.steps, cfg.sample.churn, cfg.sample.schedule, cfg.sample.n, cfg.sample.diversity_n) == ("heun", 25, 40.0, "logsnr", 2000, 200)
    cfg.model.validate()
    shrink = ["model.base_channels=16", "model.num_res_blocks=1", "model.num_head_channels=16", "train.steps=2", "train.batch_size=4", "train.warmup_steps=1",
              "train.compile=false", "train.workers=0", "sample.n=3", "sample.diversity_n=1", "sample.steps=2", "eval.bootstrap=5", "eval.judge_train_images=300", "eval.judge_epochs=1"]
    args = ["run", "--method", "palette", "--task", "uncropping", "--preset", "gpu", "--protocol", small, "--runs-root", str(tmp_path)]
    for s in shrink:
        args += ["--set", s]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    ev = next(tmp_path.glob("*/eval/right-heun2-logsnr-churn40"))
    m = json.loads((ev / "metrics.json").read_text())
    assert m["image_size"] == 64 and m["n"] == 3 and m["diversity_inputs"] == 1 and m["samples_per_input"] == 5


def test_another_methods_settings_do_not_orphan_an_evaluation_but_its_own_do(tmp_path, small):
    """An evaluation folder depends on its own method's section, not on the other methods' (a changed pix2pix default)."""
    base = ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--run-dir", str(tmp_path / "p")]
    res = CliRunner().invoke(main, base)
    assert res.exit_code == 0, res.output
    (metrics,) = (tmp_path / "p" / "eval").glob("*/metrics.json")
    before = metrics.stat().st_mtime_ns
    res = CliRunner().invoke(main, [*base, "--set", "pix2pix.l1_weight=50", "--set", 'classical.inpaint="telea"'])
    assert res.exit_code == 0, res.output
    assert metrics.stat().st_mtime_ns == before  # the finished evaluation is reused, not redone
    res = CliRunner().invoke(main, [*base, "--set", "eval.bootstrap=7"])
    assert res.exit_code != 0 and "made with another config (eval.bootstrap: 10 there, 7 now)" in res.output
