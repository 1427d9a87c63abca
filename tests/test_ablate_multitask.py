"""`palette-bench ablate multitask` at smoke size: the multi-task Palette and the task-specific ones, paired per set, resumable."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from palette_bench.ablations.multitask import PAIRED
from palette_bench.cli import main
from palette_bench.compare import compare
from palette_bench.figures import samples_figure


def test_ablate_multitask_table_pairs_each_set_with_its_task_specific_model_and_resumes(tmp_path, small):
    runs, out = tmp_path / "runs", tmp_path / "study"
    args = ["ablate", "multitask", "--preset", "smoke", "--protocol", small, "--runs-root", str(runs), "--sets", "center,gray", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    multi = runs / "small-builtin-multi-palette-smoke"
    specialists = {"center": runs / "small-builtin-inpainting-palette-smoke", "gray": runs / "small-builtin-colorization-palette-smoke"}
    assert sorted(p.name for p in runs.iterdir()) == sorted([multi.name, *(p.name for p in specialists.values())])
    assert sorted(p.name for p in (multi / "eval").iterdir()) == ["center-ddim3", "gray-ddim3"]
    # one multi-task training serves both sets, and its budget is a task-specific model's
    configs = {name: json.loads((folder / "config.json").read_text()) for name, folder in {"multi": multi, **specialists}.items()}
    for s in specialists:
        differ = sorted(k for k in configs["multi"] if configs["multi"][k] != configs[s][k])
        assert set(differ) <= {"task", "eval_set"} and "task" in differ

    table = pd.read_csv(out / "multitask.csv")
    assert list(table["eval_set"]) == ["center", "gray"] and list(table["task"]) == ["inpainting", "colorization"]
    assert (table["n"] == 4).all()
    for r in table.itertuples():
        m_dir, s_dir = multi / "eval" / f"{r.eval_set}-ddim3", specialists[r.eval_set] / "eval" / f"{r.eval_set}-ddim3"
        assert (r.multi_eval_dir, r.specialist_eval_dir) == (str(m_dir), str(s_dir))
        assert r.multi_fid == pytest.approx(json.loads((m_dir / "metrics.json").read_text())["metrics"]["fid"]["value"], rel=1e-12)
        assert r.specialist_fid == pytest.approx(json.loads((s_dir / "metrics.json").read_text())["metrics"]["fid"]["value"], rel=1e-12)
        c = compare(m_dir, s_dir, PAIRED)["metrics"]
        for name in PAIRED:  # the table's difference is compare's, interval included
            assert getattr(r, f"diff_{name}") == pytest.approx(c[name]["difference"], rel=1e-12)
            assert (getattr(r, f"diff_{name}_lo"), getattr(r, f"diff_{name}_hi")) == pytest.approx(tuple(c[name]["ci95"]), rel=1e-12)
        assert r.diff_fid == pytest.approx(r.multi_fid - r.specialist_fid, rel=1e-9)
    assert list(table["paper_fid_multi"]) == [6.8, 3.7] and list(table["paper_fid_specialist"]) == [6.6, 3.4]
    md = (out / "multitask.md").read_text()
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in md.splitlines() if line.startswith("| center") or line.startswith("| gray")]
    assert "paper Table 7 layout" in md and [r[2] for r in rows] == ["task-specific", "multi-task"] * 2
    assert rows[0][-3:] == ["", "", ""] and rows[1][-3].endswith(table["diff_fid_verdict"][0])
    summary = json.loads((out / "multitask.json").read_text())
    assert [s["eval_set"] for s in summary["sets"]] == ["center", "gray"] and summary["sets"][0]["fid_difference"] == pytest.approx(table["diff_fid"][0])

    # a sample figure sets the two models side by side on the same inputs
    assert samples_figure([multi / "eval" / "center-ddim3", specialists["center"] / "eval" / "center-ddim3"], tmp_path / "fig.png", n=2).stat().st_size > 0

    # resume: nothing finished is trained, sampled or evaluated again
    stamps = {p: p.stat().st_mtime_ns for p in runs.glob("*/eval/*/metrics.json")} | {p: p.stat().st_mtime_ns for p in runs.glob("*/checkpoints/*.pt")}
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


@pytest.mark.parametrize("extra,message", [
    (["--set", "task=jpeg"], "--set task=jpeg: ablate multitask sets task itself"),
    (["--sets", "center,right"], "--sets: right: choose from the multi-task model's sets q5, q10, q20, ff10-20, ff20-30, ff30-40, center, gray"),
    (["--protocol", "places10k", "--sets", "center,q5"], "protocol 'places10k' has no evaluation set 'q5' for task 'jpeg' (it has: none)"),
])
def test_refuses_what_it_sets_itself_and_sets_of_other_tasks_in_one_line(tmp_path, extra, message):
    res = CliRunner().invoke(main, ["ablate", "multitask", "--preset", "smoke", "--runs-root", str(tmp_path), *extra])
    assert res.exit_code == 2 and res.output.strip() == f"palette-bench: error: {message}"
    assert not any(tmp_path.iterdir())
