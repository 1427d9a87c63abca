"""From run folders to files: collect the evaluations, build every table, write each in every format, draw the figures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from palette_bench.io import atomic_write_bytes
from palette_bench.report import FORMATS, render
from palette_bench.report.collect import Evaluation, collect
from palette_bench.report.footer import footer
from palette_bench.report.foolrate import FOOL_RATE, SKIPPED, add_fool_rate, load_scores
from palette_bench.report.group import ABLATIONS, REPLICATES, Ablation, Group, ablation_groups, ablation_value, describe_split, task_groups, variant_labels
from palette_bench.report.multitask import LABELS, is_multi, multitask_groups
from palette_bench.report.multitask import build_table as build_multitask_table
from palette_bench.report.tables import MODERN_METRICS, TASK_METRICS, Table, build_frame
from palette_bench.runconfig import DEFAULT_EVAL_SET
from palette_bench.tasks import MULTI

TASK_TITLES = {
    "colorization": "Colorization (paper Table 1 layout)",
    "inpainting": "Inpainting (paper Table 2 layout)",
    "uncropping": "Uncropping (paper Table 3 layout)",
    "jpeg": "JPEG restoration (paper Table 4 layout)",
}
RENDERERS = {"csv": render.to_csv, "md": render.to_markdown, "tex": render.to_latex}


@dataclass
class Report:
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, list[tuple[Evaluation, str]]] = field(default_factory=dict)  # stem -> the headline set's evaluations and row names
    histograms: dict[str, list[tuple[Evaluation, str]]] = field(default_factory=dict)  # L1-vs-L2 stem -> evaluations and their loss (Figure 8)
    messages: list[str] = field(default_factory=list)  # what the command prints besides the files written


@lru_cache(maxsize=None)
def _parameters(network_json: str) -> int:
    from palette_bench.config import from_dict
    from palette_bench.models.unet import UNetConfig, model_summary

    return model_summary(from_dict(UNetConfig, json.loads(network_json)))["parameters"]


def parameter_count(e: Evaluation) -> int:
    """The method's network size, built on the meta device as `palette-bench model summary` does."""
    from palette_bench.config import to_dict
    from palette_bench.methods import get_method

    return _parameters(json.dumps(to_dict(get_method(e.cfg.method).network(e.cfg)), sort_keys=True))


VS_DEFAULT = "FID - default (paired)"


def add_default_comparison(frame, ablation) -> list[tuple[str, dict]] | None:
    """Each seed row's FID minus the default variant's (same evaluation set and seed), paired, as a shown
    column and as numbers (fid_vs_default, _lo, _hi); returns the comparisons made (row label, compare's
    entry), or None when the table has no default row."""
    import numpy as np

    from palette_bench.compare import CompareError, compare

    default = {(r.eval_set, r.seed): r.eval_dir for r in frame.itertuples() if r.row == "seed" and r.variant == ablation.default}
    if not default:
        return None
    shown, values, made = [], [], []
    for r in frame.itertuples():
        ref = default.get((r.eval_set, r.seed)) if r.row == "seed" else None
        if ref is None or ref == r.eval_dir:
            shown.append("default" if ref == r.eval_dir else "")
            values.append((np.nan, np.nan, np.nan))
            continue
        try:
            c = compare(r.eval_dir, ref, ("fid",))["metrics"].get("fid")
        except CompareError:  # no stored features or reference: the cell stays empty, as for a missing metric
            c = None
        lo, hi = c["ci95"] if c and c["ci95"] else (np.nan, np.nan)
        verdict = {"A better": "better", "B better": "worse"}.get(c["verdict"], "cannot decide") if c else ""
        shown.append(f"{c['difference']:.3g} [{lo:.3g}, {hi:.3g}] {verdict}" if c else "")
        values.append((c["difference"] if c else np.nan, lo, hi))
        if c:
            made.append((f"{r.eval_set}, {r.variant} - {ablation.default}" + (f" seed {r.seed}" if r.seed else ""), c))
    frame[VS_DEFAULT] = shown
    frame["fid_vs_default"], frame["fid_vs_default_lo"], frame["fid_vs_default_hi"] = zip(*values)
    return made


def _title(group: Group, what: str) -> str:
    return f"{what}: {describe_split(group.evaluations[0].table_key)}"


def is_variant(e: Evaluation) -> bool:
    """A study's variant: a run with another value than the paper's default in an ablated key (L1, an
    attention variant). A task's figure shows each method's default run; the variants are in their study tables."""
    return any(ablation_value(e, a) != a.default for a in ABLATIONS)


def study_variants(studies: list[tuple[Ablation, Group]]) -> dict[str, list[Evaluation]]:
    """The runs that a study table holds beside a default run (L1 beside L2, an attention variant beside
    global attention), by study table: the task table leaves them to it, as the paper's Table 2 holds
    methods and Tables 5 and 6 the variants. A run that differs in more keys stays in the task table."""
    moved: dict[str, list[Evaluation]] = {}
    for ablation, sub in studies:
        if any(ablation_value(e, ablation) == ablation.default for e in sub.evaluations):
            moved[sub.stem] = [e for e in sub.evaluations if ablation_value(e, ablation) != ablation.default]
    return moved


def build(runs: str | Path, studies: str | Path | None = None) -> Report:
    """Every table the run folders under `runs` make, in the paper's order; nothing is written.

    `studies`: a folder of human studies; a task table gains a fool-rate column where a scored study rated its rows."""
    collected = collect(runs)
    scores, problems = load_scores(studies)
    if not collected.evaluations:
        raise FileNotFoundError(f"{runs}: no evaluated run folders (<run>/config.json with eval/<set>/metrics.json)")
    report = Report()
    report.messages += [f"skipped {p}" for p in collected.problems] + problems
    for reason, folders in collected.ignored.items():
        report.messages.append(f"not in the task tables: {len(folders)} evaluation folder{'s' if len(folders) > 1 else ''}, {reason}")
    # a multi-task run's rows are in its own table, beside the task-specific models (report/multitask.py)
    for group in task_groups([e for e in collected.evaluations if not is_multi(e)]):
        report.messages += [n for n in group.notes if n not in report.messages]
        studies = [(ablation, sub) for ablation in ABLATIONS for sub in ablation_groups(group, ablation)]
        moved = study_variants(studies)
        elsewhere = {e.eval_dir for runs_moved in moved.values() for e in runs_moved}
        rows = [e for e in group.evaluations if e.eval_dir not in elsewhere]
        held = [f"{stem} ({len(es)} run{'s' if len(es) > 1 else ''})" for stem, es in moved.items()]
        where = [f"Study variants in their own tables: {', '.join(held)}."] if moved else []
        labels = variant_labels(rows)
        frame, tests = build_frame(rows, lambda e: labels[e.key(*REPLICATES)], TASK_METRICS)
        human = add_fool_rate(frame, scores)
        report.messages += [line for line in human if line.startswith(SKIPPED)]
        report.tables.append(
            Table(group.stem, _title(group, TASK_TITLES.get(group.task, group.task)), frame, "method", TASK_METRICS, trailing=(FOOL_RATE,) if human else (), notes=group.notes, footer=footer(rows, frame, tests) + human + where)
        )
        modern = tuple(m for m in MODERN_METRICS if any(e.metric(m) for e in rows))
        if modern:  # the second block: the same rows under the metrics beyond the paper's
            frame, tests = build_frame(rows, lambda e: labels[e.key(*REPLICATES)], modern)
            title = _title(group, TASK_TITLES.get(group.task, group.task)) + ", metrics beyond the paper"
            report.tables.append(Table(group.stem + "-beyond", title, frame, "method", modern, notes=group.notes, footer=footer(rows, frame, tests) + where))
        headline = DEFAULT_EVAL_SET.get(group.task)
        report.figures[group.stem] = [(e, labels[e.key(*REPLICATES)]) for e in group.evaluations if e.cfg.eval_set == headline and not is_variant(e)]
        for ablation, sub in studies:
            extra_of = (lambda e: {"parameters": parameter_count(e)}) if ablation.parameters else None
            frame, tests = build_frame(sub.evaluations, lambda e, a=ablation: ablation_value(e, a), ablation.metrics, extra_of)
            extra = ("parameters",) if ablation.parameters else ()
            paired = add_default_comparison(frame, ablation)
            if paired is not None:
                extra += (VS_DEFAULT,)
            title = _title(sub, f"{TASK_TITLES.get(group.task, group.task).split(' (')[0]}, {ablation.title}")
            report.tables.append(Table(sub.stem, title, frame, ablation.column, ablation.metrics, extra, sub.notes, footer(sub.evaluations, frame, tests, paired or [])))
            if ablation.key == "diffusion.loss":
                report.histograms[sub.stem] = [(e, ablation_value(e, ablation) + (f" seed {e.cfg.seed}" if e.cfg.seed else "")) for e in sub.evaluations]
    for group in multitask_groups(collected.evaluations):
        report.messages += [n for n in group.notes if n not in report.messages]
        report.tables.append(build_multitask_table(group))
        headline = DEFAULT_EVAL_SET[MULTI.name]
        report.figures[group.stem] = [(e, LABELS[is_multi(e)]) for e in group.evaluations if e.cfg.eval_set == headline]
    return report


def figure(stem: str, shown: list[tuple[Evaluation, str]], out: Path, root=None) -> tuple[Path | None, str]:
    """The task's sample figure over its headline-set evaluations that hold samples; (path, "") or (None, why not)."""
    from palette_bench.figures import samples_figure
    from palette_bench.report.group import method_rank

    shown = sorted(((e, label) for e, label in shown if (e.eval_dir / "samples").is_dir()), key=lambda s: (method_rank(s[0]), s[1], s[0].cfg.seed))
    if not shown:
        return None, f"{stem}: no figure, no evaluation of the headline set has its samples in its run folder"
    seeds: dict[str, int] = {}
    for _, label in shown:
        seeds[label] = seeds.get(label, 0) + 1
    names = [label + (f" seed {e.cfg.seed}" if seeds[label] > 1 else "") for e, label in shown]
    path = out / f"{stem}-samples.png"
    try:
        n = min(8, max(int(e.result.get("n", 8)) for e, _ in shown))  # rows past the sampled inputs would be empty
        return samples_figure([e.eval_dir for e, _ in shown], path, n=n, samples=3, labels=names, root=root), ""
    except Exception as e:  # a figure needs the protocol's images; without them the tables are still worth writing
        return None, f"{stem}: no figure ({(str(e).splitlines() or [type(e).__name__])[0]})"


def write(report: Report, out: str | Path, formats=FORMATS, root=None) -> list[Path]:
    """Write every table in `formats` (and all.tex with tex, a figure per task table with png) under `out`."""
    out = Path(out)
    written = []
    for table in report.tables:
        for fmt in formats:
            if fmt in RENDERERS:
                path = out / f"{table.stem}.{fmt}"
                atomic_write_bytes(path, RENDERERS[fmt](table).encode())
                written.append(path)
    if "tex" in formats:
        atomic_write_bytes(out / "all.tex", render.latex_document([t.stem for t in report.tables]).encode())
        written.append(out / "all.tex")
    if "png" in formats:
        for stem, shown in report.figures.items():
            path, why = figure(stem, shown, out, root)
            if path:
                written.append(path)
            else:
                report.messages.append(why)
        for stem, shown in report.histograms.items():
            path, why = histogram(stem, shown, out)
            if path:
                written.append(path)
            else:
                report.messages.append(why)
    return written


def histogram(stem: str, shown: list[tuple[Evaluation, str]], out: Path) -> tuple[Path | None, str]:
    """Figure 8 for an L1-vs-L2 table: pairwise MS-SSIM between samples, one histogram per loss; (path, "") or (None, why not)."""
    from palette_bench.ablations.pairwise import histogram_figure

    shown = sorted(((e, label) for e, label in shown if (e.eval_dir / "samples").is_dir()), key=lambda s: s[1])
    if len(shown) < 2:
        return None, f"{stem}: no MS-SSIM histogram, fewer than two of its evaluations have their samples in their run folders"
    path = out / f"{stem}-msssim-histogram.png"
    try:
        atomic_write_bytes(path, histogram_figure([e.eval_dir for e, _ in shown], [label for _, label in shown]))
    except ValueError as e:  # no input with several samples: nothing to draw, the table still stands
        return None, f"{stem}: no MS-SSIM histogram ({str(e).splitlines()[0]})"
    return path, ""
