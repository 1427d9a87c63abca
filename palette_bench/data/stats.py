"""Coverage statistics and a digest of an evaluation set's conditions (`palette-bench data stats`)."""

from __future__ import annotations

from collections import defaultdict

from palette_bench.data.evalset import ConditionDigest, EvalSet, iterate


def _summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "coverage_mean": sum(values) / len(values) if values else float("nan"),
        "coverage_min": min(values, default=float("nan")),
        "coverage_max": max(values, default=float("nan")),
    }


def condition_stats(evalset: EvalSet, batch_size: int = 32, workers: int = 0) -> dict:
    """Masked-fraction statistics (1.0 for tasks without a mask), per mask kind too, and the conditions' sha256."""
    digest = ConditionDigest()
    coverages, by_kind, qualities, tasks, bad = [], defaultdict(list), defaultdict(int), defaultdict(int), []
    for batch in iterate(evalset, batch_size, workers):
        bad += batch["bad"]
        if not len(batch["index"]):
            continue
        digest.update(batch)
        masks = batch["mask"]
        for j, meta in enumerate(batch["meta"]):
            c = 1.0 if masks is None else float(masks[j].mean())
            coverages.append(c)
            if "mask_kind" in meta:
                by_kind[meta["mask_kind"]].append(c)
            if "quality" in meta:
                qualities[meta["quality"]] += 1
            if "task" in meta:  # the multi-task model's training draws
                tasks[meta["task"]] += 1
    out = {
        "protocol": evalset.protocol.name,
        "task": evalset.task.name,
        "eval_set": evalset.eval_set,
        "size": evalset.protocol.image_size,
        **_summary(coverages),
        "digest": digest.hexdigest(),
        "skipped_bad_files": len(bad),
    }
    if by_kind:
        out["by_kind"] = {k: _summary(v) for k, v in sorted(by_kind.items())}
    if qualities:
        out["jpeg_quality_counts"] = {str(q): c for q, c in sorted(qualities.items())}
    if tasks:
        out["task_counts"] = dict(sorted(tasks.items()))
    if bad:
        out["bad_files"] = bad
    return out
