"""`palette-bench ablate curve`: Palette's FID, CA and PD against training steps, beside the floors.

For each Palette run (e.g. the paper's epsilon and v-prediction) and each listed step, that step's
checkpoint is sampled and evaluated like the run's own evaluation, into eval/<name>-step<N>/. The
learning rate is constant after warm-up and the data order depends only on the step, so the
checkpoint of step N of a longer run is the one a run of N steps ends with: one run per curve, with
train.keep_checkpoints large enough to keep the listed steps.

Floors (regression, the classical fill, any evaluation of the same inputs) are drawn as horizontal
lines, and every Palette point is compared with every floor by the paired bootstrap (compare.py).
The summary says, per floor and metric, the first listed step at which Palette is no longer shown
worse (the paired interval reaches 0) and the first at which it is shown better (the interval
excludes 0 on Palette's side), with the training time that took on this machine and the images seen.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from palette_bench.ablations import metric_columns
from palette_bench.io import atomic_write_bytes, atomic_write_json

METRICS = {"fid": "FID", "ca_top1": "CA", "pd": "PD"}


def curve_config(cfg, sampler=None, schedule=None, steps=None, n=None, samples_per_input=None, diversity_n=None):
    """The run's config with the sampling settings that are given replaced (every curve is sampled alike)."""
    given = {"sampler": sampler, "schedule": schedule, "steps": steps, "n": n, "samples_per_input": samples_per_input, "diversity_n": diversity_n}
    return replace(cfg, sample=replace(cfg.sample, **{k: v for k, v in given.items() if v is not None}))


def checkpoint_at(run_dir: Path, step: int) -> Path:
    path = Path(run_dir) / "checkpoints" / f"ckpt-{step:08d}.pt"
    if not path.is_file():
        have = ", ".join(str(int(p.stem.split("-")[1])) for p in sorted(path.parent.glob("ckpt-*.pt"))) or "none"
        raise FileNotFoundError(f"{path}: no checkpoint of step {step} (kept: {have}); train with --set train.keep_checkpoints=N large enough, and checkpoint_every dividing the step")
    return path


def last_step(run_dir: Path) -> int:
    """The step of the run's newest checkpoint (0 without one)."""
    found = sorted((Path(run_dir) / "checkpoints").glob("ckpt-*.pt"))
    return int(found[-1].stem.split("-")[1]) if found else 0


def _train_seconds(run_dir: Path, step: int) -> float:
    """Wall time of training up to `step`, from stats.jsonl (a resumed run's clock restarts; segments are added)."""
    total, last = 0.0, 0.0
    for line in (Path(run_dir) / "stats.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["time"] < last:  # a new segment after a resume
            total += last
        last = row["time"]
        if row["step"] == step:
            return total + last
    return float("nan")


def floor_name(evaluation) -> str:
    """A floor's name in the table: its run's method, or its folder's name for an evaluation outside a run."""
    folder = evaluation.path.parent.parent.parent  # <run>/eval/<name>/metrics.json
    if (folder / "config.json").is_file() and "run" in evaluation.result:
        return json.loads((folder / "config.json").read_text())["method"]
    return evaluation.path.parent.name


def floor_names(evaluations) -> list[str]:
    """Every floor's name: its method's, and where two floors share a method (regression trained for 480 and
    for 1920 steps), that name with its training steps, or with its run folder when those agree too."""
    names = [floor_name(e) for e in evaluations]
    folders = [e.path.parent.parent.parent for e in evaluations]
    for name in set(names):
        same = [i for i, n in enumerate(names) if n == name]
        if len(same) < 2:
            continue
        steps = [json.loads((folders[i] / "config.json").read_text())["train"]["steps"] if (folders[i] / "config.json").is_file() else None for i in same]
        by_steps = None not in steps and len(set(steps)) == len(steps)
        for i, n_steps in zip(same, steps):
            names[i] = f"{name} ({n_steps} steps)" if by_steps else f"{name} ({folders[i].name})"
    if len(set(names)) < len(names):
        raise ValueError(f"the same floor is given twice: {', '.join(str(e.path.parent) for e in evaluations)}")
    return names


def _label(cfg) -> str:
    return f"palette ({cfg.diffusion.parameterization})"


def curve_labels(runs: list[Path], given: dict[str, str]) -> dict[str, str]:
    """Every run's curve name: the given one, else Palette and its parameterization; runs whose names
    would coincide (two v runs of different recipes) are told apart by their folder's name."""
    from palette_bench.run import load_run_config

    names = {str(r): given.get(str(r)) or _label(load_run_config(r)) for r in runs}
    counts = pd.Series(list(names.values())).value_counts()
    return {r: f"{n} ({Path(r).name})" if counts[n] > 1 and str(r) not in given else n for r, n in names.items()}


def ablate_curve(
    runs: list[str | Path],
    at: list[int],
    floors: list[str | Path] = (),
    out: str | Path = "curve",
    root=None,
    progress: bool = True,
    weights_dir: str | None = None,
    allow_unverified_weights: bool = False,
    labels: dict[str, str] | None = None,
    x: str = "steps",
    **sampling,
) -> dict:
    """Evaluate every run at every step (skipping finished ones), compare with the floors, write curve.csv/.md/.png/.json.

    `labels` names each run's curve (by its folder; default: Palette and its parameterization); `x` is the
    figure's axis, "steps" or "minutes" of training on this machine (recipes that differ in step cost).
    """
    labels = curve_labels(list(map(Path, runs)), {str(Path(k)): v for k, v in (labels or {}).items()})
    from palette_bench.compare import compare, load
    from palette_bench.run import eval_dir_for, finalize, load_run_config, run

    floor_evals = [load(f) for f in floors]
    names = floor_names(floor_evals)
    rows, not_reached = [], []
    for run_dir in map(Path, runs):
        base = load_run_config(run_dir)
        cfg = finalize(curve_config(base, **sampling))
        for step in at:
            if step > last_step(run_dir):  # a curve trained for fewer steps ends early; a missing step inside its range is an error
                not_reached.append({"run": str(run_dir), "step": step, "trained_to": last_step(run_dir)})
                print(f"ablate curve: {run_dir.name} was trained to step {last_step(run_dir)}; step {step} left out", flush=True)
                continue
            ckpt = checkpoint_at(run_dir, step)
            ev = eval_dir_for(cfg, run_dir)
            ev = ev.with_name(f"{ev.name}-step{step}")
            if not (ev / "metrics.json").exists():
                print(f"ablate curve: {run_dir.name} at step {step} -> {ev}", flush=True)
                run(cfg, ("sample", "eval"), run_dir=run_dir, eval_dir=ev, checkpoint=ckpt, root=root, progress=progress, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
            m = json.loads((ev / "metrics.json").read_text())["metrics"]
            row = {"curve": labels[str(run_dir)], "run": str(run_dir), "step": step, "images_seen": step * base.train.batch_size, "train_seconds": _train_seconds(run_dir, step), "eval_dir": str(ev)}
            row.update(metric_columns(m, METRICS))
            for fe, name in zip(floor_evals, names):
                c = compare(ev, fe.path, tuple(METRICS))["metrics"]
                for key in METRICS:
                    entry = c.get(key)
                    row[f"{key}_vs_{name}"] = entry["difference"] if entry else np.nan
                    row[f"{key}_vs_{name}_lo"], row[f"{key}_vs_{name}_hi"] = (entry and entry["ci95"]) or (np.nan, np.nan)
                    row[f"{key}_vs_{name}_verdict"] = curve_verdict(entry, name)
            rows.append(row)
    table = pd.DataFrame(rows)
    floor_values = {}
    for fe, name in zip(floor_evals, names):
        floor_values[name] = {key: fe.metrics[key]["value"] for key in METRICS if key in fe.metrics} | {"eval_dir": str(fe.path.parent)}
    summary = {"floors": floor_values, "reached": _reached(table, list(floor_values)), "not_reached": not_reached, "n": None}
    if floor_evals:
        summary["n"] = floor_evals[0].result["n"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "curve.csv", table.to_csv(index=False).encode())
    atomic_write_bytes(out / "curve.md", markdown(table, summary).encode())
    atomic_write_bytes(out / "curve.png", plot(table, summary, x))
    atomic_write_json(out / "curve.json", summary)
    return summary


NOT_MEASURED = "not measured"


def curve_verdict(entry: dict | None, floor: str) -> str:
    """The verdict of one paired comparison, in the curve's words; "not measured" when the comparison
    has no result for the metric (one side lacks it, or it has no interval), which is no evidence either way."""
    if entry is None or entry.get("ci95") is None:
        return NOT_MEASURED
    return {"A better": "palette better", "B better": f"{floor} better"}.get(entry["verdict"], "cannot decide")


def _reached(table: pd.DataFrame, floors: list[str]) -> list[dict]:
    """Per curve, floor and metric: the first step no longer shown worse, and the first shown better.

    "No longer shown worse" rests on a comparison that was made and whose interval reaches 0 or
    favours Palette; a step where the metric was not measured counts for neither.
    """
    out = []
    for curve, g in table.groupby("curve", sort=False):
        g = g.sort_values("step")
        for floor in floors:
            for key in METRICS:
                col = f"{key}_vs_{floor}_verdict"
                if col not in g:
                    continue
                not_worse = g[g[col].isin(("cannot decide", "palette better"))]
                better = g[g[col] == "palette better"]
                entry = {"curve": curve, "floor": floor, "metric": METRICS[key], "measured": bool((g[col] != NOT_MEASURED).any())}
                for what, rows in (("not_worse", not_worse), ("better", better)):
                    first = rows.iloc[0] if len(rows) else None
                    entry[what] = None if first is None else {"step": int(first["step"]), "images_seen": int(first["images_seen"]), "train_seconds": float(first["train_seconds"])}
                out.append(entry)
    return out


def markdown(table: pd.DataFrame, summary: dict) -> str:
    def cell(v, lo, hi, d):
        return "" if pd.isna(v) else f"{v:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"

    cols = {"curve": table["curve"], "step": table["step"], "images seen": table["images_seen"], "train min": (table["train_seconds"] / 60).round(1)}
    for key, label in METRICS.items():
        d = 3 if key == "ca_top1" else 2
        cols[label] = [cell(*r, d) for r in table[[key, f"{key}_lo", f"{key}_hi"]].itertuples(index=False)]
        for floor in summary["floors"]:
            col = f"{key}_vs_{floor}"
            if col in table:
                cols[f"{label} - {floor}"] = [cell(*r, d) for r in table[[col, f"{col}_lo", f"{col}_hi"]].itertuples(index=False)]
    lines = [pd.DataFrame(cols).to_markdown(index=False), ""]
    for miss in summary.get("not_reached", []):
        lines += [f"- {Path(miss['run']).name} was trained to step {miss['trained_to']}: step {miss['step']} is not on its curve.", ""]
    lines += ["Floors (the same inputs): " + "; ".join(f"{name}: " + ", ".join(f"{METRICS[k]} {v[k]:.3g}" for k in METRICS if k in v) for name, v in summary["floors"].items()), ""]
    for r in summary["reached"]:
        def when(x):
            if not r.get("measured", True):
                return "no step (not measured)"
            return "not within the listed steps" if x is None else f"step {x['step']} ({x['images_seen']} images, {x['train_seconds'] / 60:.0f} min here)"

        lines.append(f"- {r['curve']} vs {r['floor']} on {r['metric']}: no longer worse from {when(r['not_worse'])}; better from {when(r['better'])}.")
    return "\n".join(lines) + "\n"


def plot(table: pd.DataFrame, summary: dict, x: str = "steps") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(11, 3.4), dpi=110)
    curves = list(dict.fromkeys(table["curve"]))
    # matplotlib's default cycle repeats after 10 colours; a recipe study can have more curves
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20").colors
    markers = "osD^v<>"
    for ax, (key, label) in zip(axes, METRICS.items()):
        for curve, g in table.groupby("curve", sort=False):
            g = g.sort_values("step")
            err = np.vstack([g[key] - g[f"{key}_lo"], g[f"{key}_hi"] - g[key]])
            where = g["train_seconds"] / 60 if x == "minutes" else g["step"]
            k = curves.index(curve)
            ax.errorbar(where, g[key], yerr=np.nan_to_num(err), marker=markers[k % len(markers)], ms=4, capsize=2, label=curve, color=colours[k % len(colours)])
        for i, (name, v) in enumerate(summary["floors"].items()):
            if key in v:
                ax.axhline(v[key], ls="--", lw=1, color=f"C{(i + 6) % 10}", label=name)
        if x == "minutes":
            ax.set_xlabel("training minutes on this machine")
        else:
            ax.set_xscale("log")
            ax.minorticks_off()  # label the evaluated steps only: log-axis minor labels collide
            ax.set_xticks(sorted(table["step"].unique()), [str(s) for s in sorted(table["step"].unique())])
            ax.set_xlabel("training steps")
        ax.set_title(label + (" (higher is better)" if key == "ca_top1" else " (lower is better)"), fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
