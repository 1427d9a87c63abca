"""`palette-bench ablate multitask`: one Palette trained on three tasks against the task-specific Palettes (paper Table 7).

The multi-task model (task "multi", tasks/multi.py) is trained with the same preset and overrides
as each task-specific model, hence the same step budget, its examples drawn from JPEG restoration,
inpainting and colorization with probability 1/3 each. Both are ordinary `palette-bench run` folders
(the task-specific ones are those `palette-bench run --task T --method palette` makes), evaluated on
each listed set in eval/<set>-<sampler><steps>/; finished evaluations are skipped, so the study resumes.

The multi-task model is given exactly the task-specific model's inputs, so every metric's difference
multi - specialist is the paired bootstrap of compare.py, not a comparison of two separate intervals.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from palette_bench.ablations import metric_columns
from palette_bench.config import ConfigError
from palette_bench.io import atomic_write_bytes, atomic_write_json
from palette_bench.tasks import MULTI

SETS = ("q5", "center", "gray")  # Table 7's rows: JPEG quality 5, the 128x128 centre hole, colorization
METRICS = ("fid", "is", "ca_top1", "pd", "lpips")
PAIRED = ("fid", "ca_top1", "pd")  # multi - specialist with its paired 95% interval
# Table 7's FIDs (ImageNet ctest10k, 256 px): task-specific, multi-task
PAPER_FID = {"q5": (8.3, 7.0), "center": (6.6, 6.8), "gray": (3.4, 3.7)}
FIXED = ("task", "method", "eval_set")  # what the study sets itself: not for --set
VERDICTS = {"A better": "multi-task better", "B better": "task-specific better", "cannot decide": "cannot decide"}


def plan(preset: str, overrides=(), sets=SETS, protocol: str | None = None) -> list[tuple[str, object, object]]:
    """(set, the multi-task model's config, the task-specific model's config) for each evaluation set."""
    from palette_bench.protocols import load_protocol
    from palette_bench.runconfig import parse_override, resolve

    for text in overrides:
        key = ".".join(parse_override(text)[0])
        if key in FIXED:
            raise ConfigError(f"--set {text}: ablate multitask sets {key} itself")
    unknown = [s for s in sets if s not in MULTI.eval_sets]
    if unknown or not sets:
        raise ConfigError(f"--sets: {', '.join(unknown) or 'nothing'}: choose from the multi-task model's sets {', '.join(MULTI.eval_sets)}")
    multi = resolve(MULTI.name, preset, list(overrides), method="palette", protocol=protocol)
    spec = load_protocol(multi.protocol)
    for s in sets:  # a set the protocol lacks stops the study now, not after the first training
        spec.eval_set(MULTI.name, s)
    out = []
    for s in dict.fromkeys(sets):
        member = MULTI.for_setting(s).name
        out.append((s, replace(multi, eval_set=s), resolve(member, preset, list(overrides), method="palette", protocol=protocol, eval_set=s)))
    return out


def evaluated(cfg, runs_root: Path) -> Path:
    """The evaluation folder `palette-bench run` gives `cfg` under `runs_root`."""
    from palette_bench.run import eval_dir_for, run_dir_for

    return eval_dir_for(cfg, run_dir_for(cfg, runs_root))


def _number(v):
    """A float for JSON, None where there is none (NaN is not JSON)."""
    return None if v is None or pd.isna(v) else float(v)


def _prefixed(prefix: str, columns: dict) -> dict:
    return {f"{prefix}_{k}": v for k, v in columns.items()}


def row(eval_set: str, multi_dir: Path, specialist_dir: Path, replicates: int) -> dict:
    """One evaluation set: both models' metrics with their intervals, and multi - specialist paired on PAIRED."""
    from palette_bench.compare import compare

    m, s = (json.loads((d / "metrics.json").read_text()) for d in (multi_dir, specialist_dir))
    paired = compare(multi_dir, specialist_dir, PAIRED, replicates)
    nan = float("nan")
    paper = PAPER_FID.get(eval_set, (nan, nan))
    out = {"eval_set": eval_set, "task": MULTI.for_setting(eval_set).name, "n": m["n"]}
    out.update(_prefixed("specialist", metric_columns(s["metrics"], METRICS)))
    out.update(_prefixed("multi", metric_columns(m["metrics"], METRICS)))
    for name in PAIRED:
        c = paired["metrics"].get(name)
        lo, hi = c["ci95"] if c and c["ci95"] else (nan, nan)
        out.update({f"diff_{name}": c["difference"] if c else nan, f"diff_{name}_lo": lo, f"diff_{name}_hi": hi, f"diff_{name}_verdict": VERDICTS[c["verdict"]] if c else "not compared"})
    out.update(paper_fid_specialist=paper[0], paper_fid_multi=paper[1], specialist_eval_dir=str(specialist_dir), multi_eval_dir=str(multi_dir))
    return out


def ablate_multitask(
    preset: str = "cpu",
    overrides=(),
    sets=SETS,
    runs_root: str | Path = "runs",
    out: str | Path | None = None,
    protocol: str | None = None,
    root=None,
    progress: bool = True,
    weights_dir: str | None = None,
    allow_unverified_weights: bool = False,
    replicates: int | None = None,
) -> dict:
    """Train, sample and evaluate both models on every set (skipping what is done), then write multitask.csv/.md/.json.

    `out` defaults to <runs_root>/ablate-multitask; returns the summary written to multitask.json.
    """
    from palette_bench.compare import REPLICATES
    from palette_bench.run import STAGES, run

    runs_root = Path(runs_root)
    planned = plan(preset, overrides, sets, protocol)
    # the multi-task model first: its training serves every set
    todo = [(s, "multi-task", m) for s, m, _ in planned] + [(s, "task-specific", t) for s, _, t in planned]
    for s, who, cfg in todo:
        if not (evaluated(cfg, runs_root) / "metrics.json").exists():
            print(f"ablate multitask: {who} Palette ({cfg.task}) on {s} -> {evaluated(cfg, runs_root)}", flush=True)
            run(cfg, STAGES, runs_root=runs_root, root=root, progress=progress, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    table = pd.DataFrame([row(s, evaluated(m, runs_root), evaluated(t, runs_root), replicates or REPLICATES) for s, m, t in planned])
    first = planned[0][1]
    summary = {
        "multi_run": str(evaluated(first, runs_root).parent.parent),
        "protocol": first.protocol,
        "preset": preset,
        "overrides": list(overrides),
        "train_steps": first.train.steps,
        "replicates": replicates or REPLICATES,
        "sets": [
            {
                "eval_set": r["eval_set"],
                "task": r["task"],
                "n": int(r["n"]),
                "fid_specialist": _number(r["specialist_fid"]),
                "fid_multi": _number(r["multi_fid"]),
                "fid_difference": _number(r["diff_fid"]),
                "fid_difference_ci95": [_number(r["diff_fid_lo"]), _number(r["diff_fid_hi"])],
                "verdict": r["diff_fid_verdict"],
                "paper_fid_specialist": _number(r["paper_fid_specialist"]),
                "paper_fid_multi": _number(r["paper_fid_multi"]),
            }
            for r in table.to_dict("records")
        ],
    }
    write_outputs(table, summary, Path(out) if out else runs_root / "ablate-multitask")
    return summary


def _cell(v, lo=np.nan, hi=np.nan, d=2, scale=1.0) -> str:
    if pd.isna(v):
        return ""
    text = f"{v * scale:.{d}f}"
    return text if pd.isna(lo) else f"{text} [{lo * scale:.{d}f}, {hi * scale:.{d}f}]"


def markdown(table: pd.DataFrame, summary: dict) -> str:
    """Table 7's layout: per set the task-specific and the multi-task row, the paired differences on the multi-task row.

    Decimals follow the report's rule (three significant digits of a column's smallest value): judge FIDs are far below 1.
    """
    from palette_bench.report.render import decimals

    shown = {"fid": ("FID", 1.0), "is": ("IS", 1.0), "ca_top1": ("CA (%)", 100.0), "pd": ("PD", 1.0), "lpips": ("LPIPS", 1.0)}
    digits = {name: decimals(pd.concat([table[f"specialist_{name}"], table[f"multi_{name}"]]) * scale) for name, (_, scale) in shown.items()}
    digits.update({f"diff_{name}": decimals(table[f"diff_{name}"] * shown[name][1]) for name in PAIRED})
    lines = []
    for r in table.to_dict("records"):
        for who, prefix in (("task-specific", "specialist"), ("multi-task", "multi")):
            cells = {"eval set": r["eval_set"], "task": r["task"], "model": who}
            for name, (header, scale) in shown.items():
                cells[header] = _cell(r[f"{prefix}_{name}"], r[f"{prefix}_{name}_lo"], r[f"{prefix}_{name}_hi"], digits[name], scale)
            cells["paper FID"] = _cell(r[f"paper_fid_{prefix}"], d=1)
            for name in PAIRED:
                header, scale = shown[name]
                diff = f"{_cell(r[f'diff_{name}'], r[f'diff_{name}_lo'], r[f'diff_{name}_hi'], digits[f'diff_{name}'], scale)} {r[f'diff_{name}_verdict']}"
                cells[f"multi - specialist {header}"] = diff if who == "multi-task" else ""
            lines.append(cells)
    head = (
        f"Multi-task Palette (run `{summary['multi_run']}`) against task-specific Palettes (paper Table 7 layout): protocol "
        f"{summary['protocol']}, preset {summary['preset']}{' with ' + ' '.join(summary['overrides']) if summary['overrides'] else ''}, "
        f"{summary['train_steps']} training steps each. Both models are given the same inputs; [lo, hi] is the 95% bootstrap interval over "
        f"inputs, and the difference multi - specialist is paired ({summary['replicates']} replicates): a verdict only when its interval excludes 0. "
        "Paper FIDs: ImageNet ctest10k at 256 px.\n\n"
    )
    return head + pd.DataFrame(lines).to_markdown(index=False, disable_numparse=True) + "\n"


def write_outputs(table: pd.DataFrame, summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "multitask.csv", table.to_csv(index=False).encode())
    atomic_write_bytes(out / "multitask.md", markdown(table, summary).encode())
    atomic_write_json(out / "multitask.json", summary)
