"""`palette-bench report`: tables read only from run folders, best values and their paired significance, seeds, splits, ablations, LaTeX."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from palette_bench.cli import main
from palette_bench.compare import compare
from palette_bench.runconfig import resolve
from runfolders import write_eval


def report(runs, out, *args):
    res = CliRunner().invoke(main, ["report", "--runs", str(runs), "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    return res.output


def test_task_table_is_exactly_the_expected_one(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    write_eval(runs, "p", {"fid": 5.0, "is": 100.0, "ca_top1": 0.5, "pd": 20.0, "lpips": 0.3, "div_msssim": 0.4, "div_lpips": 0.2})
    write_eval(runs, "r", {"fid": 8.0, "is": 90.0, "ca_top1": 0.6, "pd": 30.0, "lpips": 0.2}, method="regression")
    write_eval(runs, "c", {"fid": 12.0, "ca_top1": 0.1, "pd": 40.0, "lpips": 0.25}, method="classical")
    report(runs, out, "--format", "csv,md")
    got = pd.read_csv(out / "uncropping.csv")
    metrics = ["fid", "is", "ca_top1_pct", "pd", "lpips", "div_msssim", "div_lpips"]
    assert list(got.columns) == (
        ["task", "eval_set", "method", "variant", "seed", "row"]
        + [f"{m}{s}" for m in metrics for s in ("", "_lo", "_hi", "_sd", "_best", "_sig")]
        + ["n", "samples_per_input", "diversity_inputs", "run", "eval_dir"]
    )
    nan = np.nan
    expected = pd.DataFrame({
        "variant": ["palette", "regression", "classical"],
        "seed": [0, 0, 0],
        "row": ["seed"] * 3,
        "fid": [5.0, 8.0, 12.0], "fid_lo": [4.5, 7.2, 10.8], "fid_hi": [5.5, 8.8, 13.2], "fid_best": [True, False, False],
        "is": [100.0, 90.0, nan], "is_best": [True, False, False],
        "ca_top1_pct": [50.0, 60.0, 10.0], "ca_top1_pct_lo": [45.0, 54.0, 9.0], "ca_top1_pct_best": [False, True, False],
        "pd": [20.0, 30.0, 40.0], "pd_best": [True, False, False],
        "lpips": [0.3, 0.2, 0.25], "lpips_best": [False, True, False],
        "div_msssim": [0.4, nan, nan], "div_msssim_best": [False, False, False],  # one value: nothing to be best among
        "run": [str(runs / "p"), str(runs / "r"), str(runs / "c")],
        "eval_dir": [str(runs / "p/eval/right-ddim3"), str(runs / "r/eval/right"), str(runs / "c/eval/right")],
    })
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    # no eval_arrays.npz: the best values are marked, their significance is not tested, and the footer says why
    assert list(got["fid_sig"].fillna("")) == ["not tested", "", ""]
    md = (out / "uncropping.md").read_text()
    assert "Significance not tested: fid, is, pd on right (palette vs regression): " in md and "no eval_arrays.npz beside it" in md
    rows = [line for line in md.splitlines() if line.startswith("| right")]
    assert rows[0].split("|")[4].strip() == "**5.00** [4.50, 5.50]"
    assert rows[2].split("|")[5].strip() == ""  # classical has no IS: an empty cell
    assert rows[1].split("|")[9].strip() == "" and rows[1].split("|")[10].strip() == ""  # nor regression diversity


def test_metrics_beyond_the_paper_are_a_second_table_after_the_papers(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    write_eval(runs, "p", {"fid": 5.0, "pd": 20.0, "swd": 30.0, "precision": 0.8, "coverage": 0.7})
    write_eval(runs, "r", {"fid": 8.0, "pd": 30.0, "swd": 60.0, "precision": 0.9, "coverage": 0.5}, method="regression")
    report(runs, out, "--format", "csv,md,tex")
    paper = pd.read_csv(out / "uncropping.csv")
    beyond = pd.read_csv(out / "uncropping-beyond.csv")
    assert "swd" not in paper.columns and "fid" not in beyond.columns  # the paper's columns stay as they were
    assert [c for c in beyond.columns if c in ("precision", "coverage", "swd")] == ["precision", "coverage", "swd"]  # MODERN order
    assert list(beyond["swd_best"]) == [True, False] and list(beyond["precision_best"]) == [False, True]
    md = (out / "uncropping.md").read_text()
    beyond_md = (out / "uncropping-beyond.md").read_text()
    assert "metrics beyond the paper" in beyond_md and "SWD ↓" in beyond_md and "Precision ↑" in beyond_md and "SWD" not in md
    document = (out / "all.tex").read_text()  # the second block follows the paper's table
    assert document.index("\\input{uncropping}") < document.index("\\input{uncropping-beyond}")


def test_significance_comes_from_the_paired_comparison(tmp_path):
    """PD: Palette lower by 1 on every input, inside a wide spread: significant. LPIPS: a hair lower, with noise: not."""
    runs, out = tmp_path / "runs", tmp_path / "results"
    rng = np.random.default_rng(0)
    base, wiggle = rng.uniform(10, 50, 50), 0.1 * (-1.0) ** np.arange(50)
    lp = rng.uniform(0.2, 0.6, 50)
    write_eval(runs, "p", {"fid": 5.0, "pd": base - 1 + 0.1 * rng.normal(size=50), "lpips": lp + wiggle - 1e-4})
    write_eval(runs, "r", {"fid": 6.0, "pd": base, "lpips": lp - wiggle}, method="regression")
    report(runs, out, "--format", "csv")
    got = pd.read_csv(out / "uncropping.csv")
    p = got[got["method"] == "palette"].iloc[0]
    assert p["pd_best"] and p["pd_sig"] == "yes"
    assert p["lpips_best"] and p["lpips_sig"] == "no"
    assert p["fid_best"] and p["fid_sig"] == "not tested"  # FID needs the cached reference features, which are not there
    assert not got[got["method"] == "regression"][["pd_best", "lpips_best", "fid_best"]].to_numpy().any()
    r = got[got["method"] == "regression"].iloc[0]
    assert p["pd_hi"] > r["pd_lo"]  # its own interval overlaps regression's: only pairing decides


def test_protocols_and_feature_spaces_are_never_mixed(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    write_eval(runs, "a", {"fid": 5.0})
    write_eval(runs, "b", {"fid": 6.0}, method="regression", protocol="other", overrides=['protocol="other.toml"'])
    write_eval(runs, "c", {"fid": 7.0}, method="classical", space="inception", sha="f" * 64)
    output = report(runs, out, "--format", "csv,md")
    stems = ["uncropping-builtin-32px-judge", "uncropping-builtin-32px-inception", "uncropping-other-32px-judge"]
    assert sorted(p.name for p in out.glob("*.csv")) == sorted(f"{s}.csv" for s in stems)
    assert not (out / "uncropping.csv").exists()
    for stem, method in zip(stems, ["palette", "classical", "regression"]):
        assert list(pd.read_csv(out / f"{stem}.csv")["method"]) == [method]
        md = (out / f"{stem}.md").read_text()
        assert "the runs differ in protocol and feature space" in md and "not comparable" in md
    assert "uncropping: the runs differ in protocol and feature space" in output


def test_two_runs_claiming_one_cell_are_an_error_naming_both(tmp_path):
    runs = tmp_path / "runs"
    write_eval(runs, "first", {"fid": 5.0})
    write_eval(runs, "second", {"fid": 5.5})
    write_eval(runs, "third", {"fid": 5.5}, seed=1)  # another seed is another cell
    res = CliRunner().invoke(main, ["report", "--runs", str(runs), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1 and str(runs / "first") in res.output and str(runs / "second") in res.output


def test_seeds_are_one_method_with_a_mean_and_sd_row(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    for seed, fid in enumerate([4.0, 5.0, 6.0]):
        write_eval(runs, f"p{seed}", {"fid": fid, "pd": 10.0 + seed}, seed=seed)
    write_eval(runs, "r", {"fid": 5.5, "pd": 20.0}, method="regression")
    report(runs, out, "--format", "csv,md")
    got = pd.read_csv(out / "uncropping.csv")
    assert list(got["variant"]) == ["palette"] * 4 + ["regression"]
    assert list(got["row"]) == ["seed"] * 3 + ["mean ± sd over 3 seeds", "seed"]
    assert list(got["seed"].iloc[:3]) == [0, 1, 2] and pd.isna(got["seed"].iloc[3])
    mean = got.iloc[3]
    assert mean["fid"] == pytest.approx(5.0) and mean["fid_sd"] == pytest.approx(1.0) and pd.isna(mean["fid_lo"])
    assert mean["fid_best"] and mean["fid_sig"] == "not tested" and not got["fid_best"].iloc[:3].any()
    assert mean["run"] == "; ".join(str(runs / f"p{s}") for s in range(3))
    md = (out / "uncropping.md").read_text()
    assert "| mean ± sd over 3 seeds | **5.00** ± 1.00" in md and "Seeds: 0, 1, 2" in md


def test_ablation_tables_appear_only_for_runs_that_differ_in_exactly_that_key(tmp_path):
    from palette_bench.models.unet import model_summary

    runs, out = tmp_path / "runs", tmp_path / "results"
    write_eval(runs, "l2", {"fid": 5.0, "pd": 20.0, "div_lpips": 0.3, "is": 10.0, "ca_top1": 0.5})
    write_eval(runs, "l1", {"fid": 5.1, "pd": 19.0, "div_lpips": 0.2}, overrides=['diffusion.loss="l1"'])
    write_eval(runs, "local", {"fid": 6.0, "pd": 25.0, "is": 9.0, "ca_top1": 0.4}, overrides=['model.attention="local"'], seed=3)
    write_eval(runs, "l1-lr", {"fid": 5.2}, overrides=['diffusion.loss="l1"', "train.lr=0.001"])  # two keys: no pair
    report(runs, out, "--format", "csv,md")
    assert sorted(p.name for p in out.glob("*.csv")) == ["uncropping-attention.csv", "uncropping-l1-vs-l2.csv", "uncropping.csv"]
    loss = pd.read_csv(out / "uncropping-l1-vs-l2.csv")
    assert list(loss["variant"]) == ["l1", "l2"] and list(loss["fid"]) == [5.1, 5.0]
    assert [c for c in loss.columns if c.endswith("_best")] == ["fid_best", "pd_best", "div_msssim_best", "div_lpips_best"]
    assert list(loss["pd_best"]) == [True, False] and list(loss["div_lpips_best"]) == [False, True]
    attention = pd.read_csv(out / "uncropping-attention.csv")
    assert list(attention["variant"]) == ["global", "local"]  # seeds 0 and 3: replicates, not a difference
    expected = [model_summary(resolve("uncropping", "smoke", [f'model.attention="{a}"']).model)["parameters"] for a in ("global", "local")]
    assert list(attention["parameters"]) == expected
    header = next(line for line in (out / "uncropping-attention.md").read_text().splitlines() if line.startswith("| eval set"))
    assert [h.strip() for h in header.split("|")[1:-1]] == ["eval set", "attention", "seed", "parameters", "FID - default (paired)", "FID ↓", "IS ↑", "PD ↓", "CA (%) ↑"]
    # global (seed 0) and local (seed 3) are not the same seed: no paired difference is claimed
    assert list(attention["FID - default (paired)"].fillna("")) == ["default", ""]
    labels = list(pd.read_csv(out / "uncropping.csv")["variant"])  # l1 and local are in their study tables
    assert labels == ["palette (diffusion.loss=l1, train.lr=0.001)", "palette (diffusion.loss=l2, train.lr=0.0001)"]

    alone = tmp_path / "alone"
    write_eval(alone, "l2", {"fid": 5.0})
    write_eval(alone, "l1-lr", {"fid": 5.2}, overrides=['diffusion.loss="l1"', "train.lr=0.001"])
    write_eval(alone, "reg-l1", {"fid": 5.2}, method="regression", overrides=['regression.loss="l1"'])
    report(alone, tmp_path / "alone-out", "--format", "csv")
    assert [p.name for p in (tmp_path / "alone-out").glob("*.csv")] == ["uncropping.csv"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended)")
def test_latex_compiles_with_pdflatex(tmp_path):
    runs, out = tmp_path / "runs_with_underscores", tmp_path / "results"
    for seed in (0, 1):
        write_eval(runs, f"p_{seed}", {"fid": 5.0 + seed, "ca_top1": 0.5, "div_lpips": 0.2}, seed=seed)
    write_eval(runs, "r", {"fid": 8.0, "ca_top1": 0.6}, method="regression")
    write_eval(runs, "l1", {"fid": 5.8}, overrides=['diffusion.loss="l1"'])
    report(runs, out, "--format", "tex")
    assert sorted(p.name for p in out.iterdir()) == ["all.tex", "uncropping-l1-vs-l2.tex", "uncropping.tex"]
    tex = (out / "uncropping.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and r"\textbf{5.50} $\pm$ 0.71" in tex
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "all.tex"], cwd=out, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (out / "all.pdf").stat().st_size > 0
    assert "usepackage" not in tex and [line for line in (out / "all.tex").read_text().splitlines() if "usepackage" in line] == [r"\usepackage{booktabs}"]


def test_smoke_runs_end_to_end(tmp_path, small):
    """Real run folders: Palette and the classical fill, a sampling study beside them; the report regenerates byte for byte."""
    runs, out = tmp_path / "runs", tmp_path / "results"
    r = CliRunner()
    for method in ("palette", "classical"):
        res = r.invoke(main, ["run", "--task", "uncropping", "--method", method, "--preset", "smoke", "--protocol", small, "--runs-root", str(runs)])
        assert res.exit_code == 0, res.output
    palette = runs / "small-builtin-uncropping-palette-smoke"
    res = r.invoke(main, ["run", "--task", "uncropping", "--preset", "smoke", "--protocol", small, "--run-dir", str(palette), "--steps", "2"])  # a sampling study
    assert res.exit_code == 0, res.output
    output = report(runs, out)
    assert "not in the task tables: 1 evaluation folder, sampled with other settings than the run's" in output
    got = pd.read_csv(out / "uncropping.csv")
    assert list(got["variant"]) == ["palette", "classical"] and list(got["eval_dir"]) == [str(palette / "eval/right-ddim3"), str(runs / "small-builtin-uncropping-classical-smoke/eval/right")]
    # real arrays and cached reference: one best per column, tested, its mark compare's verdict on best - runner-up
    for m in ("pd", "fid"):
        best, other = got[got[f"{m}_best"]], got[~got[f"{m}_best"]]
        assert len(best) == 1 and len(other) == 1, m
        c = compare(best["eval_dir"].iloc[0], other["eval_dir"].iloc[0], (m,))["metrics"][m]
        assert best[f"{m}_sig"].iloc[0] == ("yes" if c["verdict"] == "A better" else "no") and other[f"{m}_sig"].isna().all(), m
    md = (out / "uncropping.md").read_text()
    assert "the builtin judge (weights sha256" in md and "palette: predicts eps; ddim sampler, 3 steps, paper schedule; departs from the paper's recipe in train.warmup_steps = 2 (paper: 10000)," in md
    assert "Made by palette-bench" in md and "commit" in md
    assert (out / "uncropping-samples.png").stat().st_size > 0
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"}
    report(runs, out, "--format", "csv,tex,md")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"} == first


def test_rows_follow_the_tasks_sets_best_is_per_set_and_studies_are_left_out(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    for q, fid in (("q20", 3.0), ("q5", 8.0), ("q10", 5.0)):
        ev = write_eval(runs, "p", {"fid": fid}, task="jpeg", eval_set=q)
    write_eval(runs, "p", {"fid": 1.0}, task="jpeg", eval_set="q10", overrides=["sample.steps=2"])  # another sampler setting
    shutil.copytree(ev, ev.with_name(ev.name + "-step600"))  # a learning-curve point of q10
    for q, fid in (("q5", 9.0), ("q10", 4.0), ("q20", 2.0)):
        write_eval(runs, "r", {"fid": fid}, task="jpeg", eval_set=q, method="regression")
    output = report(runs, out, "--format", "csv,tex")
    assert "not in the task tables: 1 evaluation folder, a study's evaluation" in output
    assert "not in the task tables: 1 evaluation folder, sampled with other settings than the run's" in output
    got = pd.read_csv(out / "jpeg.csv")
    assert list(got["eval_set"]) == ["q5", "q5", "q10", "q10", "q20", "q20"]
    assert list(got["method"]) == ["palette", "regression"] * 3
    assert list(got["fid"]) == [8.0, 9.0, 5.0, 4.0, 3.0, 2.0]
    assert list(got["fid_best"]) == [True, False, False, True, False, True]
    assert (out / "jpeg.tex").read_text().count(r"\midrule") == 3  # under the header and between the three sets


def test_footer_names_protocol_features_inputs_seeds_sampler_and_version(tmp_path):
    import importlib.metadata

    runs, out = tmp_path / "runs", tmp_path / "results"
    write_eval(runs, "v", {"fid": 5.0}, overrides=['diffusion.parameterization="v"', 'sample.schedule="logsnr"', "sample.diversity_n=20"], space="inception", sha="ab" * 32)
    write_eval(runs, "r", {"fid": 6.0}, method="regression", space="inception", sha="ab" * 32, verified=False)
    report(runs, out, "--format", "md")
    md = (out / "uncropping.md").read_text()
    footer = [line[2:] for line in md.splitlines() if line.startswith("- ")]
    assert footer[0] == "Protocol: builtin, 32 px; evaluation sets: right."
    assert footer[1] == "Feature space: Inception (weights sha256 abababababab). UNVERIFIED weights: some weights files did not match their sha256."
    assert footer[2] == "Inputs: n=50; palette: 2 samples per input (diversity on the first 20); regression: 1 sample per input."
    assert footer[3] == "Seeds: 0."
    assert footer[4] == (
        "palette: predicts v; ddim sampler, 3 steps, logsnr schedule; departs from the paper's recipe in train.warmup_steps = 2 (paper: 10000), "
        'train.ema_decay = 0.5 (paper: 0.9999), diffusion.parameterization = "v" (paper: "eps"), sample.sampler = "ddim" (paper: "ancestral"), '
        'sample.steps = 3 (paper: 1000), sample.schedule = "logsnr" (paper: "paper").'
    )
    assert footer[-1].startswith(f"Made by palette-bench {importlib.metadata.version('palette-bench')}, commit ")


def test_multitask_table_pairs_each_multi_task_evaluation_with_the_task_specific_one(tmp_path):
    """Table 7 layout: multi-task rows under the same config's task-specific rows, the FID difference compare's own."""
    from palette_bench.io import atomic_write_npz
    from palette_bench.metrics.fid import FrechetToReference, statistics
    from palette_bench.metrics.reference import cache_root

    runs, out = tmp_path / "runs", tmp_path / "results"
    rng = np.random.default_rng(0)
    mu, sigma = statistics(rng.normal(size=(300, 6)))
    atomic_write_npz(cache_root() / "reference" / f"{'c' * 64}.npz", mu=mu, sigma=sigma)  # the cache key write_eval records
    fid = FrechetToReference(mu, sigma)
    base = rng.normal(size=(50, 6))

    def evaluation(name, task, eval_set, shift, method="palette"):
        pool = base + shift + 0.05 * rng.normal(size=base.shape)
        ev = write_eval(runs, name, {"fid": fid(pool), "pd": 10 + shift + 0 * base[:, 0]}, task=task, eval_set=eval_set, method=method)
        with np.load(ev / "eval_arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
        np.savez(ev / "eval_arrays.npz", **arrays, pool=pool, logits=np.zeros((50, 4)))
        return ev

    evaluation("jpeg", "jpeg", "q5", 0.6)
    evaluation("multi", "multi", "q5", 0.3)
    evaluation("inpainting", "inpainting", "center", 0.2)
    evaluation("multi", "multi", "center", 0.25)
    evaluation("jpeg-regression", "jpeg", "q5", 0.1, method="regression")  # another method: not a counterpart
    write_eval(runs, "inpainting", {"fid": 9.0}, task="inpainting")  # the inpainting model's own set: Table 2 only
    write_eval(runs, "multi", {"fid": 2.0}, task="multi", eval_set="gray")  # no colorization model: rows without a difference
    output = report(runs, out, "--format", "csv,md,tex")
    assert sorted(p.name for p in out.glob("*.csv")) == ["inpainting.csv", "jpeg.csv", "multitask.csv"]
    for task in ("inpainting", "jpeg"):  # Tables 2 and 4 hold their task's models only
        assert set(pd.read_csv(out / f"{task}.csv")["task"]) == {task}
    got = pd.read_csv(out / "multitask.csv")
    assert list(got["eval_set"]) == ["q5", "q5", "center", "center", "gray"]
    assert list(got["variant"]) == ["task-specific", "multi-task", "task-specific", "multi-task", "multi-task"]
    assert list(got["task"]) == ["jpeg", "multi", "inpainting", "multi", "multi"] and set(got["method"]) == {"palette"}
    for i in (1, 3):
        c = compare(got.loc[i, "eval_dir"], got.loc[i - 1, "eval_dir"], ("fid",))["metrics"]["fid"]
        assert got.loc[i, "fid_diff"] == pytest.approx(c["difference"], rel=1e-12)
        assert (got.loc[i, "fid_diff_lo"], got.loc[i, "fid_diff_hi"]) == pytest.approx(tuple(c["ci95"]), rel=1e-12)
        assert got.loc[i, "fid_diff"] == pytest.approx(got.loc[i, "fid"] - got.loc[i - 1, "fid"], rel=1e-9)
        # the best FID's paired significance and the difference's verdict are the same comparison
        best_multi = got.loc[i, "fid_best"]
        assert got.loc[i - int(not best_multi), "fid_sig"] == ("yes" if got.loc[i, "fid_diff_verdict"] != "cannot decide" else "no")
    assert got.loc[1, "fid_diff_verdict"] == "multi-task better" and got.loc[1, "fid_sig"] == "yes"  # 0.3 from the reference's mean instead of 0.6
    assert got.loc[[0, 2, 4], "fid_diff"].isna().all()
    md = (out / "multitask.md").read_text()
    assert "### Multi-task vs task-specific models (paper Table 7 layout): builtin at 32 px" in md
    header = next(line for line in md.splitlines() if line.startswith("| eval set"))
    assert [h.strip() for h in header.split("|")[1:-1]] == ["eval set", "model", "seed", "FID ↓", "IS ↑", "CA (%) ↑", "PD ↓", "LPIPS ↓", "multi - specialist FID (paired)"]
    q5 = [line for line in md.splitlines() if line.startswith("| q5 ")]
    assert q5[0].split("|")[-2].strip() == "" and q5[1].split("|")[-2].strip().endswith("multi-task better")
    assert "Paper Table 7 (ImageNet ctest10k, 256 px)" in md and "Made by palette-bench" in md.splitlines()[-1]
    # each shown FID interval's replicate count and Monte-Carlo error, as compare chose and measured them
    q5 = compare(got.loc[1, "eval_dir"], got.loc[0, "eval_dir"], ("fid",))["metrics"]["fid"]
    line = next(line for line in md.splitlines() if line.startswith("- Paired FID intervals, their replicates and the Monte-Carlo standard error"))
    width = q5["ci95"][1] - q5["ci95"][0]
    assert f"q5, multi - specialist: {q5['replicates']} replicates, {max(q5['mc_se']):.2g} ({max(q5['mc_se']) / width:.1%} of the interval's width)" in line
    assert r"\begin{tabular}{lllrrrrrl}" in (out / "multitask.tex").read_text()
    assert "skipped" not in output and "not in the task tables" not in output


def test_runs_over_different_numbers_of_inputs_get_separate_tables(tmp_path):
    """FID rises as n falls: a run scored on 50 inputs is not ranked against one scored on 500."""
    runs, out = tmp_path / "runs", tmp_path / "results"
    write_eval(runs, "p", {"fid": 5.0, "pd": 20.0}, overrides=["sample.n=50"], n=50)
    write_eval(runs, "r", {"fid": 8.0, "pd": 30.0}, method="regression", overrides=["sample.n=500"], n=500)
    output = report(runs, out, "--format", "csv,md")
    stems = ["uncropping-builtin-32px-judge-n50", "uncropping-builtin-32px-judge-n500"]
    assert sorted(p.name for p in out.glob("*.csv")) == [f"{s}.csv" for s in stems]
    for stem, method, n in zip(stems, ["palette", "regression"], [50, 500]):
        got = pd.read_csv(out / f"{stem}.csv")
        assert list(got["method"]) == [method] and list(got["n"]) == [n] and not got["fid_best"].any()
        md = (out / f"{stem}.md").read_text()
        assert f"builtin at 32 px in judge features (weights 3b9f0000), n={n}, reference cccccccc" in md.splitlines()[0]
    assert "uncropping: the runs differ in number of inputs" in output


def test_runs_scored_against_another_reference_of_the_same_protocol_name_get_separate_tables(tmp_path):
    """Two protocol files named "builtin" whose reference sets differ: their cache keys differ, and so do their tables."""
    runs, out = tmp_path / "runs", tmp_path / "results"
    write_eval(runs, "p", {"fid": 5.0})
    other = write_eval(runs, "r", {"fid": 8.0}, method="regression")
    result = json.loads((other / "metrics.json").read_text())
    result["reference"]["cache_key"] = "d" * 64
    (other / "metrics.json").write_text(json.dumps(result))
    output = report(runs, out, "--format", "csv,md")
    stems = ["uncropping-builtin-32px-judge-refcccccccc", "uncropping-builtin-32px-judge-refdddddddd"]
    assert sorted(p.name for p in out.glob("*.csv")) == [f"{s}.csv" for s in stems]
    for stem, method in zip(stems, ["palette", "regression"]):
        got = pd.read_csv(out / f"{stem}.csv")
        assert list(got["method"]) == [method] and not got["fid_best"].any()
    assert "uncropping: the runs differ in reference set" in output


def test_a_reference_statistics_file_is_known_by_its_content(tmp_path):
    """--ref-stats evaluations have no cache key, only the file's path: the same path with other contents is another reference."""
    from palette_bench.report.collect import collect

    runs, stats = tmp_path / "runs", tmp_path / "stats.npz"
    np.savez(stats, mu=np.zeros(4), sigma=np.eye(4))
    for name, method in (("p", "palette"), ("r", "regression")):
        ev = write_eval(runs, name, {"fid": 5.0}, method=method)
        result = json.loads((ev / "metrics.json").read_text())
        result["reference"] = {"source": str(stats), "cache_key": "", "n": None}
        (ev / "metrics.json").write_text(json.dumps(result))
    first = {e.reference for e in collect(runs).evaluations}
    assert len(first) == 1
    np.savez(stats, mu=np.ones(4), sigma=np.eye(4))
    assert {e.reference for e in collect(runs).evaluations}.isdisjoint(first)


def test_a_task_table_and_figure_show_each_methods_default_run_and_leave_the_variants_to_the_study_tables(tmp_path):
    from palette_bench.report.build import build

    runs = tmp_path / "runs"
    write_eval(runs, "p", {"fid": 5.0}, task="inpainting")
    write_eval(runs, "p-l1", {"fid": 6.0}, task="inpainting", overrides=['diffusion.loss="l1"'])
    write_eval(runs, "p-local", {"fid": 7.0}, task="inpainting", overrides=['model.attention="local"'])
    write_eval(runs, "r", {"fid": 8.0}, task="inpainting", method="regression")
    write_eval(runs, "p-lr", {"fid": 9.0}, task="inpainting", overrides=["train.lr=0.001"])  # in no study table
    report = build(runs)
    table = next(t for t in report.tables if t.stem == "inpainting")
    assert sorted(Path(d).parent.parent.name for d in table.frame["eval_dir"]) == ["p", "p-lr", "r"]  # the variants are rows of their study tables only
    assert "Study variants in their own tables: inpainting-l1-vs-l2 (1 run), inpainting-attention (1 run)." in table.footer
    assert sorted(e.eval_dir.parent.parent.name for e, _ in report.figures["inpainting"]) == ["p", "p-lr", "r"]
    studies = {t.stem: t for t in report.tables}
    assert len(studies["inpainting-l1-vs-l2"].frame) == 2 and len(studies["inpainting-attention"].frame) == 2
