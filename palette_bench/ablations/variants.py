"""`palette-bench ablate loss` and `ablate attention`: Palette trained in variants that differ in one config key.

A study is the default run and one run per other value of the key (`diffusion.loss`: Table 6;
`model.attention`: Table 5), all resolved from the same preset and overrides, so they share the
seed, the data order (training batch s depends only on (seed, s)) and the budget. Each variant is an
ordinary run folder: the paper's default (L2, global attention) is the very folder `palette-bench
run` makes, the others are named by their config hash, and every run resumes on its own. The
variants are evaluated on the same inputs with the same per-sample seeds, and every variant is
compared with the default by compare.py's paired bootstrap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from palette_bench.ablations import metric_columns
from palette_bench.io import atomic_write_bytes, atomic_write_json


@dataclass(frozen=True)
class Study:
    name: str  # the command and the files' stem
    key: str  # the dotted config key the variants differ in
    values: tuple[str, ...]  # the paper's default first
    metrics: tuple[str, ...]  # the paper's columns
    paper: str  # the finding the paper reports, tested by the paired differences
    parameters: bool = False  # a parameter-count column (Table 5)


STUDIES = {
    "loss": Study(
        "loss", "diffusion.loss", ("l2", "l1"), ("fid", "pd", "div_lpips", "div_msssim"),
        "Table 6: L1 and L2 give about the same FID, and L2 gives more diverse samples (higher LPIPS diversity, lower MS-SSIM)",
    ),
    "attention": Study(
        "attention", "model.attention", ("global", "local", "more-resblocks", "dilated"), ("fid", "is", "pd", "ca_top1"),
        "Table 5: global self-attention beats local attention and the fully convolutional variants", parameters=True,
    ),
}
DIFFERENCES = {"fid", "pd", "ca_top1", "is", "div_lpips", "div_msssim"}  # each compared, paired, with the default


def plan(study: Study, task: str, preset: str = "cpu", overrides=(), values=None, **fields) -> list:
    """The resolved config of every variant, the default first; each differs from it in study.key only."""
    from palette_bench.runconfig import resolve

    values = tuple(values or study.values)
    if values[0] != study.values[0]:
        values = (study.values[0],) + tuple(v for v in values if v != study.values[0])  # always against the default
    base = [o for o in overrides if o.split("=", 1)[0].strip() != study.key]
    return [resolve(task, preset, base + [f"{study.key}={v}"], method="palette", **fields) for v in values]


def differing_keys(a, b) -> list[str]:
    """The dotted keys whose values differ between two RunConfigs (for checking that variants differ only in the ablated key)."""
    from palette_bench.config import to_dict
    from palette_bench.report.group import flatten

    fa, fb = flatten(json.loads(json.dumps(to_dict(a)))), flatten(json.loads(json.dumps(to_dict(b))))
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def check_plan(study: Study, cfgs: list) -> None:
    """Refuse a plan whose variants differ from the default in anything but the ablated key."""
    for cfg in cfgs[1:]:
        extra = [k for k in differing_keys(cfgs[0], cfg) if k != study.key]
        if extra:
            raise ValueError(f"ablate {study.name}: variant {value_of(cfg, study.key)} differs from the default in {', '.join(extra)}, not only {study.key}")


def value_of(cfg, dotted: str):
    from palette_bench.config import to_dict

    node = to_dict(cfg)
    for part in dotted.split("."):
        node = node[part]
    return node


def ablate(study: Study, cfgs: list, runs_root="runs", out: str | Path | None = None, replicates: int | None = None, echo=print, **run_kwargs) -> pd.DataFrame:
    """Run every variant (each resumes), compare each with the default, write <out>/<study>.csv/.md/.json and its figure."""
    from palette_bench.compare import REPLICATES, compare
    from palette_bench.run import eval_dir_for, finalize, run

    check_plan(study, cfgs)
    folders = []
    for i, cfg in enumerate(cfgs, 1):
        echo(f"ablate {study.name} [{i}/{len(cfgs)}]: {study.key} = {value_of(cfg, study.key)}")
        folders.append(run(cfg, runs_root=runs_root, **run_kwargs))
    evals = [eval_dir_for(finalize(c), f) for c, f in zip(cfgs, folders)]
    rows = []
    for cfg, folder, ev in zip(cfgs, folders, evals):
        result = json.loads((ev / "metrics.json").read_text())
        row = {study.name: value_of(cfg, study.key)}
        if study.parameters:
            from palette_bench.models.unet import model_summary

            row["parameters"] = model_summary(cfg.model)["parameters"]
        row.update(metric_columns(result["metrics"], study.metrics))
        if ev != evals[0]:
            c = compare(ev, evals[0], tuple(m for m in study.metrics if m in DIFFERENCES), replicates or REPLICATES)["metrics"]
            for m in study.metrics:
                entry = c.get(m)
                lo, hi = entry["ci95"] if entry and entry["ci95"] else (np.nan, np.nan)
                row.update({f"{m}_vs_default": entry["difference"] if entry else np.nan, f"{m}_vs_default_lo": lo, f"{m}_vs_default_hi": hi,
                            f"{m}_verdict": _verdict(entry)})
        row.update(n=result["n"], diversity_inputs=result.get("diversity_inputs", result["n"]), run=str(folder), eval_dir=str(ev))
        rows.append(row)
    table = pd.DataFrame(rows)
    out = Path(out) if out else Path(runs_root) / f"ablate-{study.name}-{cfgs[0].task}"
    write_outputs(study, table, evals, out)
    return table


def _verdict(entry) -> str:
    if not entry:
        return ""
    return {"A better": "variant better", "B better": "default better"}.get(entry["verdict"], "cannot decide")


def markdown(study: Study, table: pd.DataFrame) -> str:
    """The table as Markdown: each metric with its 95% interval, then each variant minus the default, paired."""
    def fmt(v, lo=np.nan, hi=np.nan, d=3):
        if pd.isna(v):
            return ""
        return f"{v:.{d}g}" + ("" if pd.isna(lo) else f" [{lo:.{d}g}, {hi:.{d}g}]")

    cols = {study.name: table[study.name]}
    if study.parameters:
        cols["parameters"] = [f"{p / 1e6:.2f}M" for p in table["parameters"]]
    for m in study.metrics:
        cols[m] = [fmt(*r) for r in table[[m, f"{m}_lo", f"{m}_hi"]].itertuples(index=False)]
    for m in study.metrics:
        if f"{m}_vs_default" in table:
            cols[f"{m} − default (paired)"] = [
                "default" if i == 0 else f"{fmt(*r[:3])}: {r[3]}" for i, r in enumerate(table[[f"{m}_vs_default", f"{m}_vs_default_lo", f"{m}_vs_default_hi", f"{m}_verdict"]].itertuples(index=False))
            ]
    head = (
        f"Palette, {study.key} ablation; n = {int(table['n'][0])} inputs (diversity over the first {int(table['diversity_inputs'][0])}), "
        f"the same inputs and per-sample seeds for every row; the default is `{table[study.name][0]}`. "
        f"Paired 95% intervals of variant − default (1000 bootstrap replicates of the inputs).\n\nThe paper's finding: {study.paper}.\n\n"
    )
    return head + pd.DataFrame(cols).to_markdown(index=False) + "\n"


def write_outputs(study: Study, table: pd.DataFrame, evals: list[Path], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{study.name}.csv", table.to_csv(index=False).encode())
    atomic_write_bytes(out / f"{study.name}.md", markdown(study, table).encode())
    atomic_write_json(out / f"{study.name}.json", {"study": study.name, "key": study.key, "paper": study.paper, "rows": json.loads(table.to_json(orient="records"))})
    if study.name == "loss":
        from palette_bench.ablations.pairwise import histogram_figure

        atomic_write_bytes(out / "msssim-histogram.png", histogram_figure(evals, [str(v) for v in table[study.name]]))
