"""The fool-rate column: a task table's rows that a scored human study (`palette-bench study score`) rated.

A study's scores.json names, per method, the run folder and evaluation folder whose outputs the
raters saw; a table row gets the fool rate of the study that showed its own outputs. Folder names
alone do not say that: a run re-run or recreated under the same name holds other outputs. So the
row's output files are hashed as the study recorded them at `study create` (created_from), and a
study whose hash differs, or that records none, is skipped with a line saying why. Nothing else is
recomputed here: the column is what `study score` wrote, with its interval and its screening.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from palette_bench.report.tables import SEED_ROW
from palette_bench.study import SCORES_FILE
from palette_bench.study.spec import outputs_sha256

FOOL_RATE = "Fool rate (%)"
SKIPPED = "Fool rate skipped"  # the start of a footer line that the report also prints


def load_scores(studies: str | Path | None) -> tuple[list[dict], list[str]]:
    """Every scored study in the folder `studies` (one level of study folders), and a line per unreadable scores file."""
    if studies is None or not Path(studies).is_dir():
        return [], []
    scores, problems = [], []
    for path in sorted(Path(studies).glob(f"*/{SCORES_FILE}")):
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, ValueError) as e:
            problems.append(f"skipped {path}: not valid JSON ({e})")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("methods"), dict):
            problems.append(f"skipped {path}: not a study's scores (no 'methods')")
            continue
        data["path"] = str(path.parent)
        scores.append(data)
    return scores, problems


def outputs_changed(entry: dict, eval_dir: Path) -> str | None:
    """Why a study's fool rate cannot go to the outputs now in `eval_dir` (None when they are the ones its raters saw)."""
    made = entry.get("created_from")
    if not isinstance(made, dict) or not isinstance(made.get("sha256"), str) or not isinstance(made.get("samples"), list):
        return "its scores record no hash of the outputs it showed (made or scored by an older palette-bench): whether the run folder still holds them cannot be checked"
    try:
        now = outputs_sha256(eval_dir, made["samples"])
    except OSError as e:
        return f"an output its raters saw is gone ({e.strerror}: {e.filename})"
    if now != made["sha256"]:
        return f"{eval_dir.name}/samples no longer holds the outputs its raters saw (their sha256 differs from created_from: the run was re-run or recreated)"
    return None


def add_fool_rate(frame: pd.DataFrame, scores: list[dict]) -> list[str]:
    """Add the fool-rate columns to `frame` where a study rated a row's outputs; the footer lines saying how, or why a study was skipped (none when no study names a row)."""
    rated: dict[tuple[str, str], tuple[dict, dict]] = {}
    for study in scores:
        for entry in study["methods"].values():
            key = (entry["run"], entry["eval_dir"])
            if key in rated and rated[key][0]["path"] != study["path"]:
                raise ValueError(f"{rated[key][0]['path']} and {study['path']} both score the outputs of {key[0]}/eval/{key[1]}: one table cell, two studies; move one of them out of the studies folder")
            rated[key] = (study, entry)
    cells, used, skipped = [], [], []
    for r in frame.itertuples():
        hit = rated.get((Path(r.run).name, Path(r.eval_dir).name)) if r.row == SEED_ROW else None
        rated_here = hit is not None and hit[1].get("fool_rate") is not None
        why = outputs_changed(hit[1], Path(r.eval_dir)) if rated_here else None
        if why:
            skipped.append(f"{SKIPPED}: human study {hit[0]['path']} for run folder {r.run}: {why}.")
        if not rated_here or why:
            cells.append(("", np.nan, np.nan, np.nan))
            continue
        study, entry = hit
        lo, hi = entry["ci95"]
        cells.append((f"{100 * entry['fool_rate']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]", 100 * entry["fool_rate"], 100 * lo, 100 * hi))
        if study not in used:
            used.append(study)
    if not used and not skipped:
        return []
    # the column stays, empty, when every study was skipped: its footer says why no row has a fool rate
    frame[FOOL_RATE], frame["fool_rate_pct"], frame["fool_rate_pct_lo"], frame["fool_rate_pct_hi"] = zip(*cells)
    lines = list(skipped)
    for study in used:
        r = study["raters"]
        intervals = "; ".join(sorted({e["interval"] for e in study["methods"].values() if e.get("fool_rate") is not None}))
        lines.append(
            f"Fool rate: human study {Path(study['path']).name} (2AFC, \"{study['question']}\", pairs shown {study['seconds']:g} s; 50% is the ideal): "
            f"{r['kept']} of {r['total']} raters kept, {r['failed_catch']} left out for failing catch trials and {r['no_catch_answered']} for answering none; "
            f"95% interval: {intervals}; scored {study['scored_at']}."
        )
    return lines
