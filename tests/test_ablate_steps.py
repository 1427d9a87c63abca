"""`palette-bench ablate steps`: the non-inferiority rule on simulated studies, and the study at smoke size
(one checkpoint, samplers x schedules x steps, resumable, tabulated)."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from palette_bench.ablations.steps import ALPHA, TAIL, Variant, lines, upper_bound, verdicts, variants
from palette_bench.cli import main
from palette_bench.compare import compare

REF = Variant("ancestral", "paper", 1000)


def simulated_study(rng, truth: dict, se: float = 1.0, replicates: int = 2400):
    """Statistics t_v ~ N(truth_v, se) of one study and bootstrap replicates spread around each like its sampling error."""
    stat = {v: truth[v] + se * rng.standard_normal() for v in truth}
    reps = {v: stat[v] + se * rng.standard_normal(replicates) for v in truth}
    return stat, reps


def grid(samplers=("ancestral", "ddim"), schedules=("paper", "logsnr", "karras"), steps=(100, 50, 20, 10)):
    todo = variants(samplers, schedules, steps)
    return todo, lines(todo, REF)


def test_lines_are_walked_from_the_most_steps_and_leave_out_the_reference():
    todo, seq = grid()
    assert len(seq) == 6 and REF not in [v for vs in seq.values() for v in vs]
    assert [v.steps for v in seq["ddim/logsnr"]] == [100, 50, 20, 10]


def test_at_the_margin_no_configuration_is_claimed_more_often_than_alpha():
    """Every configuration exactly at the margin (true statistic 0): the chance that any is claimed to
    qualify must stay at the family-wise ALPHA, although 24 configurations are tested."""
    rng = np.random.default_rng(0)
    todo, seq = grid()
    level = ALPHA / len(seq)
    studies = 600
    claimed = sum(
        any(s == "yes" for s in verdicts(*simulated_study(rng, {v: 0.0 for v in todo if v != REF}), seq, level).values())
        for _ in range(studies)
    )
    # binomial error of the simulated rate: 3 standard errors above ALPHA
    assert claimed / studies <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / studies), claimed


def test_without_the_correction_the_same_studies_claim_far_more():
    """The control for the test above: each test at the uncorrected level and no stopping claims a
    configuration in most studies, so the simulation can tell a corrected rule from an uncorrected one."""
    rng = np.random.default_rng(0)
    todo, _ = grid()
    singletons = {str(v): [v] for v in todo if v != REF}  # every configuration its own line: no walk-down
    claimed = sum(
        any(s == "yes" for s in verdicts(*simulated_study(rng, {v: 0.0 for v in todo if v != REF}), singletons, ALPHA).values())
        for _ in range(200)
    )
    assert claimed / 200 > 0.3


def test_a_clearly_good_configuration_qualifies_and_a_line_stops_at_its_first_failure():
    rng = np.random.default_rng(1)
    _, seq = grid(samplers=("ddim",), schedules=("logsnr",))
    good, bad, would_be_good, _ = seq["ddim/logsnr"]  # 100, 50, 20, 10 steps
    truth = {good: -10.0, bad: +10.0, would_be_good: -10.0, seq["ddim/logsnr"][3]: -10.0}
    status = verdicts(*simulated_study(rng, truth), seq, ALPHA)
    assert status[good] == "yes" and status[bad] == "no"
    assert status[would_be_good] == "not tested"  # below a failure nothing is tested, however good it looks


def test_the_bound_uses_the_corrected_level():
    """Replicates whose 97.5% quantile is below 0 but whose 99.6% quantile is above: one line qualifies, six do not."""
    reps = np.concatenate([np.full(990, -1.0), np.full(10, 1.0)])  # 1% of the replicates above 0
    assert upper_bound(-1.0, reps, ALPHA) < 0 < upper_bound(-1.0, reps, ALPHA / 6)
    v = Variant("ddim", "logsnr", 20)
    assert verdicts({v: -1.0}, {v: reps}, {"ddim/logsnr": [v]}, ALPHA) == {v: "yes"}
    assert verdicts({v: -1.0}, {v: reps}, {"ddim/logsnr": [v]}, ALPHA / 6) == {v: "no"}


@pytest.fixture
def trained(tmp_path, small):
    args = ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path)]
    res = CliRunner().invoke(main, args)  # the run's own evaluation: ddim, 3 steps, paper schedule
    assert res.exit_code == 0, res.output
    return tmp_path / "small-builtin-inpainting-palette-smoke"


def test_ablate_steps_table_plot_and_resume(tmp_path, trained):
    run_metrics = trained / "eval" / "ff20-30-ddim3" / "metrics.json"
    stamp = run_metrics.stat().st_mtime_ns
    # a 20-step ancestral reference keeps the test short; the default, 1000 steps, is the same code path
    args = ["ablate", "steps", "--run", str(trained), "--samplers", "ddim", "--schedules", "paper,logsnr", "--steps", "3,2", "--reference", "ancestral:paper:20", "--out", str(tmp_path / "study")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "study" / "steps.csv")
    got = list(zip(table["sampler"], table["schedule"], table["steps"]))
    assert got == [("ancestral", "paper", 20), ("ddim", "paper", 3), ("ddim", "paper", 2), ("ddim", "logsnr", 3), ("ddim", "logsnr", 2)]
    assert (table["nfe"] == table["steps"]).all() and (table["n"] == 4).all()
    names = sorted(p.name for p in (trained / "eval").iterdir())
    assert names == ["ff20-30-ancestral20", "ff20-30-ddim2", "ff20-30-ddim2-logsnr", "ff20-30-ddim3", "ff20-30-ddim3-logsnr"]
    # the run's own ddim-3 evaluation is one of the study's configurations: reused, not recomputed
    assert run_metrics.stat().st_mtime_ns == stamp
    # each row's difference is compare's paired difference, and its interval is compare's up to the replicate count
    for row in table.iloc[1:].itertuples():
        c = compare(row.eval_dir, table.loc[0, "eval_dir"], ("fid",))["metrics"]["fid"]
        assert row.fid_vs_ref == pytest.approx(c["difference"])
        assert row.seconds_per_image > 0
    summary = json.loads((tmp_path / "study" / "steps.json").read_text())
    # two lines, each test at 1.25%: enough replicates for 25 beyond the bound
    assert summary["lines"] == 2 and summary["level_per_test"] == pytest.approx(ALPHA / 2) and summary["replicates"] >= TAIL / (ALPHA / 2)
    assert table.loc[0, "qualifies"] == "ref" and set(table["qualifies"].iloc[1:]) <= {"yes", "no", "not tested"}
    # four inputs cannot show anything within 5%: the answer is "none", never the reference itself
    assert summary["fewest"] is None
    assert "No configuration qualifies" in (tmp_path / "study" / "steps.md").read_text()
    assert summary["resolution_median"] > 0.05  # and the study says that its resolution is too coarse for the margin
    assert Image.open(tmp_path / "study" / "steps.png").size[0] > 300
    # resume: nothing finished is recomputed; a removed evaluation is redone alone
    stamps = {p: p.stat().st_mtime_ns for p in (trained / "eval").glob("*/metrics.json")}
    redo = trained / "eval" / "ff20-30-ddim2-logsnr" / "metrics.json"
    redo.unlink()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    for p, t in stamps.items():
        assert (p.stat().st_mtime_ns == t) == (p != redo), p


def test_ablate_steps_against_another_reference_on_other_inputs_and_lines_of_their_own_steps(tmp_path, trained):
    """Another reference and other inputs; then --line, which gives each sampler/schedule line its own step counts
    (replacing the grid), with the second-order solvers: Heun's NFE counts both calls of a step."""
    args = ["ablate", "steps", "--run", str(trained), "--samplers", "ddim", "--schedules", "paper", "--steps", "2", "--n", "3", "--samples-per-input", "2", "--diversity-n", "1", "--reference", "ddim:paper:3"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    folder = trained / "eval" / "ff20-30-ddim3-n3-div1x2"
    assert len(list((folder / "samples").glob("*.png"))) == 3 + 1
    m = json.loads((folder / "metrics.json").read_text())
    assert m["n"] == 3 and m["diversity_inputs"] == 1
    table = pd.read_csv(trained / "ablate-steps" / "steps.csv")
    assert list(zip(table["steps"], table["qualifies"]))[0] == (3, "ref") and not (trained / "eval" / "ff20-30-ancestral1000-n3-div1x2").exists()
    res = CliRunner().invoke(main, ["ablate", "steps", "--run", str(trained), "--reference", "ddim:paper"])
    assert res.exit_code == 2 and "is not SAMPLER:SCHEDULE:STEPS" in res.output
    args = ["ablate", "steps", "--run", str(trained), "--line", "dpmpp-2m:logsnr:3,2", "--line", "heun:logsnr:2", "--line", "heun:logsnr:2:churn=40",
            "--reference", "ddim:paper:3", "--out", str(tmp_path / "study")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "study" / "steps.csv")
    got = list(zip(table["sampler"], table["steps"], table["churn"], table["nfe"]))
    assert got == [("ddim", 3, 0, 3), ("dpmpp-2m", 3, 0, 3), ("dpmpp-2m", 2, 0, 2), ("heun", 2, 0, 3), ("heun", 2, 40, 3)]
    assert {"ff20-30-dpmpp-2m3-logsnr", "ff20-30-dpmpp-2m2-logsnr", "ff20-30-heun2-logsnr", "ff20-30-heun2-logsnr-churn40"} <= {p.name for p in (trained / "eval").iterdir()}
    assert json.loads((tmp_path / "study" / "steps.json").read_text())["lines"] == 3
    assert "heun (churn 40)" in (tmp_path / "study" / "steps.md").read_text()
    churned = json.loads((trained / "eval" / "ff20-30-heun2-logsnr-churn40" / "config.json").read_text())["sample"]
    assert (churned["sampler"], churned["churn"]) == ("heun", 40.0)
    for bad in ("heun:logsnr", "euler:logsnr:3", "heun:logsnr:3,0", "ddim:logsnr:3:churn=40", "heun:logsnr:3:churn=-1", "heun:logsnr:3:eta=1"):
        res = CliRunner().invoke(main, ["ablate", "steps", "--run", str(trained), "--line", bad])
        assert res.exit_code == 2 and "is not SAMPLER:SCHEDULE:STEPS[,STEPS...][:churn=S]" in res.output, res.output
