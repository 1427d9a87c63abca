"""The tables as DataFrames of numbers: one row per method (or ablation value), evaluation set and seed.

Each metric has six columns: its value, the ends of its 95% interval (`_lo`, `_hi`), the standard
deviation over seeds (`_sd`, on "mean ± sd" rows only), whether it is the best of its column within
its evaluation set (`_best`) and, for the best, whether the paired comparison with the runner-up
shows it (`_sig`: yes, no or not tested). CA is in percent (`ca_top1_pct`), as in the paper.
A metric an evaluation lacks is NaN: an empty cell, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from palette_bench.report.best import mark_best
from palette_bench.report.collect import Evaluation
from palette_bench.report.group import REPLICATES, eval_set_rank, method_rank

TASK_METRICS = ("fid", "is", "ca_top1", "pd", "lpips", "div_msssim", "div_lpips")
# The second block: the metrics beyond the paper's (modern_metrics.py), in a table of their own after the paper's
MODERN_METRICS = ("fd_dinov2", "cmmd", "precision", "recall", "density", "coverage", "swd")
HEADERS = {
    "fid": "FID", "is": "IS", "ca_top1": "CA (%)", "pd": "PD", "lpips": "LPIPS", "div_msssim": "MS-SSIM div", "div_lpips": "LPIPS div", "kid": "KID",
    "fd_dinov2": "FD_DINOv2", "cmmd": "CMMD", "precision": "Precision", "recall": "Recall", "density": "Density", "coverage": "Coverage", "swd": "SWD",
}
SCALE = {"ca_top1": 100.0}  # the paper gives CA in percent
COLUMN = {"ca_top1": "ca_top1_pct"}
SEED_ROW = "seed"


def column(metric: str) -> str:
    """The metric's value column in the frame and the CSV."""
    return COLUMN.get(metric, metric)


def mean_row_name(seeds: int) -> str:
    return f"mean ± sd over {seeds} seeds"


@dataclass
class Table:
    """A table ready to render: the frame, what its columns are called, and what is said around it."""

    stem: str
    title: str
    frame: pd.DataFrame
    label: str  # header of the `variant` column ("method", "loss", "attention")
    metrics: tuple[str, ...]
    extra: tuple[str, ...] = ()  # further shown columns of the frame (e.g. "parameters")
    trailing: tuple[str, ...] = ()  # shown columns after the metrics (e.g. a paired difference)
    notes: list[str] = field(default_factory=list)  # shown above the table
    footer: list[str] = field(default_factory=list)  # shown under it


def _metric_cells(e: Evaluation, metric: str) -> dict:
    entry, scale, c = e.metric(metric), SCALE.get(metric, 1.0), column(metric)
    value = entry.get("value") if entry else None
    ok = value is not None and np.isfinite(value)
    ci = entry.get("ci95") if ok else None
    return {
        c: value * scale if ok else np.nan,
        f"{c}_lo": ci[0] * scale if ci else np.nan,
        f"{c}_hi": ci[1] * scale if ci else np.nan,
        f"{c}_sd": np.nan,
    }


def _row(e: Evaluation, label: str, metrics: tuple[str, ...], extra: dict) -> dict:
    row = {"task": e.cfg.task, "eval_set": e.cfg.eval_set, "method": e.cfg.method, "variant": label, "seed": e.cfg.seed, "row": SEED_ROW, **extra}
    for m in metrics:
        row.update(_metric_cells(e, m))
    row.update(n=int(e.result.get("n", 0)), samples_per_input=int(e.result.get("samples_per_input", 1)), diversity_inputs=e.diversity_inputs, run=str(e.run), eval_dir=str(e.eval_dir))
    return row


def _mean_row(rows: list[dict], metrics: tuple[str, ...], extra: tuple[str, ...]) -> dict:
    """Mean and sample standard deviation over seeds of each metric (over the seeds that have it); an extra
    value is kept where every seed has the same (a parameter count), else left empty (a per-seed comparison)."""
    out = {k: rows[0][k] for k in ("task", "eval_set", "method", "variant")}
    out.update({k: rows[0][k] if len({repr(r[k]) for r in rows}) == 1 else np.nan for k in extra})
    out.update(seed=pd.NA, row=mean_row_name(len(rows)))
    for m in metrics:
        c = column(m)
        v = np.array([r[c] for r in rows if np.isfinite(r[c])])
        out.update({c: v.mean() if len(v) else np.nan, f"{c}_lo": np.nan, f"{c}_hi": np.nan, f"{c}_sd": v.std(ddof=1) if len(v) > 1 else np.nan})
    for k in ("n", "samples_per_input", "diversity_inputs"):
        same = {r[k] for r in rows}
        out[k] = same.pop() if len(same) == 1 else np.nan
    out.update(run="; ".join(r["run"] for r in rows), eval_dir="; ".join(r["eval_dir"] for r in rows))
    return out


def build_frame(
    evaluations: list[Evaluation],
    label_of: Callable[[Evaluation], str],
    metrics: tuple[str, ...],
    extra_of: Callable[[Evaluation], dict] | None = None,
    order: Callable[[Evaluation], tuple] | None = None,
) -> tuple[pd.DataFrame, list[tuple]]:
    """The frame of `evaluations` with best values marked, and the significance tests of the best values (see best.mark_best).

    Rows: evaluation sets in the task's order; within a set, methods in registry order (then by
    name), seeds ascending, and a mean ± sd row after a method with several seeds. `order` replaces
    the sort key of a row's set and variant (a table of several tasks' rows has its own order).
    """
    variants: dict[tuple, list[Evaluation]] = {}
    for e in evaluations:
        variants.setdefault((e.cfg.eval_set, e.key(*REPLICATES)), []).append(e)
    order = order or (lambda e: (eval_set_rank(e.cfg.task, e.cfg.eval_set), method_rank(e), label_of(e)))
    rows = []
    for members in sorted(variants.values(), key=lambda g: order(g[0])):
        members = sorted(members, key=lambda e: e.cfg.seed)
        extras = [extra_of(e) if extra_of else {} for e in members]
        block = [_row(e, label_of(e), metrics, extra) for e, extra in zip(members, extras)]
        rows += block
        if len(block) > 1:
            rows.append(_mean_row(block, metrics, tuple(extras[0])))
    frame = pd.DataFrame(rows)
    frame["seed"] = frame["seed"].astype("Int64")
    tests = mark_best(frame, metrics, column)
    return frame[_columns(frame, metrics)], tests


def _columns(frame: pd.DataFrame, metrics: tuple[str, ...]) -> list[str]:
    """Identification first, then each metric's six columns, then where the numbers come from."""
    head = ["task", "eval_set", "method", "variant", "seed", "row"]
    tail = ["n", "samples_per_input", "diversity_inputs", "run", "eval_dir"]
    per_metric = [f"{column(m)}{s}" for m in metrics for s in ("", "_lo", "_hi", "_sd", "_best", "_sig")]
    middle = [c for c in frame.columns if c not in head + tail + per_metric]
    return head + middle + per_metric + tail
