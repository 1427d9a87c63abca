"""`palette-bench ablate steps` at smoke size: one checkpoint, samplers x schedules x steps, resumable, tabulated."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from palette_bench.cli import main
from palette_bench.compare import compare


@pytest.fixture
def trained(tmp_path, small):
    args = ["run", "--method", "palette", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path)]
    res = CliRunner().invoke(main, args)  # the run's own evaluation: ddim, 3 steps, paper schedule
    assert res.exit_code == 0, res.output
    return tmp_path / "small-builtin-inpainting-palette-smoke"


def test_ablate_steps_table_plot_and_resume(tmp_path, trained):
    run_metrics = trained / "eval" / "ff20-30-ddim3" / "metrics.json"
    stamp = run_metrics.stat().st_mtime_ns
    args = ["ablate", "steps", "--run", str(trained), "--samplers", "ddim", "--schedules", "paper,logsnr", "--steps", "3,2", "--out", str(tmp_path / "study")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "study" / "steps.csv")
    got = list(zip(table["sampler"], table["schedule"], table["steps"]))
    assert got == [("ancestral", "paper", 1000), ("ddim", "paper", 3), ("ddim", "paper", 2), ("ddim", "logsnr", 3), ("ddim", "logsnr", 2)]
    assert (table["nfe"] == table["steps"]).all() and (table["n"] == 4).all()
    names = sorted(p.name for p in (trained / "eval").iterdir())
    assert names == ["ff20-30-ancestral1000", "ff20-30-ddim2", "ff20-30-ddim2-logsnr", "ff20-30-ddim3", "ff20-30-ddim3-logsnr"]
    # the run's own ddim-3 evaluation is one of the study's configurations: reused, not recomputed
    assert run_metrics.stat().st_mtime_ns == stamp
    # every row's difference is the paired comparison with the reference, and the reference's is 0
    assert table.loc[0, "fid_vs_ref"] == 0
    for row in table.iloc[1:].itertuples():
        c = compare(row.eval_dir, table.loc[0, "eval_dir"], ("fid",))["metrics"]["fid"]
        assert row.fid_vs_ref == pytest.approx(c["difference"]) and row.fid_vs_ref_hi == pytest.approx(c["ci95"][1])
        assert row.within_5pct == (row.fid_vs_ref_hi <= 0.05 * table.loc[0, "fid"])
        assert row.seconds_per_image > 0
    summary = json.loads((tmp_path / "study" / "steps.json").read_text())
    qualifying = table[table["within_5pct"]]
    assert (summary["fewest"] is None) == qualifying.empty
    if not qualifying.empty:
        assert summary["fewest"]["nfe"] == qualifying["nfe"].min()
    assert Image.open(tmp_path / "study" / "steps.png").size[0] > 300
    assert "within 5%" in (tmp_path / "study" / "steps.md").read_text()
    # resume: nothing finished is recomputed; a removed evaluation is redone alone
    stamps = {p: p.stat().st_mtime_ns for p in (trained / "eval").glob("*/metrics.json")}
    redo = trained / "eval" / "ff20-30-ddim2-logsnr" / "metrics.json"
    redo.unlink()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    for p, t in stamps.items():
        assert (p.stat().st_mtime_ns == t) == (p != redo), p


def test_ablate_steps_on_other_inputs_uses_its_own_folders(tmp_path, trained):
    res = CliRunner().invoke(main, ["ablate", "steps", "--run", str(trained), "--samplers", "ddim", "--schedules", "paper", "--steps", "3", "--n", "3", "--samples-per-input", "2", "--diversity-n", "1"])
    assert res.exit_code == 0, res.output
    folder = trained / "eval" / "ff20-30-ddim3-n3-div1x2"
    assert len(list((folder / "samples").glob("*.png"))) == 3 + 1
    m = json.loads((folder / "metrics.json").read_text())
    assert m["n"] == 3 and m["diversity_inputs"] == 1
    assert (trained / "ablate-steps" / "steps.csv").exists()
