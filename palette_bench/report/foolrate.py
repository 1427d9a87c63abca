"""The fool-rate column: a task table's rows that a scored human study (`palette-bench study score`) rated.

A study's scores.json names, per method, the run folder and evaluation folder whose outputs the
raters saw; a table row gets the fool rate of the study that showed its own outputs. Nothing is
recomputed here: the column is what `study score` wrote, with its interval and its screening.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from palette_bench.report.tables import SEED_ROW
from palette_bench.study import SCORES_FILE

FOOL_RATE = "Fool rate (%)"


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


def add_fool_rate(frame: pd.DataFrame, scores: list[dict]) -> list[str]:
    """Add the fool-rate columns to `frame` where a study rated a row's outputs; the footer lines saying how (none when no row was rated)."""
    rated: dict[tuple[str, str], tuple[dict, dict]] = {}
    for study in scores:
        for entry in study["methods"].values():
            key = (entry["run"], entry["eval_dir"])
            if key in rated and rated[key][0]["path"] != study["path"]:
                raise ValueError(f"{rated[key][0]['path']} and {study['path']} both score the outputs of {key[0]}/eval/{key[1]}: one table cell, two studies; move one of them out of the studies folder")
            rated[key] = (study, entry)
    cells, used = [], []
    for r in frame.itertuples():
        hit = rated.get((Path(r.run).name, Path(r.eval_dir).name)) if r.row == SEED_ROW else None
        if hit is None or hit[1].get("fool_rate") is None:
            cells.append(("", np.nan, np.nan, np.nan))
            continue
        study, entry = hit
        lo, hi = entry["ci95"]
        cells.append((f"{100 * entry['fool_rate']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]", 100 * entry["fool_rate"], 100 * lo, 100 * hi))
        if study not in used:
            used.append(study)
    if not used:
        return []
    frame[FOOL_RATE], frame["fool_rate_pct"], frame["fool_rate_pct_lo"], frame["fool_rate_pct_hi"] = zip(*cells)
    lines = []
    for study in used:
        r = study["raters"]
        intervals = "; ".join(sorted({e["interval"] for e in study["methods"].values() if e.get("fool_rate") is not None}))
        lines.append(
            f"Fool rate: human study {Path(study['path']).name} (2AFC, \"{study['question']}\", pairs shown {study['seconds']:g} s; 50% is the ideal): "
            f"{r['kept']} of {r['total']} raters kept, {r['failed_catch']} left out for failing catch trials and {r['no_catch_answered']} for answering none; "
            f"95% interval: {intervals}; scored {study['scored_at']}."
        )
    return lines
