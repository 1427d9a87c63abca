"""Which evaluations share a table, what their rows are called, and which runs form an ablation.

Numbers of different protocols, image sizes or feature spaces (Inception, or a judge with other
weights) are not comparable, so each combination of a task gets its own table, with a note saying
why. Within a table, runs whose configs differ only in `seed` are one method (a row per seed and
their mean); any other difference makes another row, named by the keys that differ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from palette_bench.methods import get_method, method_names
from palette_bench.report.collect import Evaluation
from palette_bench.runconfig import config_hash
from palette_bench.tasks import TASKS, get_task, task_names

REPLICATES = ("seed", "eval_set")  # a row's set and seed: what the rows of one method differ in
MAX_LABEL_KEYS = 3  # more differing keys than this name a variant by preset and config hash


@dataclass
class Group:
    """Evaluations that go in one table."""

    stem: str  # the output files' name without extension
    task: str
    evaluations: list[Evaluation]
    notes: list[str] = field(default_factory=list)  # why the task's runs are split over several tables


@dataclass(frozen=True)
class Ablation:
    """A study of the paper: runs that differ only in one config key (and seed), in a table of their own."""

    name: str  # file suffix
    key: str  # the dotted config key the runs differ in
    column: str  # the header of the column holding its value
    title: str
    metrics: tuple[str, ...]
    methods: tuple[str, ...] | None = None  # None: any method with a network
    parameters: bool = False  # a parameter-count column
    default: str = ""  # the paper's default value: every other row is compared with it, paired


ABLATIONS = (
    Ablation("l1-vs-l2", "diffusion.loss", "loss", "L1 vs L2 loss (paper Table 6 layout)", ("fid", "pd", "div_msssim", "div_lpips"), methods=("palette",), default="l2"),
    Ablation("attention", "model.attention", "attention", "attention variants (paper Table 5 layout)", ("fid", "is", "pd", "ca_top1"), parameters=True, default="global"),
)


def method_label(e: Evaluation) -> str:
    """The method's name in tables: the registry name, or the name an external method was given."""
    return e.cfg.name or e.cfg.method


def method_rank(e: Evaluation) -> int:
    names = method_names()
    return names.index(e.cfg.method) if e.cfg.method in names else len(names)


def eval_set_rank(task: str, eval_set: str) -> tuple:
    sets = get_task(task).eval_sets if task in task_names() else ()
    return (sets.index(eval_set), "") if eval_set in sets else (len(sets), eval_set)


def flatten(d: dict, prefix: str = "") -> dict:
    """{"diffusion": {"loss": "l2"}} -> {"diffusion.loss": "l2"}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _safe(text: str) -> str:
    """A file-name part (also safe in LaTeX's \\input): letters, digits and dashes."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", str(text)).strip("-") or "x"


def task_groups(evaluations: list[Evaluation]) -> list[Group]:
    """One group per task and comparable setting (Evaluation.table_key), tasks in the paper's order (Tables 1-4)."""
    groups = []
    for task in sorted({e.cfg.task for e in evaluations}, key=lambda t: (list(TASKS).index(t) if t in TASKS else len(TASKS), t)):
        mine = [e for e in evaluations if e.cfg.task == task]
        keys = sorted({e.table_key for e in mine})
        if len(keys) == 1:
            groups.append(Group(_safe(task), task, mine))
            continue
        stems = split_stems(task, keys)
        note = split_note(task, keys, stems)
        for k in keys:
            groups.append(Group(stems[k], task, [e for e in mine if e.table_key == k], [note]))
    return groups


# the parts of Evaluation.table_key, what they are called, and how a file name shows them; the same
# feature network name with other weights (a judge trained otherwise) is another space
PARTS = (
    ("protocol", lambda v: _safe(v)),
    ("image size", lambda v: f"{v}px"),
    ("feature space", lambda v: _safe(v)),
    ("feature network weights", lambda v: _safe(v[:8])),
    ("number of inputs", lambda v: f"n{v}"),
    ("reference set", lambda v: f"ref{_safe(v[:8])}"),
)
ALWAYS_NAMED = 3  # protocol, size and space are in every split table's name; the others where they tell tables apart


def split_stems(task: str, keys: list[tuple]) -> dict:
    """File names of a task's tables: task, protocol, size and space, then weights, n and reference where those differ among tables otherwise alike."""
    stems = {}
    for k in keys:
        parts = [_safe(task)] + [show(k[i]) for i, (_, show) in enumerate(PARTS[:ALWAYS_NAMED])]
        for i in range(ALWAYS_NAMED, len(PARTS)):
            if len({o[i] for o in keys if o[:i] == k[:i]}) > 1:
                parts.append(PARTS[i][1](k[i]))
        stems[k] = "-".join(parts)
    return stems


def describe_split(key: tuple) -> str:
    """A table's setting in words: protocol, size, features, and (with Evaluation.table_key) n and the reference."""
    protocol, size, space, sha = key[:4]
    text = f"{protocol} at {size} px in {space} features" + (f" (weights {sha[:8]})" if sha else "")
    if len(key) > 4:
        n, reference = key[4:6]
        text += f", n={n}" + (f", reference {reference[:8]}" if reference else "")
    return text


def split_note(task: str, keys: list[tuple], stems: dict) -> str:
    """Why a task's runs are in several tables (one line)."""
    differ = [name for i, (name, _) in enumerate(PARTS) if len({k[i] for k in keys}) > 1]
    if "feature space" in differ and "feature network weights" in differ:
        differ.remove("feature network weights")  # another space has other weights: saying so adds nothing
    return (
        f"{task}: the runs differ in {' and '.join(differ)} ({'; '.join(describe_split(k) for k in keys)}); "
        f"numbers of different protocols, image sizes, feature spaces, numbers of inputs or reference sets are not comparable (FID rises as n falls), "
        f"so each has its own table: {', '.join(stems[k] for k in keys)}"
    )


def _value(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def variant_labels(evaluations: list[Evaluation]) -> dict[str, str]:
    """Row names: the method, and where a method has several configs, the keys that tell them apart."""
    by_method: dict[str, dict[str, Evaluation]] = {}
    for e in evaluations:
        by_method.setdefault(method_label(e), {}).setdefault(e.key(*REPLICATES), e)
    labels = {}
    for name, variants in by_method.items():
        if len(variants) == 1:
            labels.update({k: name for k in variants})
            continue
        flat = {k: flatten(e.identity(*REPLICATES)) for k, e in variants.items()}
        keys = sorted({key for f in flat.values() for key in f if len({_value(g.get(key)) for g in flat.values()}) > 1})
        for k, e in variants.items():
            if len(keys) <= MAX_LABEL_KEYS:
                labels[k] = f"{name} ({', '.join(f'{key}={_value(flat[k].get(key))}' for key in keys)})"
            else:
                labels[k] = f"{name} ({e.cfg.preset}, config {config_hash(e.identity(*REPLICATES))})"
    return labels


def ablation_groups(group: Group, ablation: Ablation) -> list[Group]:
    """The sets of runs in `group` that differ only in ablation.key (and seed), with at least two of its values."""
    def eligible(e: Evaluation) -> bool:
        if ablation.methods is not None:
            return e.cfg.method in ablation.methods
        return get_method(e.cfg.method).network(e.cfg) is not None

    buckets: dict[str, list[Evaluation]] = {}
    for e in group.evaluations:
        if eligible(e):
            buckets.setdefault(e.key(*REPLICATES, ablation.key), []).append(e)
    found = [(k, b) for k, b in sorted(buckets.items()) if len({_value(flatten(e.config).get(ablation.key)) for e in b}) > 1]
    out = []
    for k, members in found:
        stem = f"{group.stem}-{ablation.name}"
        if len(found) > 1:
            stem += f"-{config_hash(json.loads(k))}"
        out.append(Group(stem, group.task, members, group.notes))
    return out


def ablation_value(e: Evaluation, ablation: Ablation) -> str:
    return _value(flatten(e.config).get(ablation.key))
