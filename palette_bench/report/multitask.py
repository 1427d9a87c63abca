"""The multi-task table (paper Table 7 layout): the multi-task model beside the task-specific one on each set.

Runs of task "multi" are not rows of Tables 1-4, which hold one task's models each; they get this
table, where each of their evaluations sits under the evaluation of the same set by the task-specific
model of the same config (the same method, preset values and overrides; only the task differs), with
the paired difference multi - specialist of FID. A multi-task config without its task-specific
counterpart still gets its rows, with an empty difference.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from palette_bench.report.collect import Evaluation
from palette_bench.report.group import Group, _safe, describe_split, eval_set_rank
from palette_bench.runconfig import config_hash
from palette_bench.tasks import MULTI

TITLE = "Multi-task vs task-specific models (paper Table 7 layout)"
METRICS = ("fid", "is", "ca_top1", "pd", "lpips")
LABELS = {True: "multi-task", False: "task-specific"}
DIFFERENCE = "multi - specialist FID (paired)"  # the shown column
PAPER = "Paper Table 7 (ImageNet ctest10k, 256 px), FID task-specific vs multi-task: q5 8.3 vs 7.0; center 6.6 vs 6.8; gray 3.4 vs 3.7."
PAIRING = ("task", "eval_set", "seed")  # what a multi-task evaluation and its counterpart may differ in (the task) or share


def is_multi(e: Evaluation) -> bool:
    return e.cfg.task == MULTI.name


def multitask_groups(evaluations: list[Evaluation]) -> list[Group]:
    """One group per split and config of the multi-task runs: their evaluations and their counterparts'."""
    buckets: dict[tuple, list[Evaluation]] = {}
    for e in evaluations:
        if is_multi(e):
            buckets.setdefault((e.table_key, e.key(*PAIRING)), []).append(e)
    groups = []
    for (split, key), mine in sorted(buckets.items(), key=lambda kv: json.dumps(kv[0], sort_keys=True, default=str)):
        sets = {e.cfg.eval_set for e in mine}
        counterparts = [e for e in evaluations if not is_multi(e) and e.table_key == split and e.key(*PAIRING) == key and e.cfg.eval_set in sets]
        stem = "multitask" if len(buckets) == 1 else f"multitask-{_safe(split[0])}-{split[1]}px-{_safe(split[2])}-{config_hash([list(split), key])}"
        notes = [] if len(buckets) == 1 else [f"multi-task runs of {len(buckets)} configs, protocols, feature spaces, numbers of inputs or references: one table each; this one is {describe_split(split)}"]
        groups.append(Group(stem, MULTI.name, mine + counterparts, notes))
    return groups


def counterpart(e: Evaluation, group: Group) -> Evaluation | None:
    """The task-specific evaluation paired with multi-task evaluation `e`: same set and seed."""
    found = [o for o in group.evaluations if not is_multi(o) and (o.cfg.eval_set, o.cfg.seed) == (e.cfg.eval_set, e.cfg.seed)]
    return found[0] if found else None


def paired_difference(e: Evaluation, group: Group) -> tuple[dict, str, dict | None]:
    """fid_diff, its interval and verdict against the counterpart (NaN without one), why it was not tested ("" if it was), and compare's entry."""
    from palette_bench.compare import compare

    nan = float("nan")
    out = {"fid_diff": nan, "fid_diff_lo": nan, "fid_diff_hi": nan, "fid_diff_verdict": ""}
    other = counterpart(e, group) if is_multi(e) else None
    if other is None:
        return out, "", None
    try:
        c = compare(e.eval_dir, other.eval_dir, ("fid",))["metrics"].get("fid")
    except Exception as err:  # reported in the footer with its reason, as the significance of best values is
        return out, (str(err).splitlines() or [type(err).__name__])[0], None
    if c is None:
        return out, "one of them has no FID", None
    lo, hi = c["ci95"] if c["ci95"] else (nan, nan)
    verdict = {"A better": "multi-task better", "B better": "task-specific better"}.get(c["verdict"], c["verdict"])
    out.update(fid_diff=c["difference"], fid_diff_lo=lo, fid_diff_hi=hi, fid_diff_verdict=verdict)
    return out, "", c


def order(e: Evaluation) -> tuple:
    """Table 7's order: JPEG, inpainting, colorization sets; the task-specific row above the multi-task one."""
    return (eval_set_rank(MULTI.name, e.cfg.eval_set), is_multi(e))


def difference_text(frame: pd.DataFrame) -> list[str]:
    """The shown difference: value [95% interval] and verdict, with the table's FID decimals."""
    from palette_bench.report.render import decimals

    d = decimals(pd.concat([frame["fid"], frame["fid_diff"]]))
    out = []
    for v, lo, hi, verdict in frame[["fid_diff", "fid_diff_lo", "fid_diff_hi", "fid_diff_verdict"]].itertuples(index=False):
        if pd.isna(v):
            out.append("")
            continue
        interval = "" if pd.isna(lo) else f" [{lo:.{d}f}, {hi:.{d}f}]"
        out.append(f"{v:+.{d}f}{interval} {verdict}")
    return out


def untested_line(untested: dict[str, str]) -> list[str]:
    if not untested:
        return []
    return ["Paired difference not computed: " + "; ".join(f"{s} ({why})" for s, why in untested.items()) + "."]


def build_table(group: Group):
    """The Table 7 layout table of one group (a palette_bench.report.tables.Table)."""
    from palette_bench.report.footer import footer
    from palette_bench.report.tables import Table, build_frame

    untested: dict[str, str] = {}
    paired: list[tuple[str, dict]] = []

    def extra_of(e: Evaluation) -> dict:
        values, why, c = paired_difference(e, group)
        if why:
            untested[f"{e.cfg.eval_set}, seed {e.cfg.seed}"] = why
        if c:
            paired.append((f"{e.cfg.eval_set}, multi - specialist" + (f" seed {e.cfg.seed}" if e.cfg.seed else ""), c))
        return values

    frame, tests = build_frame(group.evaluations, lambda e: LABELS[is_multi(e)], METRICS, extra_of, order)
    frame[DIFFERENCE] = difference_text(frame)
    frame["fid_diff_verdict"] = frame["fid_diff_verdict"].replace("", np.nan)
    lines = footer(group.evaluations, frame, tests, paired)
    lines[-1:-1] = [
        f"{DIFFERENCE}: on each multi-task row, its FID minus the task-specific model's on the same inputs, with the paired bootstrap interval; a verdict only when that interval excludes 0.",
        *untested_line(untested),
        PAPER,
    ]
    title = f"{TITLE}: {describe_split(group.evaluations[0].table_key)}"
    return Table(group.stem, title, frame, "model", METRICS, notes=group.notes, footer=lines, trailing=(DIFFERENCE,))
