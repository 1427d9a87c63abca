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

Replicate r resamples the same inputs in every comparison (one seeded stream, bootstrap.resamples),
so an evaluation's replicates of a set-level metric do not depend on what it is compared with:
they are computed once per evaluation and kept (compare_cache.py), and a paired replicate of
A - B is the difference of A's and B's. FID's replicates, by far the most expensive, are drawn in
blocks until their Monte-Carlo error is small (FID_RULE); every other metric gets `replicates`.
A finished comparison is kept too, keyed by the content of every file it read.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from palette_bench import compare_cache as cache
from palette_bench import modern_metrics as mm
from palette_bench.metrics import bootstrap as bs

# A verdict is read off the interval's 2.5% tails where they approach 0: 100 replicates leave
# 2-3 replicates in each tail, so the end point jumps from one seed to the next; 1000 leave 25.
REPLICATES = 1000
LOWER_IS_BETTER = ("fid", "kid", "pd", "lpips", "div_msssim", *mm.LOWER_IS_BETTER)
HIGHER_IS_BETTER = ("is", "ca_top1", "ca_top5", "psnr", "psnr_mask", "ssim", "ssim_mask", "div_lpips", *mm.HIGHER_IS_BETTER)
SET_METRICS = ("fid", "is", "kid", *mm.MODERN)  # recomputed from features on each replicate
METRICS = ("fid", "is", "kid", "pd", "ca_top1", "ca_top5", "lpips", "psnr", "psnr_mask", "ssim", "ssim_mask", "div_msssim", "div_lpips", *mm.MODERN)
GROUPS = {"ca": ("ca_top1", "ca_top5"), "psnr": ("psnr", "psnr_mask"), "ssim": ("ssim", "ssim_mask"), "diversity": ("div_msssim", "div_lpips"), "prdc": mm.PRDC}
SAME_INPUTS = ("protocol", "task", "eval_set", "image_size", "n")
# One FID replicate at n = 10,000 in 2,048 dimensions is a covariance and a 2048 x 2048 eigensolve,
# seconds on a CPU; how many are drawn is decided by their Monte-Carlo error (capped by `replicates`).
FID_RULE = bs.MonteCarloRule()


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


def paired_means(xa: np.ndarray, xb: np.ndarray, replicates: int, seed: int) -> tuple[float, float, float, np.ndarray | None, int]:
    """Means of per-input values over the inputs where both are finite, the mean difference, its paired replicates, and how many inputs were left out.

    An input is left out of both sides when either side is not finite (the infinite PSNR of an
    output identical to its original): each side's mean over its own finite inputs would compare
    different inputs. A replicate averages over the drawn inputs that are kept. The difference and
    its replicates are both means of per-input differences, so that where the replicates reach
    exactly the difference's value (counts of 0/1 values), the interval's end does too.
    """
    kept = np.isfinite(xa) & np.isfinite(xb)
    diff = np.where(kept, xa - xb, 0.0)
    va, vb, d = (float(x[kept].mean()) if kept.any() else float("nan") for x in (xa, xb, diff))
    n = len(kept)
    if replicates <= 0 or n < 2:
        return va, vb, d, None, int(n - kept.sum())
    idx = bs.resamples(n, replicates, seed)
    with np.errstate(invalid="ignore", divide="ignore"):  # a replicate that draws no kept input is NaN, and ignored
        reps = diff[idx].sum(axis=1) / kept[idx].sum(axis=1)
    return va, vb, d, reps[np.isfinite(reps)], int(n - kept.sum())


# Why a per-input metric is not finite for an input, as the table says it.
LEFT_OUT_WHY = {
    "psnr": "infinite PSNR on one side: an output identical to its original",
    "div_lpips": "no diversity samples on one side: only the first sample.diversity_n inputs have several",
    "div_msssim": "no diversity samples on one side: only the first sample.diversity_n inputs have several",
}


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
    arrays_path: Path  # the eval_arrays.npz they were read from

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
    return Evaluation(path, result, arrays, arrays_path)


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
    for space in ("dinov2", "clip"):
        if any(_space(a, name) == space for name in names):
            ka = ((a.result.get("references") or {}).get(space) or {}).get("cache_key")
            kb = ((b.result.get("references") or {}).get(space) or {}).get("cache_key")
            if ka != kb:
                raise CompareError(f"A and B were evaluated against different {space} reference sets: cache key {str(ka)[:12]}… vs {str(kb)[:12]}…")
    ra, rb = a.result.get("reference"), b.result.get("reference")
    if ra and rb and (set(names) & {"fid", "kid", "pd"} or any(_space(a, name) == "pool" for name in names if name in mm.PRDC)):
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


def _reference_path(result: dict, space: str = "pool") -> Path:
    """The cached reference features (of the protocol's network, or of a ViT space: dinov2, clip) under the evaluation's cache key, or a one-line error saying how to recreate them."""
    from palette_bench.metrics.reference import cache_root

    ref = (result.get("reference") if space == "pool" else (result.get("references") or {}).get(space)) or {}
    key = ref.get("cache_key")
    if not key:
        raise CompareError(f"the reference was given as a statistics file ({ref.get('source')}), not cached under a key; compare without fid,kid (--metrics)")
    path = cache_root() / "reference" / f"{key}.npz"
    if not path.is_file():
        raise CompareError(f"reference features {key[:12]}… are not in {path.parent}: evaluate A or B again to recreate them (palette-bench eval --run RUN_DIR), or compare without fid,kid (--metrics)")
    return path


@lru_cache(maxsize=1)
def _load_reference(path: str, sha256: str):
    from palette_bench.metrics.reference import load_npz

    return load_npz(path)


def _reference(result: dict, space: str = "pool"):
    """The cached reference features of the evaluation (read once per process)."""
    path = _reference_path(result, space)
    return _load_reference(str(path), cache.file_sha256(path))


def _space(e: "Evaluation", name: str) -> str | None:
    """The feature array a set-level metric reads, which is also the space of its reference; None: no reference (IS, SWD)."""
    if name in ("is", "swd"):
        return None
    if name == "fd_dinov2":
        return "dinov2"
    if name == "cmmd":
        return "clip"
    if name in mm.PRDC:
        return mm.arrays_space(e.arrays)
    return "pool"


@lru_cache(maxsize=2)
def _frechet(path: str, sha256: str):
    """FID against one reference, its square root computed once per process."""
    from palette_bench.metrics.fid import FrechetToReference

    ref = _load_reference(path, sha256)
    return FrechetToReference(ref.mu, ref.sigma)


def _set_statistic(name: str, x: np.ndarray, ref) -> tuple[float, Callable[[np.ndarray], float]]:
    """A set-level metric of one method's feature rows `x`, as evaluate.py computes it, and its statistic on resampled rows."""
    from palette_bench.evaluate import KID_SUBSETS_PER_REPLICATE
    from palette_bench.metrics.fid import FrechetToReference
    from palette_bench.metrics.inception_score import inception_score
    from palette_bench.metrics.kid import ResampledKID, kid
    from palette_bench.metrics.resampled_is import ResampledInceptionScore

    if name == "fid":
        fid = FrechetToReference(ref.mu, ref.sigma)
        return fid(x), lambda i: fid.fast(x[i])
    if name == "kid":
        return kid(x, ref.features), ResampledKID(x, ref.features, subsets=KID_SUBSETS_PER_REPLICATE)
    return inception_score(x), ResampledInceptionScore(x)


class Replicates:
    """One evaluation's value of a set-level metric (FID, IS, KID) and its bootstrap replicates, computed once and kept.

    Replicate r is the statistic on resample r of `bootstrap.resamples(n, ., seed)`, whatever the
    comparison, so the replicates are stored under the evaluation's arrays, the reference and the
    seed (compare_cache.py) and extended when a comparison needs more of them.
    """

    def __init__(self, e: Evaluation, name: str, seed: int):
        self.e, self.name, self.seed = e, name, seed
        self.space = _space(e, name)
        self.source = "logits" if name == "is" else self.space
        self.n = len(e.arrays["index"])
        self.reference = None if self.space is None else _reference_path(e.result, self.space)
        material = {"replicates": name, "seed": seed, "arrays": cache.file_sha256(e.arrays_path)}
        if self.reference is not None:
            material["reference"] = cache.file_sha256(self.reference)
        self.path = cache.replicates_path(material)
        self.value, self.values = cache.load_replicates(self.path) or (None, np.empty(0))
        self._compute = None

    def full(self) -> float:
        """The metric on all inputs, as evaluate.py computes it."""
        if self.value is None:
            self.value = self._statistic()[0]
            cache.save_replicates(self.path, self.value, self.values)
        return self.value

    def first(self, count: int) -> np.ndarray:
        """Replicates 0..count-1, computing and storing those not yet kept."""
        have = len(self.values)
        if have < count:
            self.values = np.concatenate([self.values, self._statistic()[1](have, count)])
            cache.save_replicates(self.path, self.full(), self.values)
        return self.values[:count]

    def _statistic(self) -> tuple[float, Callable[[int, int], np.ndarray]]:
        """(value, replicates start..stop-1), built on first use: loading the reference and the FID set-up cost seconds."""
        if self._compute is None:
            x = self.e.arrays[self.source] if self.source else None
            if self.name == "fid":
                from palette_bench.metrics.fid import FrechetReplicates

                sha = cache.file_sha256(self.reference)
                fid = _frechet(str(self.reference), sha)
                value = fid(x) if self.value is None else self.value
                counted = FrechetReplicates(x, fid.mu_ref, fid.sigma_ref, sqrt_ref=fid.sqrt_ref)
                self._compute = (value, lambda start, stop: counted(bs.resample_counts(self.n, start, stop, self.seed)))
            elif self.name in mm.MODERN:
                ref = None if self.reference is None else _reference(self.e.result, self.space)
                value, stat = mm.statistic(self.name, self.e.arrays, None if ref is None else ref.features, self.e.metrics[self.name]["value"])
                value = value if self.value is None else self.value
                self._compute = (value, lambda start, stop: np.array([stat(i) for i in bs.resamples(self.n, stop, self.seed)[start:]]))
            else:
                ref = None if self.reference is None else _reference(self.e.result)
                value, stat = _set_statistic(self.name, x, ref)
                value = value if self.value is None else self.value
                self._compute = (value, lambda start, stop: np.array([stat(i) for i in bs.resamples(self.n, stop, self.seed)[start:]]))
        return self._compute


def _set_metric(a: Evaluation, b: Evaluation, name: str, replicates: int, seed: int, adaptive: bool) -> dict:
    """A set-level metric's values, paired difference, interval, replicate count and the interval's Monte-Carlo error."""
    ra, rb = Replicates(a, name, seed), Replicates(b, name, seed)
    va, vb = ra.full(), rb.full()
    out = {"a": va, "b": vb, "difference": va - vb, "ci": None, "replicates": 0, "mc_se": None}
    if replicates <= 0 or ra.n < 2:
        return out
    if name == "fid" and adaptive:
        rule = dataclasses.replace(FID_RULE, cap=replicates)
        ci, count, se = bs.adaptive_interval(lambda k: ra.first(k) - rb.first(k), va - vb, rule)
    else:
        diffs = ra.first(replicates) - rb.first(replicates)
        ci, count, se = bs.percentile_interval(diffs, va - vb), replicates, bs.interval_mc_se(diffs)
    return {**out, "ci": ci, "replicates": count, "mc_se": se}


def _input_metric(xa: np.ndarray, xb: np.ndarray, replicates: int, seed: int) -> dict:
    va, vb, d, reps, left_out = paired_means(xa, xb, replicates, seed)
    out = {"a": va, "b": vb, "difference": d, "ci": None, "replicates": 0, "mc_se": None, "left_out": left_out}
    if reps is not None and len(reps):
        out.update(ci=bs.percentile_interval(reps, d), replicates=len(reps), mc_se=bs.interval_mc_se(reps))
    return out


def compare(a_dir: str | Path, b_dir: str | Path, metrics: tuple[str, ...] | None = None, replicates: int = REPLICATES, seed: int = bs.SEED, adaptive: bool = True) -> dict:
    """Per metric: A's and B's values, the difference A - B, its paired 95% interval and the verdict.

    `replicates` bootstrap replicates for every metric but FID; with `adaptive`, FID's count is
    chosen by FID_RULE with `replicates` as its cap, else it is `replicates` too. The result of a
    comparison is kept (compare_cache.py) and read back while none of its input files changes.
    """
    pa, pb = locate(a_dir), locate(b_dir)
    material = _cache_material(pa, pb, metrics, replicates, seed, adaptive)
    path = None if material is None else cache.comparison_path(material)
    kept = None if path is None else cache.load_comparison(path)
    if kept is not None:
        return {**kept, "a": str(pa), "b": str(pb)}
    result = _compare(load(pa), load(pb), metrics, replicates, seed, adaptive)
    if path is not None:
        cache.save_comparison(path, result)
    return result


def _cache_material(pa: Path, pb: Path, metrics, replicates: int, seed: int, adaptive: bool) -> dict | None:
    """What a comparison's numbers depend on, by content; None when an input file is missing (then load() says which)."""
    from palette_bench.run import ARRAYS

    material = {"metrics": None if metrics is None else list(metrics), "replicates": replicates, "seed": seed, "rule": dataclasses.asdict(FID_RULE) if adaptive else None}
    try:
        for side, path in (("a", pa), ("b", pb)):
            result = json.loads(path.read_text())
            material[side] = [cache.file_sha256(path), cache.file_sha256(path.parent / result.get("arrays", ARRAYS))]
        material["reference"] = cache.file_sha256(_reference_path(json.loads(pa.read_text())))
    except CompareError:  # no cached reference: comparisons without FID and KID are still kept
        material["reference"] = None
    except (OSError, ValueError, AttributeError):
        return None
    return material


def _compare(a: Evaluation, b: Evaluation, metrics: tuple[str, ...] | None, replicates: int, seed: int, adaptive: bool) -> dict:
    skipped: dict[str, str] = {}
    names = _select(a, b, metrics, skipped)
    check_comparable(a, b, names)
    if set(names) & {"fid", "kid"}:
        _reference_path(a.result)  # a missing reference is an error before anything is computed
    out = {}
    for name in names:
        if name in SET_METRICS:
            m = _set_metric(a, b, name, replicates, seed, adaptive)
        else:
            m = _input_metric(a.arrays[name], b.arrays[name], replicates, seed)
            if not (np.isfinite(m["a"]) and np.isfinite(m["b"])):
                skipped[name] = "no finite per-input values"
                continue
        ci = m["ci"]
        out[name] = {
            "a": float(m["a"]),
            "b": float(m["b"]),
            "difference": float(m["difference"]),
            "ci95": None if ci is None else [float(ci[0]), float(ci[1])],
            "better": "higher" if name in HIGHER_IS_BETTER else "lower",
            "verdict": verdict(name, ci),
            "verified": bool(a.metrics[name]["verified"] and b.metrics[name]["verified"]),
            "replicates": int(m["replicates"]),
            "mc_se": None if m["mc_se"] is None else [float(m["mc_se"][0]), float(m["mc_se"][1])],
            **({"left_out": m["left_out"]} if m.get("left_out") else {}),
        }
    r = a.result
    return {
        "a": str(a.path),
        "b": str(b.path),
        **inputs(r),
        "feature_space": r.get("feature_space"),
        "reference": (r.get("reference") or {}).get("cache_key"),
        "replicates": replicates,
        "fid_rule": dataclasses.replace(FID_RULE, cap=replicates).describe() if adaptive else None,
        "seed": seed,
        "metrics": out,
        "skipped": skipped,
    }


def table(result: dict) -> str:
    """The comparison as text: one row per metric, with its replicates and the Monte-Carlo standard error of its interval's end points."""
    ref = result["reference"]
    fid_rule = result.get("fid_rule") and "fid" in result["metrics"]
    lines = [
        f"A: {result['a']}",
        f"B: {result['b']}",
        f"{result['task']}/{result['eval_set']} of {result['protocol']} at {result['image_size']} px, n={result['n']}, "
        f"{result['feature_space']} features, reference {ref[:12] + '…' if ref else 'none'}; {result['replicates']} paired bootstrap replicates"
        + (" (FID: as many as their Monte-Carlo error needs, below)" if fid_rule else ""),
        f"{'metric':>10} {'better':>6} {'A':>10} {'B':>10} {'A - B':>10}  {'95% interval of A - B':<26} {'reps':>5} {'MC s.e.':>8}  verdict",
    ]
    for name, m in result["metrics"].items():
        ci = "none" if m["ci95"] is None else f"[{m['ci95'][0]:.4g}, {m['ci95'][1]:.4g}]"
        se = "" if m["mc_se"] is None else f"{max(m['mc_se']):.2g}"
        flag = "" if m["verified"] else "  UNVERIFIED WEIGHTS"
        lines.append(f"{name:>10} {m['better']:>6} {m['a']:>10.5g} {m['b']:>10.5g} {m['difference']:>10.4g}  {ci:<26} {m['replicates']:>5} {se:>8}  {m['verdict']}{flag}")
    for name, m in result["metrics"].items():
        if m.get("left_out"):
            lines.append(f"{name:>10}: {m['left_out']} inputs left out of A and B alike ({LEFT_OUT_WHY.get(name, 'not finite on one side')})")
    for name, why in result["skipped"].items():
        lines.append(f"{name:>10}: skipped: {why}")
    lines.append("reps: bootstrap replicates; MC s.e.: the larger Monte-Carlo standard error of the interval's two end points (binomial order-statistic method).")
    if fid_rule:
        lines.append(f"FID replicates: {result['fid_rule']}.")
    return "\n".join(lines)


__all__ = ["FID_RULE", "REPLICATES", "CompareError", "Replicates", "compare", "paired_interval", "table", "verdict"]
