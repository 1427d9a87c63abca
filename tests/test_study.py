"""`palette-bench study create` and `study score`, and the fool-rate column of `report`."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from palette_bench.cli import main
from palette_bench.data.evalset import EvalSet
from palette_bench.images import to_uint8
from palette_bench.protocols import load_protocol
from palette_bench.study.create import create_study
from palette_bench.study.score import fool_rate_interval, score_study
from palette_bench.study.spec import load_study
from studyfolders import answer_all, other_side, output_image, write_runs


def cli(*args, ok=True):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert (res.exit_code == 0) == ok, res.output
    return res.output


@pytest.fixture
def runs(tmp_path):
    return write_runs(tmp_path / "runs", ("palette", "regression"), n=50)


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_create_pairs_each_output_with_its_original_interleaved_and_counterbalanced(tmp_path, runs):
    out = tmp_path / "study"
    cli("study", "create", "--runs", runs, "--task", "uncropping", "--methods", "palette,regression", "--n", 9, "--seconds", 3, "--out", out)
    study = load_study(out)
    trials = study.trials
    methods = [t.method for t in trials if t.kind == "method"]
    assert methods.count("palette") == methods.count("regression") == 9
    assert sum(t.kind == "catch" for t in trials) == 2  # 18 method trials: 2 of 20 (10%) are catch trials
    assert trials[0].kind == "method" and study.seconds == 3 and study.data["question"] == "Which image would you guess is from a camera?"
    # interleaved: every round of two method trials shows both methods
    assert all(set(methods[k:k + 2]) == {"palette", "regression"} for k in range(0, 18, 2))
    # every original appears once, so no rater sees a photograph twice
    assert len({t.index for t in trials}) == len(trials)
    for kind, method in (("method", "palette"), ("method", "regression"), ("catch", None)):
        sides = [t.original for t in trials if t.kind == kind and t.method == method]
        assert abs(sides.count("left") - sides.count("right")) <= 1
    evalset = EvalSet(load_protocol("builtin").with_size(32), "uncropping", "right", n=50)
    for t in trials:
        real = pixels(out / "images" / getattr(t, t.original))
        shown = pixels(out / "images" / getattr(t, other_side(t.original)))
        assert np.array_equal(real, to_uint8(evalset[t.index].image).permute(1, 2, 0).numpy())
        if t.kind == "method":
            assert np.array_equal(shown, output_image(t.method, t.index))
        else:  # the catch image is far from its original: a 8x8 mosaic under heavy noise
            assert np.abs(shown.astype(float) - real).mean() > 15
    for m, source in study.methods.items():  # created_from: the output files the trials took, in order, and their sha256
        samples = source["created_from"]["samples"]
        assert samples == [f"samples/{t.index:06d}.png" for t in trials if t.method == m]
        files = b"".join((runs / source["run"] / "eval" / source["eval_dir"] / s).read_bytes() for s in samples)
        assert source["created_from"]["sha256"] == hashlib.sha256(files).hexdigest()


def test_the_same_seed_writes_the_same_study_and_another_seed_another(tmp_path, runs):
    def trials(seed, name):
        create_study(runs, "uncropping", ["palette", "regression"], 8, 5.0, tmp_path / name, seed=seed)
        return json.loads((tmp_path / name / "study.json").read_text())["trials"]

    first = trials(0, "a")
    assert trials(0, "b") == first
    assert trials(1, "c") != first
    for name in ("a", "b"):
        images = sorted((tmp_path / name / "images").iterdir())
        assert [p.name for p in images] == [p.name for p in sorted((tmp_path / "a" / "images").iterdir())]
    assert all((tmp_path / "a" / "images" / p.name).read_bytes() == p.read_bytes() for p in (tmp_path / "b" / "images").iterdir())


def test_a_study_needs_nothing_of_the_run_folders_once_written(tmp_path, runs):
    import shutil

    from palette_bench.study.server import create_app

    create_study(runs, "uncropping", ["palette", "regression"], 4, 3.0, tmp_path / "s")
    shutil.rmtree(runs)
    study = load_study(tmp_path / "s")
    client = create_app(tmp_path / "s").test_client()
    t = study.trials[0]
    with client.get(f"/image/{t.left}") as response:
        assert response.data == (tmp_path / "s" / "images" / t.left).read_bytes()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "palette,dalle"], "holds 'dalle' (there are: palette, regression)"),
        (["--methods", "palette,regression", "--n", "24"], "at most --n 22"),
        (["--methods", "palette,palette"], "name each method once"),
        (["--seconds", "4"], "'4' is not one of '3', '5'"),
    ],
)
def test_create_refuses_what_it_cannot_build_with_one_line(tmp_path, runs, args, message):
    base = {"--methods": "palette,regression", "--n": "5", "--seconds": "3"}
    for k in range(0, len(args), 2):
        base[args[k]] = args[k + 1]
    out = cli("study", "create", "--runs", runs, "--task", "uncropping", "--out", tmp_path / "s", *sum(base.items(), ()), ok=False)
    assert message in out
    assert not (tmp_path / "s").exists()


def test_create_never_overwrites_a_study(tmp_path, runs):
    create_study(runs, "uncropping", ["palette"], 3, 3.0, tmp_path / "s")
    answer_all(tmp_path / "s", "a" * 32, lambda t: "left")
    before = (tmp_path / "s" / "answers.db").read_bytes()
    out = cli("study", "create", "--runs", runs, "--task", "uncropping", "--methods", "palette", "--n", 3, "--seconds", 3, "--out", tmp_path / "s", ok=False)
    assert "already exists" in out and (tmp_path / "s" / "answers.db").read_bytes() == before


def test_several_runs_of_a_method_take_the_default_run_or_a_named_folder(tmp_path, runs):
    write_runs(runs, ("palette",), overrides=['diffusion.loss="l1"'], suffix="-0123abcd")  # an ablation variant
    cli("study", "create", "--runs", runs, "--task", "uncropping", "--methods", "palette,regression", "--n", 3, "--seconds", 3, "--out", tmp_path / "default")
    assert json.loads((tmp_path / "default" / "study.json").read_text())["methods"]["palette"]["run"] == "builtin-uncropping-palette-smoke"
    write_runs(runs, ("palette",), seed=1)  # two seeds: no run is the default
    out = cli("study", "create", "--runs", runs, "--task", "uncropping", "--methods", "palette", "--n", 3, "--seconds", 3, "--out", tmp_path / "seeds", ok=False)
    assert "3 runs of uncropping/right hold 'palette' (builtin-uncropping-palette-smoke, builtin-uncropping-palette-smoke-0123abcd, builtin-uncropping-palette-smoke-seed1); name one run folder instead" in out
    variant = "builtin-uncropping-palette-smoke-0123abcd"
    cli("study", "create", "--runs", runs, "--task", "uncropping", "--methods", f"{variant},regression", "--n", 3, "--seconds", 3, "--out", tmp_path / "named")
    assert json.loads((tmp_path / "named" / "study.json").read_text())["methods"][variant]["run"] == variant


# --- score --------------------------------------------------------------------------------------


@pytest.fixture
def study(tmp_path):
    runs = write_runs(tmp_path / "big-runs", ("palette", "regression"), n=100)
    return create_study(runs, "uncropping", ["palette", "regression"], 40, 3.0, tmp_path / "study")


def wilson(k, n, z=1.959963984540054):
    """Wilson's 95% interval for k of n in closed form: the pooled answers as if each were independent."""
    centre = (k / n + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(k / n * (1 - k / n) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def holds_pooled_wilson(ci, k, n):
    """The interval contains the share and Wilson's pooled interval, so it is never more certain than the answers allow."""
    low, high = wilson(k, n)
    return ci[0] <= k / n <= ci[1] and ci[0] <= low + 1e-9 and ci[1] >= high - 1e-9 and ci[1] > ci[0]


def attentive(rng, fooled: float):
    """A rater who gets every catch trial right and picks the output with probability `fooled`."""
    return lambda t: t.original if t.kind == "catch" else (other_side(t.original) if rng.random() < fooled else t.original)


def test_a_rater_picking_at_random_scores_about_half_and_a_discerning_one_does_not(study):
    rng = np.random.default_rng(0)
    for r in range(20):
        answer_all(study, f"{r:032x}", attentive(rng, 0.5))
    result = score_study(study)
    for m in ("palette", "regression"):
        e = result["methods"][m]
        assert e["raters"] == 20 and e["answers"] == 800
        assert abs(e["fool_rate"] - 0.5) < 0.05 and e["ci95"][0] < 0.5 < e["ci95"][1]
    for r in range(20, 40):  # twenty more raters who are fooled 15% of the time: 32.5% pooled
        answer_all(study, f"{r:032x}", attentive(rng, 0.15))
    mixed = score_study(study)
    assert mixed["raters"]["kept"] == 40
    e = mixed["methods"]["palette"]
    assert e["ci95"][1] < 0.5 and 0.28 < e["fool_rate"] < 0.37


def test_the_interval_resamples_raters_not_answers(study):
    """Ten raters who always pick the output and ten who never do: 50% pooled, but a study of other
    raters could land anywhere; an interval over 1,600 answers would be +-2.5 points wide."""
    for r in range(20):
        fooled = r % 2 == 0
        answer_all(study, f"{r:032x}", lambda t, f=fooled: t.original if t.kind == "catch" else (other_side(t.original) if f else t.original))
    e = score_study(study)["methods"]["palette"]
    assert e["fool_rate"] == pytest.approx(0.5) and e["interval"].startswith("bootstrap over 20 raters")
    assert e["ci95"][0] < 0.35 and e["ci95"][1] > 0.65


def test_one_rater_gets_wilsons_interval(study):
    trials = load_study(study).trials
    palette = [t for t in trials if t.method == "palette"]
    fooled = {t.id for t in palette[:13]}  # 13 of 40
    answer_all(study, "f" * 32, lambda t: other_side(t.original) if t.id in fooled else t.original)
    e = score_study(study)["methods"]["palette"]
    assert e["fool_rate"] == pytest.approx(13 / 40) and e["interval"] == "Wilson (one rater)"
    assert e["ci95"] == pytest.approx(list(wilson(13, 40)), abs=1e-9)


@pytest.mark.parametrize("raters", [1, 2, 3, 20])
def test_raters_all_fooled_alike_get_no_zero_width_interval(study, raters):
    """Every rater is fooled by palette on 0 of 40 trials and by regression on 40 of 40: every
    bootstrap resample is the same share, yet the answers do not show the rate is exactly 0 or 1."""
    for r in range(raters):
        answer_all(study, f"{r:032x}", lambda t: other_side(t.original) if t.method == "regression" else t.original)
    methods = score_study(study, write=False)["methods"]
    n = 40 * raters
    assert methods["palette"]["fool_rate"] == 0.0 and holds_pooled_wilson(methods["palette"]["ci95"], 0, n)
    assert methods["regression"]["fool_rate"] == 1.0 and holds_pooled_wilson(methods["regression"]["ci95"], n, n)


def test_raters_who_stopped_early_and_fooled_nobody_get_an_interval_from_their_answers(study):
    """Three raters who stopped after different numbers of trials, never fooled: the bootstrap over
    them is [0, 0] whatever it draws; Wilson over their answers is not."""
    from palette_bench.study.answers import AnswerStore

    trials = load_study(study).trials
    store = AnswerStore(study / "answers.db")
    for r, stop in enumerate((len(trials), 50, 25)):
        for t in trials[:stop]:
            store.add(f"{r:032x}", t.id, t.original, 800.0)
    result = score_study(study, write=False)
    e = result["methods"]["palette"]
    shown = [sum(t.method == "palette" for t in trials[:stop]) for stop in (len(trials), 50, 25)]
    assert result["raters"]["kept"] == 3 and e["raters"] == 3 and e["answers"] == sum(shown) and len(set(shown)) == 3
    assert e["fool_rate"] == 0.0 and holds_pooled_wilson(e["ci95"], 0, sum(shown))


def test_no_interval_is_narrower_than_pooled_wilson():
    """Random studies: 1 to 24 raters with 1 to 60 trials each, fooled at one shared rate (0, 1 or
    any) or at rates of their own."""
    rng = np.random.default_rng(7)
    for case in range(60):
        raters = int(rng.integers(1, 25))
        shown = rng.integers(1, 61, raters)
        rate = [0.0, 1.0, rng.uniform()][case % 3]
        rates = np.full(raters, rate) if case % 2 else rng.beta(2, 3, raters)
        picked = rng.binomial(shown, rates)
        low, high, _ = fool_rate_interval(picked.astype(np.float64), shown.astype(np.float64), seed=case)
        assert holds_pooled_wilson((low, high), picked.sum(), shown.sum()), (picked.tolist(), shown.tolist(), low, high)


def test_raters_failing_the_catch_trials_are_left_out_and_counted(study):
    rng = np.random.default_rng(1)
    for r in range(5):
        answer_all(study, f"{r:032x}", attentive(rng, 0.3))
    kept_only = score_study(study, write=False)
    answer_all(study, "e" * 32, lambda t: other_side(t.original))  # always picks the non-original: fails every catch trial
    store_partial = [t for t in load_study(study).trials if t.kind == "method"][:5]
    from palette_bench.study.answers import AnswerStore

    for t in store_partial:  # answered five method trials and no catch trial: cannot be screened
        AnswerStore(study / "answers.db").add("d" * 32, t.id, "left", 500.0)
    result = score_study(study)
    assert result["raters"] == {"total": 7, "kept": 5, "failed_catch": 1, "no_catch_answered": 1}
    assert result["screening"]["e" * 32]["kept"] is False
    for m in ("palette", "regression"):
        assert result["methods"][m]["fool_rate"] == kept_only["methods"][m]["fool_rate"]
        assert result["methods"][m]["ci95"] == kept_only["methods"][m]["ci95"]
    out = cli("study", "score", study)
    assert "left out 2: 1 below 80% correct on catch trials, 1 answered no catch trial" in out


def test_score_gives_mean_response_time_per_method_and_json(study):
    answer_all(study, "a" * 32, lambda t: t.original, response_ms=1200.0)
    answer_all(study, "b" * 32, lambda t: t.original if t.kind == "catch" or t.method == "palette" else other_side(t.original), response_ms=600.0)
    result = json.loads(cli("study", "score", study, "--json"))
    assert result["methods"]["palette"]["mean_response_s"] == pytest.approx(0.9)
    assert result["methods"]["regression"]["fool_rate"] == pytest.approx(0.5)
    assert result["methods"]["palette"]["fool_rate"] == 0.0
    assert result["methods"]["palette"]["ci95"][0] == 0.0 and holds_pooled_wilson(result["methods"]["palette"]["ci95"], 0, 80)  # two raters at 0 of 40: not [0, 0]
    assert json.loads((study / "scores.json").read_text())["methods"] == result["methods"]


# --- report -------------------------------------------------------------------------------------


def test_report_adds_the_fool_rate_of_a_scored_study_to_its_rows(tmp_path, runs):
    import pandas as pd

    cli("report", "--runs", runs, "--out", tmp_path / "plain", "--format", "csv,md", "--studies", tmp_path / "studies")
    assert "fool_rate_pct" not in pd.read_csv(tmp_path / "plain" / "uncropping.csv").columns
    study = create_study(runs, "uncropping", ["palette"], 20, 3.0, tmp_path / "studies" / "first")
    trials = load_study(study).trials
    fooled = {t.id for t in [t for t in trials if t.method == "palette"][:7]}  # 7 of 20
    answer_all(study, "a" * 32, lambda t: other_side(t.original) if t.id in fooled else t.original)
    cli("study", "score", study)
    (tmp_path / "studies" / "broken").mkdir()
    (tmp_path / "studies" / "broken" / "scores.json").write_text("{not json")
    out = cli("report", "--runs", runs, "--out", tmp_path / "out", "--format", "csv,md,tex", "--studies", tmp_path / "studies")
    assert f"skipped {tmp_path / 'studies' / 'broken' / 'scores.json'}: not valid JSON" in out
    table = pd.read_csv(tmp_path / "out" / "uncropping.csv").set_index("method")
    assert table.loc["palette", "fool_rate_pct"] == pytest.approx(35.0)
    assert np.isnan(table.loc["regression", "fool_rate_pct"])
    md = (tmp_path / "out" / "uncropping.md").read_text()
    assert "Fool rate (%)" in md and "35.0 [" in md and "human study first" in md and "1 of 1 raters kept" in md


def test_report_attaches_a_fool_rate_only_to_the_outputs_the_raters_saw(tmp_path, runs):
    """A run re-run under the same folder name holds other outputs: the study's fool rate is not theirs."""
    import pandas as pd

    study = create_study(runs, "uncropping", ["palette", "regression"], 10, 3.0, tmp_path / "studies" / "first")
    answer_all(study, "a" * 32, lambda t: t.original)
    cli("study", "score", study)
    palette = runs / "builtin-uncropping-palette-smoke"

    def report(name):
        """What the command printed and the Markdown footer, each holding the skip line, and the fool rates."""
        out = cli("report", "--runs", runs, "--out", tmp_path / name, "--format", "csv,md", "--studies", tmp_path / "studies")
        table = pd.read_csv(tmp_path / name / "uncropping.csv").set_index("method")
        md = (tmp_path / name / "uncropping.md").read_text()
        skips = [line for line in out.splitlines() if "Fool rate skipped" in line]
        assert all(line in md for line in skips) and len(skips) == md.count("Fool rate skipped")
        return out, table["fool_rate_pct"]

    made, eval_dir = load_study(study).methods["palette"]["created_from"], load_study(study).methods["palette"]["eval_dir"]
    shown = {int(Path(s).stem) for s in made["samples"]}
    unshown = min(set(range(50)) - shown)
    Image.fromarray(output_image("regression", unshown)).save(palette / "eval" / eval_dir / "samples" / f"{unshown:06d}.png")
    text, rates = report("unchanged")  # an output no rater saw changed: the fool rate still holds
    assert rates["palette"] == 0.0 and rates["regression"] == 0.0 and "skipped" not in text

    first = made["samples"][0]
    Image.fromarray(output_image("regression", int(Path(first).stem))).save(palette / "eval" / eval_dir / first)  # palette re-run: other pixels
    text, rates = report("recreated")
    assert np.isnan(rates["palette"]) and rates["regression"] == 0.0
    assert f"Fool rate skipped: human study {study} for run folder {palette}: {eval_dir}/samples no longer holds the outputs its raters saw" in text

    scores = json.loads((study / "scores.json").read_text())  # a study scored before studies recorded the hash
    for entry in scores["methods"].values():
        del entry["created_from"]
    (study / "scores.json").write_text(json.dumps(scores))
    text, rates = report("unrecorded")
    assert rates.isna().all()
    assert f"Fool rate skipped: human study {study} for run folder {runs / 'builtin-uncropping-regression-smoke'}: its scores record no hash" in text
