"""`palette-bench ablate steps`: how few network evaluations does one trained Palette need?

One checkpoint is sampled with every sampler x step schedule x step count, on the same evaluation
inputs and with the same per-sample seeds (sample k of input i starts from the same noise in every
configuration), and each configuration is evaluated like a run. Each is compared with the reference,
by default the paper's 1000-step ancestral sampler, by a paired bootstrap of the same inputs.

The question is one of non-inferiority: is FID(configuration) at most 5% above FID(reference)? A
configuration qualifies when the data show it, never because they fail to show the opposite:
- The margin is relative to the reference's FID, which is itself an estimate. So the statistic is
  T = FID(configuration) - 1.05 FID(reference), recomputed on every paired replicate: the
  reference's own uncertainty enters the interval instead of being taken as exact.
- A configuration qualifies when the one-sided upper bound of T is below 0.
- Many configurations are tested at once, so the family-wise error is controlled: each sampler /
  schedule line is a fixed sequence walked down from the most steps, every test at level
  ALPHA / (number of lines) (Bonferroni over lines), and a line stops at its first configuration that
  does not qualify; the fewer-step ones of that line are not tested. The chance that any claimed
  configuration is in truth more than 5% worse is then at most ALPHA, the same one-sided 2.5% as
  the upper end of a two-sided 95% interval.
- "No configuration qualifies" is a possible answer: the reference itself is not a candidate.

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

SAMPLERS = ("ancestral", "ddim", "dpmpp-2m", "heun")
SCHEDULES = ("paper", "logsnr", "karras")
STEPS = (1000, 250, 100, 50, 20, 10)
REFERENCE = ("ancestral", "paper", 1000)
MARGIN = 0.05  # "within 5% of the reference FID"
ALPHA = 0.025  # family-wise, one-sided: the upper end of a two-sided 95% interval
TAIL = 25  # replicates beyond each line's quantile: the bound is read off at least this many


@dataclass(frozen=True)
class Variant:
    sampler: str
    schedule: str
    steps: int
    churn: float = 0.0  # Heun's S_churn: its stochastic variant is a line of its own

    @property
    def line(self) -> str:
        """The plot's line (and the table's group) this variant belongs to."""
        return f"{self.sampler}/{self.schedule}" + (f"/churn{self.churn:g}" if self.churn else "")

    @property
    def nfe(self) -> int:
        """Network evaluations per sample (models/samplers.py nfe): Heun makes two per step but the last."""
        from palette_bench.models.samplers import nfe

        return nfe(self.sampler, self.steps)


def variants(samplers=SAMPLERS, schedules=SCHEDULES, steps=STEPS, reference=REFERENCE, line_steps=None) -> list[Variant]:
    """The reference first, then every sampler x schedule x step count, without repeats.

    line_steps, if given, replaces the grid: {(sampler, schedule[, churn]): step counts}, so that each
    line can take its own counts (Heun's two evaluations per step ask for half the steps of the others).
    """
    grid = line_steps or {(sampler, schedule): steps for sampler in samplers for schedule in schedules}
    out = [Variant(*reference)]
    for (sampler, schedule, *churn), counts in grid.items():
        for n in sorted(counts, reverse=True):
            v = Variant(sampler, schedule, int(n), float(churn[0]) if churn else 0.0)
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
        churn=v.churn,
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
    row = {"sampler": v.sampler, "schedule": v.schedule, "steps": v.steps, "churn": v.churn, "nfe": v.nfe, "n": result["n"]}
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
    reference: tuple[str, str, int] = REFERENCE,
    line_steps: dict | None = None,
) -> dict:
    """Sample and evaluate every variant (skipping finished ones), test each against the reference, write the table and plot.

    Returns the summary written to <out>/steps.json; the table goes to steps.csv and steps.md, the
    plot to steps.png (out defaults to <run_dir>/ablate-steps).
    """
    from palette_bench.run import load_run_config, run

    run_dir = Path(run_dir)
    run_cfg = load_run_config(run_dir)
    todo = variants(samplers, schedules, steps, reference, line_steps)
    cfgs = {v: variant_config(run_cfg, v, n, samples_per_input, diversity_n) for v in todo}
    folders = {v: variant_dir(run_dir, run_cfg, c) for v, c in cfgs.items()}
    # cheapest first: an interrupted study has the most configurations finished
    for v in sorted(todo, key=lambda v: v.nfe):
        if not (folders[v] / "metrics.json").exists():
            print(f"ablate steps: {v.sampler}{f' (churn {v.churn:g})' if v.churn else ''}, {v.schedule} schedule, {v.steps} steps -> {folders[v]}", flush=True)
            run(cfgs[v], ("sample", "eval"), run_dir=run_dir, eval_dir=folders[v], root=root, progress=progress, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    table = pd.DataFrame([_row(v, folders[v]) for v in todo])
    summary = decide(table, folders, todo[0], replicates)
    summary["run"] = str(run_dir)
    out = Path(out) if out else run_dir / "ablate-steps"
    write_outputs(table, summary, out)
    return summary


def lines(todo: list[Variant], ref: Variant) -> dict[str, list[Variant]]:
    """The candidates, grouped into the fixed sequences that are tested: per sampler/schedule, most steps first."""
    out: dict[str, list[Variant]] = {}
    for v in todo:
        if v != ref:
            out.setdefault(v.line, []).append(v)
    return {line: sorted(vs, key=lambda v: -v.steps) for line, vs in out.items()}


def fid_replicates(folders: dict, replicates: int, seed: int) -> tuple[dict, dict]:
    """FID of each configuration on all inputs, and on the same `replicates` bootstrap resamples of the inputs.

    The resamples are shared by every configuration (compare.Replicates, kept in the cache), so any
    difference of two configurations' replicates is a paired replicate of their difference.
    """
    from palette_bench.compare import Replicates, check_comparable, load

    evals = {v: load(f) for v, f in folders.items()}
    first = next(iter(evals.values()))
    full, reps = {}, {}
    for v, e in evals.items():
        check_comparable(e, first, ("fid",))
        r = Replicates(e, "fid", seed)
        full[v], reps[v] = r.full(), r.first(replicates)
    return full, reps


def upper_bound(value: float, reps: np.ndarray, level: float) -> float:
    """One-sided upper (1 - level) bootstrap bound, with the median shift of bootstrap.percentile_interval."""
    return float(np.quantile(reps, 1 - level) - (np.median(reps) - value))


def verdicts(stat: dict, reps: dict, sequences: dict[str, list[Variant]], level: float) -> dict:
    """"yes", "no" or "not tested" per candidate: each line walked down, a test at `level` each, stopped at its first "no".

    stat[v] is FID(v) - (1 + MARGIN) FID(reference) on all inputs and reps[v] its paired replicates;
    v qualifies when the one-sided upper bound is below 0.
    """
    status = {}
    for seq in sequences.values():
        failed = False
        for v in seq:
            if failed:
                status[v] = "not tested"
            else:
                status[v] = "yes" if upper_bound(stat[v], reps[v], level) < 0 else "no"
                failed = status[v] == "no"
    return status


def decide(table: pd.DataFrame, folders: dict, ref: Variant, replicates: int | None = None, seed: int = 0) -> dict:
    """Fill the table's paired columns and the verdict of each configuration (module docstring); returns the summary."""
    from palette_bench.metrics import bootstrap as bs

    todo = [Variant(r.sampler, r.schedule, int(r.steps), float(c)) for r, c in zip(table.itertuples(), _churns(table))]
    sequences = lines(todo, ref)
    level = ALPHA / max(1, len(sequences))
    replicates = replicates or max(1000, int(np.ceil(TAIL / level)))
    fid, reps = fid_replicates(folders, replicates, seed)
    fid_ref = fid[ref]
    candidates = [v for v in todo if v != ref]
    stat = {v: fid[v] - (1 + MARGIN) * fid_ref for v in candidates}
    stat_reps = {v: reps[v] - (1 + MARGIN) * reps[ref] for v in candidates}
    status = verdicts(stat, stat_reps, sequences, level) | {ref: "ref"}
    rows = {ref: dict(fid_vs_ref=0.0, fid_vs_ref_lo=np.nan, fid_vs_ref_hi=np.nan, margin_stat=-MARGIN * fid_ref, margin_stat_upper=np.nan, resolution=np.nan)}
    for v in candidates:
        lo, hi = bs.percentile_interval(reps[v] - reps[ref], fid[v] - fid_ref)
        upper = upper_bound(stat[v], stat_reps[v], level)
        rows[v] = dict(fid_vs_ref=fid[v] - fid_ref, fid_vs_ref_lo=lo, fid_vs_ref_hi=hi, margin_stat=stat[v], margin_stat_upper=upper, resolution=(upper - stat[v]) / fid_ref)
    for col in rows[ref]:
        table[col] = [rows[v][col] for v in todo]
    table["qualifies"] = [status[v] for v in todo]
    qualified = table[table["qualifies"] == "yes"].sort_values(["nfe", "fid"])
    tested = table[table["qualifies"] != "ref"]
    keys = ["sampler", "schedule", "steps", "nfe", "fid", "fid_vs_ref", "fid_vs_ref_lo", "fid_vs_ref_hi", "margin_stat", "margin_stat_upper"]
    return {
        "reference": f"{ref.sampler}{ref.steps}-{ref.schedule}",
        "reference_fid": float(fid_ref),
        "margin": MARGIN,
        "alpha": ALPHA,
        "lines": len(sequences),
        "level_per_test": level,
        "replicates": replicates,
        "rule": (
            f"FID(c) <= {1 + MARGIN:g} FID(reference) shown by the paired bootstrap: the one-sided upper {1 - level:.2%} bound of "
            f"FID(c) - {1 + MARGIN:g} FID(reference) below 0; each of the {len(sequences)} sampler/schedule lines walked down from its most steps "
            f"and stopped at its first failure (family-wise error {ALPHA:.1%})"
        ),
        "n": int(table.loc[0, "n"]),
        # a configuration exactly as good as the reference qualifies when the margin exceeds its resolution
        "resolution_median": float(tested["resolution"].median()) if len(tested) else None,
        "resolution_max": float(tested["resolution"].max()) if len(tested) else None,
        "fewest": None if qualified.empty else {k: (v.item() if hasattr(v, "item") else v) for k, v in qualified.iloc[0][keys].items()},
    }


def headline(summary: dict) -> str:
    """What the study found, in one sentence."""
    f = summary["fewest"]
    if f:
        return (
            f"Fewest network evaluations shown within {summary['margin']:.0%} of {summary['reference']}: **{f['nfe']}** "
            f"({f['sampler']}, {f['schedule']} schedule; FID {f['fid']:.2f}, paired FID - ref {f['fid_vs_ref']:.2f} "
            f"[{f['fid_vs_ref_lo']:.2f}, {f['fid_vs_ref_hi']:.2f}])."
        )
    return f"**No configuration qualifies**: none is shown to be within {summary['margin']:.0%} of {summary['reference']} at n={summary['n']}."


def _churns(table: pd.DataFrame) -> pd.Series:
    """Each row's churn; tables written before churn existed lack the column, and had none."""
    return table["churn"] if "churn" in table else pd.Series(0.0, index=table.index)


def markdown(table: pd.DataFrame, summary: dict) -> str:
    """The table as Markdown, with a header saying what it is and what it found."""
    shown = table.copy()
    shown["sampler"] = [s + (f" (churn {c:g})" if c else "") for s, c in zip(shown["sampler"], _churns(shown))]
    fmt = lambda v, lo, hi, d: "" if pd.isna(v) else (f"{v:.{d}f}" + ("" if pd.isna(lo) else f" [{lo:.{d}f}, {hi:.{d}f}]"))  # noqa: E731
    cols = {
        "sampler": shown["sampler"],
        "schedule": shown["schedule"],
        "NFE": shown["nfe"],
        "FID": [fmt(*r, 2) for r in shown[["fid", "fid_lo", "fid_hi"]].itertuples(index=False)],
        "FID - ref (paired 95%)": [fmt(*r, 2) for r in shown[["fid_vs_ref", "fid_vs_ref_lo", "fid_vs_ref_hi"]].itertuples(index=False)],
        f"FID - {1 + summary['margin']:g} ref: value, upper bound": ["" if pd.isna(u) else f"{t:.2f}, {u:.2f}" for t, u in shown[["margin_stat", "margin_stat_upper"]].itertuples(index=False)],
        "qualifies": shown["qualifies"],
        "IS": [fmt(v, np.nan, np.nan, 2) for v in shown["is"]],
        "CA": [fmt(v, np.nan, np.nan, 3) for v in shown["ca_top1"]],
        "PD": [fmt(v, np.nan, np.nan, 2) for v in shown["pd"]],
        "LPIPS div": [fmt(v, np.nan, np.nan, 3) for v in shown["div_lpips"]],
        "MS-SSIM div": [fmt(v, np.nan, np.nan, 3) for v in shown["div_msssim"]],
        "s / image": [fmt(v, np.nan, np.nan, 3) for v in shown["seconds_per_image"]],
    }
    resolution = (
        ""
        if summary["resolution_median"] is None
        else f" Resolution: a configuration exactly as good as the reference would qualify only under a margin above "
        f"{summary['resolution_median']:.1%} of the reference FID (median over the tested rows; largest {summary['resolution_max']:.1%})."
    )
    head = (
        f"Run: `{summary['run']}`; n={summary['n']} inputs, same inputs and seeds for every row. Reference {summary['reference']}, "
        f"FID {summary['reference_fid']:.2f}; rule: {summary['rule']}; {summary['replicates']} paired replicates.{resolution}\n\n"
        f"{headline(summary)}\n\n"
    )
    return head + pd.DataFrame(cols).to_markdown(index=False) + "\n"


def plot(table: pd.DataFrame, summary: dict) -> bytes:
    """Left: FID against network evaluations (log axis), one line per sampler/schedule. Right: the tested
    statistic FID - 1.05 FID(reference) with its one-sided upper bound; a configuration qualifies below 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    ref = summary["reference_fid"]
    lines_of_rows = [Variant(r.sampler, r.schedule, int(r.steps), c).line for r, c in zip(table.itertuples(), _churns(table))]
    groups = table.groupby(pd.Series(lines_of_rows, index=table.index), sort=False)
    for i, (line, group) in enumerate(groups):
        g = group.sort_values("nfe")
        ax.plot(g["nfe"], g["fid"], marker="o", ms=4, label=line, color=f"C{i}")
        g = g[g["qualifies"] != "ref"]
        offset = 1 + 0.03 * (i - 2.5)  # side by side at the same step count, so the bars stay readable
        for tested, part in g.groupby(g["qualifies"] != "not tested"):
            err = np.vstack([np.zeros(len(part)), part["margin_stat_upper"] - part["margin_stat"]])
            # a configuration below a line's first failure is not tested: drawn faint, as no evidence either way
            bx.errorbar(part["nfe"] * offset, part["margin_stat"], yerr=np.nan_to_num(err), marker="o", ms=3, capsize=2, ls="none", color=f"C{i}",
                        alpha=1.0 if tested else 0.3, label=line if tested else None)
        yes = g[g["qualifies"] == "yes"]
        bx.scatter(yes["nfe"] * offset, yes["margin_stat"], s=40, facecolors="none", edgecolors="k", zorder=3)
    ax.axhline(ref, color="0.5", lw=1, ls=":", label=f"reference {summary['reference']}")
    bx.axhline(0, color="C3", lw=1, ls="--", label="qualifies below")
    for a in (ax, bx):
        a.set_xscale("log")
        a.set_xlabel("network evaluations per sample")
    ax.set_ylabel("FID (judge features)")
    bx.set_ylabel(f"FID - {1 + summary['margin']:g} FID(reference), one-sided bound")
    ax.set_title(f"{Path(summary['run']).name}, n={summary['n']}", fontsize=9)
    bx.set_title(f"upper bound at {1 - summary['level_per_test']:.2%} (family-wise {summary['alpha']:.1%}); circled: qualifies; faint: not tested", fontsize=9)
    ax.legend(fontsize=7)
    bx.legend(fontsize=7)
    return png_bytes(fig)


def write_outputs(table: pd.DataFrame, summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "steps.csv", table.to_csv(index=False).encode())
    atomic_write_bytes(out / "steps.md", markdown(table, summary).encode())
    atomic_write_bytes(out / "steps.png", plot(table, summary))
    atomic_write_json(out / "steps.json", summary)
