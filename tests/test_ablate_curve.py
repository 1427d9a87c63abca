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


def test_a_recipe_study_trains_each_recipe_and_compares_its_last_point_with_the_first(tmp_path, small):
    """One command: each recipe a run (same seed and data, its own overrides), a curve each, and recipe.md's paired
    differences against the first recipe; a second invocation resumes and evaluates nothing again."""
    invoke("run", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--method", "classical", "--runs-root", str(tmp_path / "floors"))
    floor = next((tmp_path / "floors").iterdir())
    args = ["ablate", "curve", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path / "runs"),
            "--recipe", "ref:", "--recipe", "lognormal: diffusion.noise_levels=lognormal; diffusion.parameterization=edm",
            "--at", "2,4", "--floor", str(floor), "--out", str(tmp_path / "study")]
    res = invoke(*args)
    table = pd.read_csv(tmp_path / "study" / "curve.csv")
    assert sorted(zip(table["curve"], table["step"])) == [("lognormal", 2), ("lognormal", 4), ("ref", 2), ("ref", 4)]
    assert bool((table["train_seconds"] > 0).all())
    runs = {json.loads((tmp_path / "runs" / d / "config.json").read_text())["diffusion"]["noise_levels"]: d for d in (tmp_path / "runs").iterdir() if d.is_dir()}
    assert set(runs) == {"paper", "lognormal"}
    recipes = pd.read_csv(tmp_path / "study" / "recipe.csv")
    assert list(recipes["recipe"]) == ["ref", "lognormal"] and list(recipes["step"]) == [4, 4]
    assert pd.isna(recipes["fid_vs_ref"][0]) and not pd.isna(recipes["fid_vs_ref"][1])
    direct = compare(table[(table.curve == "lognormal") & (table.step == 4)]["eval_dir"].item(), table[(table.curve == "ref") & (table.step == 4)]["eval_dir"].item(), ("fid",))
    assert recipes["fid_vs_ref"][1] == pytest.approx(direct["metrics"]["fid"]["difference"], rel=1e-12)
    md = (tmp_path / "study" / "recipe.md").read_text()
    assert "reference" in md and "diffusion.noise_levels=lognormal; diffusion.parameterization=edm" in md and "(the preset's recipe)" in md
    stats = {d: (tmp_path / "runs" / d / "stats.jsonl").read_text() for d in runs.values()}
    again = invoke(*args)
    assert "-> " not in again.output  # nothing sampled or evaluated again
    assert stats == {d: (tmp_path / "runs" / d / "stats.jsonl").read_text() for d in runs.values()}
    assert "recipe [2/2] lognormal" in res.output


def test_recipes_are_parsed_and_keep_every_listed_checkpoint():
    from palette_bench.ablations.recipe import parse_recipe, recipe_configs

    assert parse_recipe("lr: train.lr=1e-3; train.warmup_steps=50") == ("lr", ["train.lr=1e-3", "train.warmup_steps=50"])
    assert parse_recipe("paper:") == ("paper", [])
    for bad in ("no colon", "bad name: train.lr=1", "x: train.lr"):
        with pytest.raises(ValueError):
            parse_recipe(bad)
    cfgs = recipe_configs("inpainting", "cpu", [("a", []), ("half", ["train.steps=300", "train.batch_size=64"])], [200, 400, 600])
    assert [(c.train.steps, c.train.checkpoint_every, c.train.keep_checkpoints) for c in cfgs] == [(600, 200, 3), (300, 100, 3)]
    with pytest.raises(ValueError, match="differ"):
        recipe_configs("inpainting", "cpu", [("a", []), ("a", ["train.lr=1e-3"])], [200])


def test_floors_of_one_method_are_told_apart_by_their_training_steps(tmp_path):
    from types import SimpleNamespace

    from palette_bench.ablations.curve import floor_names

    def floor(folder, method, steps):
        (tmp_path / folder / "eval" / "q10").mkdir(parents=True)
        (tmp_path / folder / "config.json").write_text(json.dumps({"method": method, "train": {"steps": steps}}))
        return SimpleNamespace(path=tmp_path / folder / "eval" / "q10" / "metrics.json", result={"run": str(tmp_path / folder)})

    short, long, classical = floor("r480", "regression", 480), floor("r1920", "regression", 1920), floor("c", "classical", 480)
    assert floor_names([short, long, classical]) == ["regression (480 steps)", "regression (1920 steps)", "classical"]
    same_steps = floor("r480-seed1", "regression", 480)
    assert floor_names([short, same_steps]) == ["regression (r480)", "regression (r480-seed1)"]
    with pytest.raises(ValueError, match="the same floor is given twice"):
        floor_names([short, short])


def test_runs_of_one_parameterization_are_told_apart_by_their_folders(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import palette_bench.run
    from palette_bench.ablations.curve import curve_labels

    parameterization = {"lognormal": "v", "uniform": "v", "paper": "eps"}
    monkeypatch.setattr(palette_bench.run, "load_run_config", lambda r: SimpleNamespace(diffusion=SimpleNamespace(parameterization=parameterization[r.name])))
    runs = [tmp_path / name for name in parameterization]
    assert list(curve_labels(runs, {}).values()) == ["palette (v) (lognormal)", "palette (v) (uniform)", "palette (eps)"]
    assert list(curve_labels(runs, {str(runs[0]): "cpu"}).values()) == ["cpu", "palette (v)", "palette (eps)"]
