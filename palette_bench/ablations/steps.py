"""`palette-bench ablate steps`: how few network evaluations does one trained Palette need?

One checkpoint is sampled with every sampler x step schedule x step count, on the same evaluation
inputs and with the same per-sample seeds (sample k of input i starts from the same noise in every
configuration), and each configuration is evaluated like a run. Each is compared with the reference,
the paper's 1000-step ancestral sampler, by a paired bootstrap (compare.py).

"Within 5%" is decided by that paired interval: a configuration qualifies when the upper end of the
95% interval of FID(configuration) - FID(reference) is at most 5% of the reference FID. The data must
show that it is at most 5% worse; failing to show that it is worse is not enough, so a study on too
few inputs finds nothing rather than everything.

Each configuration is an ordinary evaluation folder of the run, eval/<set>-<sampler><steps>[-<schedule>]/
(the "paper" schedule is not named, as in `run`), with -n<N>-div<D>x<K> added when the study samples
other inputs than the run's own evaluation. Finished folders are skipped, so the study resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from palette_bench.ablations import metric_columns, png_bytes
from palette_bench.io import atomic_write_bytes, atomic_write_json

SAMPLERS = ("ancestral", "ddim")
SCHEDULES = ("paper", "logsnr", "karras")
STEPS = (1000, 250, 100, 50, 20, 10)
REFERENCE = ("ancestral", "paper", 1000)
MARGIN = 0.05  # "within 5% of the reference FID"


@dataclass(frozen=True)
class Variant:
    sampler: str
    schedule: str
    steps: int

    @property
    def line(self) -> str:
        """The plot's line (and the table's group) this variant belongs to."""
        return f"{self.sampler}/{self.schedule}"

    @property
    def nfe(self) -> int:
        """Network evaluations per sample: both samplers call the network once per step."""
        return self.steps


def variants(samplers=SAMPLERS, schedules=SCHEDULES, steps=STEPS, reference=REFERENCE) -> list[Variant]:
    """The reference first, then every sampler x schedule x step count, without repeats."""
    out = [Variant(*reference)]
    for sampler in samplers:
        for schedule in schedules:
            for n in sorted(steps, reverse=True):
                v = Variant(sampler, schedule, int(n))
                if v not in out:
                    out.append(v)
    return out


def variant_config(cfg, v: Variant, n: int | None = None, samples_per_input: int | None = None, diversity_n: int | None = None):
    """The run's config sampled with variant `v` (and, if given, other inputs or sample counts)."""
    s = cfg.sample
    sample = replace(
        s,
        sampler=v.sampler,
        schedule=v.schedule,
        steps=v.steps,
        eta=0.0,
        n=s.n if n is None else n,
        samples_per_input=s.samples_per_input if samples_per_input is None else samples_per_input,
        diversity_n=s.diversity_n if diversity_n is None else diversity_n,
    )
    return replace(cfg, sample=sample)


def variant_dir(run_dir: Path, run_cfg, cfg) -> Path:
    """eval/<the run's name for this sampling>, suffixed when the inputs or sample counts are not the run's."""
    from palette_bench.run import eval_dir_for, finalize

    path = eval_dir_for(finalize(cfg), run_dir)
    s, r = cfg.sample, run_cfg.sample
    if (s.n, s.samples_per_input, s.diversity_n) != (r.n, r.samples_per_input, r.diversity_n):
        path = path.with_name(f"{path.name}-n{s.n}-div{s.diversity_n}x{s.samples_per_input}")
    return path


def _row(v: Variant, folder: Path) -> dict:
    result = json.loads((folder / "metrics.json").read_text())
    m = result["metrics"]
    done = json.loads((folder / "samples" / ".done").read_text())
    timing = done.get("sampling") or {}
    images = timing.get("images", 0) * timing.get("world_size", 1)
    row = {"sampler": v.sampler, "schedule": v.schedule, "steps": v.steps, "nfe": v.nfe, "n": result["n"]}
    row.update(metric_columns(m, ("fid", "is", "ca_top1", "pd", "lpips", "div_msssim", "div_lpips")))
    row["seconds_per_image"] = timing["seconds"] / images if images else np.nan
    row["eval_dir"] = str(folder)
    return row


def ablate_steps(
    run_dir: str | Path,
    samplers=SAMPLERS,
    schedules=SCHEDULES,
    steps=STEPS,
    n: int | None = None,
    samples_per_input: int | None = None,
    diversity_n: int | None = None,
    out: str | Path | None = None,
    root=None,
    progress: bool = True,
    weights_dir: str | None = None,
    allow_unverified_weights: bool = False,
    replicates: int | None = None,
) -> dict:
    """Sample and evaluate every variant (skipping finished ones), compare each with the reference, write the table and plot.

    Returns the summary written to <out>/steps.json; the table goes to steps.csv and steps.md, the
    plot to steps.png (out defaults to <run_dir>/ablate-steps).
    """
    from palette_bench.compare import REPLICATES, compare
    from palette_bench.run import load_run_config, run

    run_dir = Path(run_dir)
    run_cfg = load_run_config(run_dir)
    todo = variants(samplers, schedules, steps)
    cfgs = {v: variant_config(run_cfg, v, n, samples_per_input, diversity_n) for v in todo}
    folders = {v: variant_dir(run_dir, run_cfg, c) for v, c in cfgs.items()}
    # cheapest first: an interrupted study has the most configurations finished
    for v in sorted(todo, key=lambda v: v.nfe):
        if not (folders[v] / "metrics.json").exists():
            print(f"ablate steps: {v.sampler}, {v.schedule} schedule, {v.steps} steps -> {folders[v]}", flush=True)
            run(cfgs[v], ("sample", "eval"), run_dir=run_dir, eval_dir=folders[v], root=root, progress=progress, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    ref = todo[0]
    rows = []
    for v in todo:
        row = _row(v, folders[v])
        if v == ref:
            row.update(fid_vs_ref=0.0, fid_vs_ref_lo=0.0, fid_vs_ref_hi=0.0)
        else:
            c = compare(folders[v], folders[ref], ("fid",), replicates or REPLICATES)["metrics"].get("fid")
            lo, hi = c["ci95"] if c and c["ci95"] else (np.nan, np.nan)
            row.update(fid_vs_ref=c["difference"] if c else np.nan, fid_vs_ref_lo=lo, fid_vs_ref_hi=hi)
        rows.append(row)
    table = pd.DataFrame(rows)
    ref_fid = float(table.loc[0, "fid"])
    table["within_5pct"] = table["fid_vs_ref_hi"] <= MARGIN * ref_fid
    fewest = table[table["within_5pct"]].sort_values(["nfe", "fid"]).head(1)
    summary = {
        "run": str(run_dir),
        "reference": f"{ref.sampler}{ref.steps}-{ref.schedule}",
        "reference_fid": ref_fid,
        "margin": MARGIN,
        "rule": "fewest NFE whose paired 95% interval of FID - FID(reference) ends at or below 5% of FID(reference)",
        "n": int(table.loc[0, "n"]),
        "fewest": None if fewest.empty else {k: (v.item() if hasattr(v, "item") else v) for k, v in fewest.iloc[0][["sampler", "schedule", "steps", "nfe", "fid", "fid_vs_ref", "fid_vs_ref_lo", "fid_vs_ref_hi"]].items()},
    }
    out = Path(out) if out else run_dir / "ablate-steps"
    write_outputs(table, summary, out)
    return summary


def markdown(table: pd.DataFrame, summary: dict) -> str:
    """The table as Markdown, with a header saying what it is and what it found."""
    shown = table.copy()
    fmt = lambda v, lo, hi, d: "" if pd.isna(v) else (f"{v:.{d}f}" + ("" if pd.isna(lo) else f" [{lo:.{d}f}, {hi:.{d}f}]"))  # noqa: E731
    cols = {
        "sampler": shown["sampler"],
        "schedule": shown["schedule"],
        "NFE": shown["nfe"],
        "FID": [fmt(*r, 2) for r in shown[["fid", "fid_lo", "fid_hi"]].itertuples(index=False)],
        "FID - ref (paired)": [fmt(*r, 2) for r in shown[["fid_vs_ref", "fid_vs_ref_lo", "fid_vs_ref_hi"]].itertuples(index=False)],
        "within 5%": ["ref" if i == 0 else ("yes" if w else "no") for i, w in enumerate(shown["within_5pct"])],
        "IS": [fmt(v, np.nan, np.nan, 2) for v in shown["is"]],
        "CA": [fmt(v, np.nan, np.nan, 3) for v in shown["ca_top1"]],
        "PD": [fmt(v, np.nan, np.nan, 2) for v in shown["pd"]],
        "LPIPS div": [fmt(v, np.nan, np.nan, 3) for v in shown["div_lpips"]],
        "MS-SSIM div": [fmt(v, np.nan, np.nan, 3) for v in shown["div_msssim"]],
        "s / image": [fmt(v, np.nan, np.nan, 3) for v in shown["seconds_per_image"]],
    }
    f = summary["fewest"]
    found = (
        f"Fewest network evaluations within 5% of {summary['reference']}: **{f['nfe']}** ({f['sampler']}, {f['schedule']} schedule; FID {f['fid']:.2f}, paired FID - ref {f['fid_vs_ref']:.2f} [{f['fid_vs_ref_lo']:.2f}, {f['fid_vs_ref_hi']:.2f}])."
        if f
        else f"No configuration is shown to be within 5% of {summary['reference']} at n={summary['n']}: every paired interval reaches above the margin."
    )
    head = f"Run: `{summary['run']}`; n={summary['n']} inputs, same inputs and seeds for every row. Reference FID {summary['reference_fid']:.2f}; rule: {summary['rule']}.\n\n{found}\n\n"
    return head + pd.DataFrame(cols).to_markdown(index=False) + "\n"


def plot(table: pd.DataFrame, summary: dict) -> bytes:
    """Left: FID against network evaluations (log axis), one line per sampler/schedule. Right: the paired
    difference from the reference with its 95% interval, against the 5% margin that decides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    ref = summary["reference_fid"]
    lines = table.groupby(table["sampler"] + "/" + table["schedule"], sort=False)
    for i, (line, group) in enumerate(lines):
        g = group.sort_values("nfe")
        ax.plot(g["nfe"], g["fid"], marker="o", ms=4, label=line, color=f"C{i}")
        g = g[g["nfe"] != g["nfe"].max()] if line == summary["reference"].split("1000")[0] + "/paper" else g
        offset = 1 + 0.03 * (i - 2.5)  # side by side at the same step count, so the intervals stay readable
        err = np.vstack([g["fid_vs_ref"] - g["fid_vs_ref_lo"], g["fid_vs_ref_hi"] - g["fid_vs_ref"]])
        bx.errorbar(g["nfe"] * offset, g["fid_vs_ref"], yerr=np.nan_to_num(err), marker="o", ms=3, capsize=2, ls="none", color=f"C{i}", label=line)
    ax.axhline(ref, color="0.5", lw=1, ls=":", label=f"reference {summary['reference']}")
    bx.axhline(0, color="0.5", lw=1, ls=":")
    bx.axhline(MARGIN * ref, color="C3", lw=1, ls="--", label="+5% of the reference FID")
    for a in (ax, bx):
        a.set_xscale("log")
        a.set_xlabel("network evaluations per sample")
    ax.set_ylabel("FID (judge features)")
    bx.set_ylabel("FID - FID(reference), paired 95% interval")
    ax.set_title(f"{Path(summary['run']).name}, n={summary['n']}", fontsize=9)
    bx.set_title("within 5%: the whole interval below the dashed line", fontsize=9)
    ax.legend(fontsize=7)
    bx.legend(fontsize=7)
    return png_bytes(fig)


def write_outputs(table: pd.DataFrame, summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "steps.csv", table.to_csv(index=False).encode())
    atomic_write_bytes(out / "steps.md", markdown(table, summary).encode())
    atomic_write_bytes(out / "steps.png", plot(table, summary))
    atomic_write_json(out / "steps.json", summary)
