"""Paired comparison of two evaluations of the same inputs: does A beat B beyond resampling noise?

Both evaluations are resampled with the SAME bootstrap draws of evaluation inputs, and each
metric's difference A - B is recomputed on every replicate (set-level metrics FID, KID and IS from
the stored features; per-input metrics as differences of means). Easy and hard inputs then weigh
on both methods alike and cancel in the difference, which two separate intervals cannot do: two
methods whose own intervals overlap can still differ consistently on every input. The interval of
the difference uses bootstrap.py's convention, the percentile interval moved so that the
replicates' median sits on the full-sample difference.

Nothing is resampled from images: an evaluation's eval_arrays.npz (written beside metrics.json)
holds the features and per-input values, and the reference features come from the reference cache
under the cache key recorded in metrics.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from palette_bench.metrics import bootstrap as bs

# A verdict is read off the interval's 2.5% tails where they approach 0: 100 replicates leave
# 2-3 replicates in each tail, so the end point jumps from one seed to the next; 1000 leave 25.
REPLICATES = 1000
LOWER_IS_BETTER = ("fid", "kid", "pd", "lpips", "div_msssim")
HIGHER_IS_BETTER = ("is", "ca_top1", "ca_top5", "psnr", "psnr_mask", "ssim", "ssim_mask", "div_lpips")
SET_METRICS = ("fid", "is", "kid")  # recomputed from features on each replicate
METRICS = ("fid", "is", "kid", "pd", "ca_top1", "ca_top5", "lpips", "psnr", "psnr_mask", "ssim", "ssim_mask", "div_msssim", "div_lpips")
GROUPS = {"ca": ("ca_top1", "ca_top5"), "psnr": ("psnr", "psnr_mask"), "ssim": ("ssim", "ssim_mask"), "diversity": ("div_msssim", "div_lpips")}
SAME_INPUTS = ("protocol", "task", "eval_set", "image_size", "n")


class CompareError(ValueError):
    """Two evaluations that cannot be compared, or a comparison that cannot be made; the message is one line."""


def paired_interval(
    stat_a: Callable[[np.ndarray], float],
    stat_b: Callable[[np.ndarray], float],
    n: int,
    replicates: int = REPLICATES,
    seed: int = bs.SEED,
    level: float = 0.95,
    value: float | None = None,
) -> tuple[float, tuple[float, float] | None]:
    """The difference stat_a - stat_b over all n inputs and its paired bootstrap interval.

    Each statistic maps row indices of its own method's inputs to a number; both are evaluated on
    the same resampled indices, and the interval is that of their per-replicate difference.
    `value` replaces the full-sample difference when it is computed by a more exact route than the
    replicates (FID). No interval (None) for fewer than 2 inputs or no replicates.
    """
    full = np.arange(n)
    value = float(stat_a(full) - stat_b(full)) if value is None else float(value)
    if replicates <= 0 or n < 2:
        return value, None
    diffs = np.array([stat_a(i) - stat_b(i) for i in bs.resamples(n, replicates, seed)])
    return value, bs.percentile_interval(diffs, value, level)


def finite_mean(values: np.ndarray) -> float:
    """The mean that metrics.json reports: infinite values (PSNR of identical images) are left out."""
    v = values[np.isfinite(values)]
    return float(v.mean()) if len(v) else float("nan")


def verdict(name: str, ci: tuple[float, float] | None) -> str:
    """'A better' or 'B better' only when the interval of A - B excludes 0, in the metric's direction."""
    if ci is None or ci[0] <= 0 <= ci[1]:
        return "cannot decide"
    a_larger = ci[0] > 0
    return "A better" if a_larger == (name in HIGHER_IS_BETTER) else "B better"


@dataclass
class Evaluation:
    """One evaluation as written by `palette-bench run`: metrics.json and the arrays beside it."""

    path: Path  # the metrics.json
    result: dict
    arrays: dict[str, np.ndarray]

    @property
    def metrics(self) -> dict:
        return self.result["metrics"]


def locate(path: str | Path) -> Path:
    """The metrics.json meant by `path`: the file itself, an eval folder, or a run folder with exactly one eval folder."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / "metrics.json").is_file():
        return path / "metrics.json"
    found = sorted(path.glob("eval/*/metrics.json"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"{path}: no metrics.json, neither in it nor in eval/<name>/ (not an evaluated run or eval folder)")
    raise CompareError(f"{path} has several evaluations; name one: {', '.join(str(p.parent) for p in found)}")


def load(path: str | Path) -> Evaluation:
    from palette_bench.run import ARRAYS

    path = locate(path)
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CompareError(f"{path}: not a JSON file ({e})") from None
    if result.get("mode") != "protocol":
        raise CompareError(f"{path}: not a protocol evaluation (compare needs the evaluation of a method on a protocol's evaluation set)")
    arrays_path = path.parent / result.get("arrays", ARRAYS)
    if "arrays" not in result or not arrays_path.is_file():
        raise CompareError(f"{path}: no {arrays_path.name} beside it (written by evaluations since paired comparisons exist); evaluate again: the same `palette-bench run` command with --stage eval --force")
    with np.load(arrays_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return Evaluation(path, result, arrays)


def _short(text: str) -> str:
    return text.split(" (")[0]


def inputs(result: dict) -> dict:
    """What names an evaluation's inputs; "task" is the task whose inputs they are, so that a multi-task
    model's evaluation of `center` pairs with the inpainting model's (their inputs are identical)."""
    from palette_bench.tasks import get_task, task_names

    out = {key: result.get(key) for key in SAME_INPUTS}
    if out["task"] in task_names() and out["eval_set"]:
        out["task"] = get_task(out["task"]).for_setting(out["eval_set"]).name
    return out


def check_comparable(a: Evaluation, b: Evaluation, names: tuple[str, ...]) -> None:
    """Refuse, naming the first difference, unless A and B evaluated the same inputs in the same feature space against the same reference."""
    sa, sb = inputs(a.result), inputs(b.result)
    for key in SAME_INPUTS:
        if sa[key] != sb[key]:
            raise CompareError(f"A and B were evaluated on different inputs: {key} {sa[key]} vs {sb[key]}")
    ia, ib = a.arrays["index"], b.arrays["index"]
    if not np.array_equal(ia, ib):
        if len(ia) != len(ib):
            raise CompareError(f"A and B were evaluated on different inputs: {len(ia)} vs {len(ib)} evaluation indices (skipped files?)")
        row = int(np.flatnonzero(ia != ib)[0])
        raise CompareError(f"A and B were evaluated on different inputs: evaluation indices differ (row {row}: {ia[row]} vs {ib[row]})")
    for name in names:
        ma, mb = a.metrics[name], b.metrics[name]
        if (ma["extractor"], ma["weights_sha256"]) != (mb["extractor"], mb["weights_sha256"]):
            def space(m):
                return _short(m["extractor"]) + ("" if m["weights_sha256"] is None else f" (weights {m['weights_sha256'][:12]}…)")

            raise CompareError(f"A and B used different feature spaces: {name} by {space(ma)} vs {space(mb)}")
    ra, rb = a.result.get("reference"), b.result.get("reference")
    if ra and rb and set(names) & {"fid", "kid", "pd"}:
        ka, kb = ra.get("cache_key") or ra.get("source"), rb.get("cache_key") or rb.get("source")
        if ka != kb:
            raise CompareError(f"A and B were evaluated against different reference sets: cache key {ka[:12]}… vs {kb[:12]}…")


def _select(a: Evaluation, b: Evaluation, wanted: tuple[str, ...] | None, skipped: dict) -> tuple[str, ...]:
    """The metrics to compare: those asked for (names or groups: ca, psnr, ssim, diversity) that both evaluations hold."""
    if wanted is None:
        wanted = METRICS
    else:
        expanded = []
        for w in wanted:
            if w not in METRICS and w not in GROUPS:
                raise CompareError(f"unknown metric '{w}' (choose from {', '.join(METRICS + tuple(GROUPS))})")
            expanded += GROUPS.get(w, (w,))
        wanted = tuple(dict.fromkeys(expanded))
    names = []
    for name in wanted:
        where = [side for side, e in (("A", a), ("B", b)) if name in e.metrics]
        if len(where) == 1:
            skipped[name] = f"only {where[0]} has it"
        elif len(where) == 2:
            if name.startswith("div_") and a.result["samples_per_input"] != b.result["samples_per_input"]:
                skipped[name] = f"{a.result['samples_per_input']} vs {b.result['samples_per_input']} samples per input"
            elif name.startswith("div_") and not np.array_equal(np.isfinite(a.arrays[name]), np.isfinite(b.arrays[name])):
                skipped[name] = f"samples drawn for different inputs ({a.result.get('diversity_inputs')} vs {b.result.get('diversity_inputs')} inputs with several)"
            else:
                names.append(name)
    return tuple(names)


def _reference(result: dict):
    """The cached reference features under the evaluation's cache key, or a one-line error saying how to recreate them."""
    from palette_bench.metrics.reference import cache_root, load_npz

    ref = result.get("reference") or {}
    key = ref.get("cache_key")
    if not key:
        raise CompareError(f"the reference was given as a statistics file ({ref.get('source')}), not cached under a key; compare without fid,kid (--metrics)")
    path = cache_root() / "reference" / f"{key}.npz"
    if not path.is_file():
        raise CompareError(f"reference features {key[:12]}… are not in {path.parent}: evaluate A or B again to recreate them (palette-bench eval --run RUN_DIR), or compare without fid,kid (--metrics)")
    return load_npz(path)


def _set_statistic(name: str, x: np.ndarray, ref) -> tuple[float, Callable[[np.ndarray], float]]:
    """A set-level metric of one method's feature rows `x`, as evaluate.py computes it, and its statistic on resampled rows."""
    from palette_bench.evaluate import KID_SUBSETS_PER_REPLICATE
    from palette_bench.metrics.fid import FrechetToReference
    from palette_bench.metrics.inception_score import inception_score
    from palette_bench.metrics.kid import ResampledKID, kid

    if name == "fid":
        fid = FrechetToReference(ref.mu, ref.sigma)
        return fid(x), lambda i: fid.fast(x[i])
    if name == "kid":
        return kid(x, ref.features), ResampledKID(x, ref.features, subsets=KID_SUBSETS_PER_REPLICATE)
    return inception_score(x), lambda i: inception_score(x[i])


def compare(a_dir: str | Path, b_dir: str | Path, metrics: tuple[str, ...] | None = None, replicates: int = REPLICATES, seed: int = bs.SEED) -> dict:
    """Per metric: A's and B's values, the difference A - B, its paired 95% interval and the verdict."""
    a, b = load(a_dir), load(b_dir)
    skipped: dict[str, str] = {}
    names = _select(a, b, metrics, skipped)
    check_comparable(a, b, names)
    n = len(a.arrays["index"])
    ref = _reference(a.result) if set(names) & {"fid", "kid"} else None
    out = {}
    for name in names:
        if name in SET_METRICS:
            source = "logits" if name == "is" else "pool"
            (va, stat_a), (vb, stat_b) = (_set_statistic(name, e.arrays[source], ref) for e in (a, b))
            diff, ci = paired_interval(stat_a, stat_b, n, replicates, seed, value=va - vb)
        else:
            xa, xb = a.arrays[name], b.arrays[name]
            va, vb = finite_mean(xa), finite_mean(xb)
            if not (np.isfinite(va) and np.isfinite(vb)):
                skipped[name] = "no finite per-input values"
                continue
            diff, ci = paired_interval(lambda i: finite_mean(xa[i]), lambda i: finite_mean(xb[i]), n, replicates, seed)
        out[name] = {
            "a": float(va),
            "b": float(vb),
            "difference": diff,
            "ci95": None if ci is None else [ci[0], ci[1]],
            "better": "higher" if name in HIGHER_IS_BETTER else "lower",
            "verdict": verdict(name, ci),
            "verified": bool(a.metrics[name]["verified"] and b.metrics[name]["verified"]),
        }
    r = a.result
    return {
        "a": str(a.path),
        "b": str(b.path),
        **inputs(r),
        "feature_space": r.get("feature_space"),
        "reference": (r.get("reference") or {}).get("cache_key"),
        "replicates": replicates,
        "seed": seed,
        "metrics": out,
        "skipped": skipped,
    }


def table(result: dict) -> str:
    """The comparison as text: one row per metric."""
    ref = result["reference"]
    lines = [
        f"A: {result['a']}",
        f"B: {result['b']}",
        f"{result['task']}/{result['eval_set']} of {result['protocol']} at {result['image_size']} px, n={result['n']}, "
        f"{result['feature_space']} features, reference {ref[:12] + '…' if ref else 'none'}; {result['replicates']} paired bootstrap replicates",
        f"{'metric':>10} {'better':>6} {'A':>10} {'B':>10} {'A - B':>10}  {'95% interval of A - B':<24} verdict",
    ]
    for name, m in result["metrics"].items():
        ci = "none" if m["ci95"] is None else f"[{m['ci95'][0]:.4g}, {m['ci95'][1]:.4g}]"
        flag = "" if m["verified"] else "  UNVERIFIED WEIGHTS"
        lines.append(f"{name:>10} {m['better']:>6} {m['a']:>10.5g} {m['b']:>10.5g} {m['difference']:>10.4g}  {ci:<24} {m['verdict']}{flag}")
    for name, why in result["skipped"].items():
        lines.append(f"{name:>10}: skipped: {why}")
    return "\n".join(lines)


__all__ = ["REPLICATES", "CompareError", "compare", "paired_interval", "table", "verdict"]
