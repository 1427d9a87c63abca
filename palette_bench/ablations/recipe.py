"""Recipe studies for `palette-bench ablate curve --recipe`: training recipes as learning curves in CPU minutes.

A recipe is a name and a list of config overrides, e.g. `lognormal: diffusion.noise_levels=lognormal`.
Each recipe is trained (or resumed) as an ordinary Palette run of the same task, preset, seed and
data order, keeping a checkpoint at every listed step, and its learning curve is evaluated by
ablate_curve. The first recipe is the reference: every other recipe's last point is compared with
the reference's last point by compare.py's paired bootstrap on the same inputs (recipe.md), and the
training minutes of each are shown beside it, so a reader sees what a change buys and what it costs.
Training minutes are wall time on this machine: run a study alone, not beside other jobs.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from palette_bench.io import atomic_write_bytes, atomic_write_json

NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
COMPARED = {"fid": "FID", "ca_top1": "CA", "pd": "PD"}


def parse_recipe(text: str) -> tuple[str, list[str]]:
    """'NAME: key=value; key=value' -> (NAME, ['key=value', ...]); 'NAME:' alone is the preset's own recipe."""
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not sep or not NAME.match(name):
        raise ValueError(f"recipe '{text}': write NAME: key=value; key=value (NAME of letters, digits, _ . + -)")
    overrides = [o.strip() for o in rest.split(";") if o.strip()]
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ValueError(f"recipe '{name}': '{bad[0]}' is not key=value")
    return name, overrides


def recipe_configs(task: str, preset: str, recipes: list[tuple[str, list[str]]], at: list[int], overrides=(), **fields) -> list:
    """Each recipe's resolved config: trained to the largest listed step (or its own train.steps), keeping every listed checkpoint."""
    from palette_bench.runconfig import resolve

    if not recipes:
        raise ValueError("a recipe study needs at least one recipe")
    names = [n for n, _ in recipes]
    if len(set(names)) != len(names):
        raise ValueError(f"recipe names must differ: {', '.join(names)}")
    cfgs = []
    for name, own in recipes:
        cfg = resolve(task, preset, [*overrides, *own], method="palette", **fields)
        steps = cfg.train.steps if any(o.split("=", 1)[0].strip() == "train.steps" for o in own) else max(at)
        every = math.gcd(*[s for s in at if s <= steps], steps)
        schedule = [f"train.steps={steps}", f"train.checkpoint_every={every}", f"train.keep_checkpoints={steps // every}"]
        cfgs.append(resolve(task, preset, [*overrides, *own, *schedule], method="palette", **fields))
    return cfgs


def train_recipes(cfgs: list, names: list[str], runs_root="runs", echo=print, **run_kwargs) -> list[Path]:
    """Train (or resume) every recipe's run; returns the run folders in recipe order."""
    from palette_bench.run import run

    folders = []
    for i, (cfg, name) in enumerate(zip(cfgs, names), 1):
        echo(f"ablate curve: recipe [{i}/{len(cfgs)}] {name}")
        folders.append(run(cfg, ("train",), runs_root=runs_root, **run_kwargs))
    return folders


def recipe_table(table: pd.DataFrame, names: list[str], overrides: list[list[str]], replicates: int | None = None) -> pd.DataFrame:
    """Per recipe: its last evaluated point, and (after the first) that point minus the reference's last point, paired."""
    from palette_bench.compare import REPLICATES, compare

    last = {name: table[table["curve"] == name].sort_values("step").iloc[-1] for name in names if (table["curve"] == name).any()}
    ref = last.get(names[0])
    rows = []
    for name, own in zip(names, overrides):
        if name not in last:
            continue
        point = last[name]
        row = {"recipe": name, "changes": "; ".join(own) or "(the preset's recipe)", "step": int(point["step"]), "train_minutes": point["train_seconds"] / 60}
        for key in COMPARED:
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = point[key], point[f"{key}_lo"], point[f"{key}_hi"]
        if ref is not None and name != names[0]:
            c = compare(point["eval_dir"], ref["eval_dir"], tuple(COMPARED), replicates or REPLICATES)["metrics"]
            for key in COMPARED:
                entry = c.get(key)
                lo, hi = entry["ci95"] if entry and entry.get("ci95") else (np.nan, np.nan)
                row[f"{key}_vs_ref"], row[f"{key}_vs_ref_lo"], row[f"{key}_vs_ref_hi"] = (entry["difference"] if entry else np.nan), lo, hi
                row[f"{key}_vs_ref_verdict"] = {"A better": "recipe better", "B better": "reference better"}.get(entry["verdict"], "cannot decide") if entry and entry.get("ci95") else "not measured"
        rows.append(row)
    return pd.DataFrame(rows)


def recipe_markdown(recipes: pd.DataFrame, n: int | None) -> str:
    def cell(v, lo, hi, d):
        return "" if pd.isna(v) else f"{v:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"

    cols = {"recipe": recipes["recipe"], "changes from the preset": recipes["changes"], "steps": recipes["step"], "train min": recipes["train_minutes"].round(1)}
    for key, label in COMPARED.items():
        d = 3 if key == "ca_top1" else 2
        cols[label] = [cell(*r, d) for r in recipes[[key, f"{key}_lo", f"{key}_hi"]].itertuples(index=False)]
    for key, label in COMPARED.items():
        d = 3 if key == "ca_top1" else 2
        if f"{key}_vs_ref" in recipes:
            cols[f"{label} − {recipes['recipe'].iloc[0]}"] = [
                "reference" if i == 0 else f"{cell(*r[:3], d)}: {r[3]}" for i, r in enumerate(recipes[[f"{key}_vs_ref", f"{key}_vs_ref_lo", f"{key}_vs_ref_hi", f"{key}_vs_ref_verdict"]].itertuples(index=False))
            ]
    head = (
        f"Each recipe's last point against the first recipe's (`{recipes['recipe'].iloc[0]}`), paired on the same "
        f"{n if n else ''} inputs (95% intervals of recipe − reference, 1000 bootstrap replicates); train min is the "
        "wall time of training on this machine up to that point.\n\n"
    )
    return head + pd.DataFrame(cols).to_markdown(index=False) + "\n"


def write_recipes(out: Path, recipes: pd.DataFrame, n: int | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "recipe.csv", recipes.to_csv(index=False).encode())
    atomic_write_bytes(out / "recipe.md", recipe_markdown(recipes, n).encode())
    atomic_write_json(out / "recipe.json", {"rows": json.loads(recipes.to_json(orient="records"))})
