"""The benchmark of one task: every method (and every training seed) through `run`, then the task's comparison.

`palette-bench run --task T` with no --method runs BENCHMARK_METHODS one after the other, each an
ordinary run folder; re-running the command skips what finished and resumes what did not, because
each run does. Methods that learn are repeated per seed (`--seeds 0,1,2`); a method that does not
learn (the classical fill) gives the same outputs for any seed and runs once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

BENCHMARK_METHODS = ("palette", "regression", "pix2pix", "classical")
TABLE_METRICS = {"fid": "FID", "is": "IS", "ca_top1": "CA", "pd": "PD", "lpips": "LPIPS", "div_lpips": "div. LPIPS"}


def plan(task: str, preset: str, methods, seeds, overrides=(), **fields) -> list:
    """The resolved config of every run of the benchmark, in order: methods in the given order, seeds within each."""
    from palette_bench.methods import get_method
    from palette_bench.runconfig import resolve

    out = []
    for name in methods:
        method = get_method(name)
        for seed in seeds if method.learns else seeds[:1]:
            out.append(resolve(task, preset, list(overrides), method=name, seed=seed, **fields))
    return out


def run_benchmark(cfgs: list, runs_root="runs", echo=print, **run_kwargs) -> list[Path]:
    """Run every config's stages in turn (each resumes on its own) and return the run folders."""
    from palette_bench.run import run

    folders = []
    for i, cfg in enumerate(cfgs, 1):
        echo(f"[{i}/{len(cfgs)}] {cfg.method}, seed {cfg.seed}")
        folders.append(run(cfg, runs_root=runs_root, **run_kwargs))
    return folders


def comparison(cfgs: list, folders: list[Path], replicates: int = 1000) -> pd.DataFrame:
    """One row per run: the task's metrics with intervals, and Palette minus the method, paired, on FID and CA."""
    from palette_bench.compare import compare
    from palette_bench.run import eval_dir_for, finalize

    evals = [eval_dir_for(finalize(c), f) for c, f in zip(cfgs, folders)]
    palette = next((e for c, e in zip(cfgs, evals) if c.method == "palette" and (e / "metrics.json").exists()), None)
    rows = []
    for cfg, ev in zip(cfgs, evals):
        row = {"method": cfg.method, "seed": cfg.seed}
        m = json.loads((ev / "metrics.json").read_text())["metrics"] if (ev / "metrics.json").exists() else {}
        for key, label in TABLE_METRICS.items():
            e = m.get(key)
            row[label] = "" if e is None else f"{e['value']:.3g}" + (f" [{e['ci95'][0]:.3g}, {e['ci95'][1]:.3g}]" if e["ci95"] else "")
        if palette is not None and ev != palette and m:
            c = compare(palette, ev, ("fid", "ca_top1"), replicates)["metrics"]
            for key, label in (("fid", "FID"), ("ca_top1", "CA")):
                if key in c:
                    lo, hi = c[key]["ci95"] or (np.nan, np.nan)
                    verdict = {"A better": "Palette better", "B better": f"{cfg.method} better"}.get(c[key]["verdict"], "cannot decide")
                    row[f"Palette − it, {label}"] = f"{c[key]['difference']:.3g} [{lo:.3g}, {hi:.3g}]: {verdict}"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")
