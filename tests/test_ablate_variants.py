"""`palette-bench ablate loss` and `ablate attention` at smoke size: variants differ only in the ablated key."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from palette_bench.ablations.pairwise import pairwise_msssim
from palette_bench.ablations.variants import STUDIES, check_plan, differing_keys, plan
from palette_bench.cli import main
from palette_bench.compare import compare
from palette_bench.metrics.msssim import ms_ssim
from palette_bench.run import run_dir_for
from palette_bench.runconfig import resolve


@pytest.mark.parametrize("name", ["loss", "attention"])
def test_variants_differ_only_in_the_ablated_key(name):
    study = STUDIES[name]
    cfgs = plan(study, "inpainting", "cpu", ["train.steps=50", f"{study.key}={study.values[-1]}"])
    assert [c for c in cfgs] and len(cfgs) == len(study.values)
    for cfg in cfgs[1:]:
        assert differing_keys(cfgs[0], cfg) == [study.key]
    # the default variant is the run `palette-bench run` makes with the same overrides
    assert cfgs[0] == resolve("inpainting", "cpu", ["train.steps=50"], method="palette")
    # a plan whose variants differ in anything else is refused, naming the key
    bad = cfgs[:1] + [replace(cfgs[1], seed=1)]
    with pytest.raises(ValueError, match="seed"):
        check_plan(study, bad)


def test_default_variant_shares_the_run_folder_of_run(tmp_path):
    cfgs = plan(STUDIES["loss"], "inpainting", "cpu")
    assert run_dir_for(cfgs[0], tmp_path) == run_dir_for(resolve("inpainting", "cpu", method="palette"), tmp_path)
    assert run_dir_for(cfgs[1], tmp_path) != run_dir_for(cfgs[0], tmp_path)


def _invoke(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return res


def test_ablate_loss_end_to_end(tmp_path, small):
    out = tmp_path / "study"
    args = ["ablate", "loss", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--set", "sample.samples_per_input=3",
            "--runs-root", str(tmp_path / "runs"), "--out", str(out)]
    _invoke(args)
    table = pd.read_csv(out / "loss.csv")
    assert list(table["loss"]) == ["l2", "l1"]
    configs = [json.loads((pd.io.common.Path(r) / "config.json").read_text()) for r in table["run"]]
    assert [c["diffusion"]["loss"] for c in configs] == ["l2", "l1"]
    # each difference is compare's paired comparison of the same two evaluation folders
    c = compare(table.loc[1, "eval_dir"], table.loc[0, "eval_dir"], ("fid", "div_lpips"))["metrics"]
    for m in ("fid", "div_lpips"):
        assert table.loc[1, f"{m}_vs_default"] == pytest.approx(c[m]["difference"])
        assert table.loc[1, f"{m}_vs_default_lo"] == pytest.approx(c[m]["ci95"][0])
    assert np.isnan(table.loc[0, "fid_vs_default"])
    assert "Table 6" in (out / "loss.md").read_text()
    assert Image.open(out / "msssim-histogram.png").size[0] > 300
    # the histogram holds every pair of every input: n inputs x 3 choose 2
    pairs = pairwise_msssim(table.loc[0, "eval_dir"])
    assert len(pairs) == int(table.loc[0, "diversity_inputs"]) * 3
    # report finds the two runs: the Table 6 layout and Figure 8's histogram
    _invoke(["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--format", "csv,png"])
    rep = pd.read_csv(next((tmp_path / "report").glob("*l1-vs-l2.csv")))
    assert sorted(rep["variant"]) == ["l1", "l2"]
    assert [p.name for p in (tmp_path / "report").glob("*-msssim-histogram.png")] == [next((tmp_path / "report").glob("*l1-vs-l2.csv")).stem + "-msssim-histogram.png"]
    # rerunning recomputes nothing
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/eval/*/metrics.json")}
    _invoke(args)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_pairwise_msssim_matches_ms_ssim_on_the_files(tmp_path, small):
    _invoke(["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path),
             "--set", "sample.samples_per_input=3"])
    ev = next(tmp_path.glob("*/eval/*"))
    got = pairwise_msssim(ev)
    import torch

    load = lambda i, k: torch.from_numpy(np.asarray(Image.open(ev / "samples" / (f"{i:06d}.png" if k == 0 else f"{i:06d}_{k}.png")).convert("RGB")).copy()).permute(2, 0, 1)[None]  # noqa: E731
    # first pairs are (0, 1) for the first inputs, in evaluation order
    assert got[0] == pytest.approx(float(ms_ssim(load(0, 0), load(0, 1))[0]))
    assert got[1] == pytest.approx(float(ms_ssim(load(1, 0), load(1, 1))[0]))


def test_ablate_attention_end_to_end_with_parameters(tmp_path, small):
    out = tmp_path / "study"
    _invoke(["ablate", "attention", "--preset", "smoke", "--protocol", small, "--values", "dilated,more-resblocks",
             "--runs-root", str(tmp_path / "runs"), "--out", str(out)])
    table = pd.read_csv(out / "attention.csv")
    assert list(table["attention"]) == ["global", "dilated", "more-resblocks"]  # the default is always first
    from palette_bench.models.unet import model_summary

    for row in table.itertuples():
        cfg = resolve("inpainting", "smoke", [f"model.attention={row.attention}"], method="palette", protocol=small)
        assert row.parameters == model_summary(cfg.model)["parameters"]
    assert table["parameters"].nunique() == 3
    assert {"fid_vs_default", "ca_top1_vs_default", "is_vs_default", "pd_vs_default"} <= set(table.columns)
    # report finds the same runs and tabulates them in the Table 5 layout
    _invoke(["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--format", "csv"])
    found = [p.name for p in (tmp_path / "report").glob("*attention*.csv")]
    assert found, sorted(p.name for p in (tmp_path / "report").iterdir())
    rep = pd.read_csv(tmp_path / "report" / found[0]).set_index("variant")
    assert sorted(rep.index) == sorted(table["attention"])
    # the report's paired difference from global attention is the study's
    for row in table.iloc[1:].itertuples():
        assert rep.loc[row.attention, "fid_vs_default"] == pytest.approx(row.fid_vs_default)
    assert rep.loc["global", "FID - default (paired)"] == "default"
