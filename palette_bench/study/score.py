"""`study score`: fool rate per method with its 95% interval, after screening raters on catch trials.

The fool rate of a method is the share of its trials in which raters picked the output as the camera
image, pooled over the raters kept. Its interval must hold for other raters, and must never look
more certain than the trials allow; it is the union of two intervals (fool_rate_interval):
- a bootstrap over raters, not answers: one rater's answers are not independent of each other (a
  lenient rater is lenient on every trial), and a study's conclusion must hold for other raters;
- Wilson's interval for the pooled share, as if every answer were independent: the least
  uncertainty the trials allow. The bootstrap knows only the raters it has: with a few raters, or
  raters who all fooled at the same rate (0 of 40 each), its resamples hardly vary and it shrinks
  to the share itself, [0, 0], which no number of trials can justify.
Both come from SciPy (stats.bootstrap, stats.binomtest). With one rater there is nothing to
resample, and the interval is Wilson's.

A rater is kept when they answered at least one catch trial and picked the original in at least
`catch.min_correct` of them (study.json). Raters who answered no catch trial cannot be screened and
are left out too; the score says how many of each were left out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

import numpy as np

from palette_bench.io import atomic_write_json
from palette_bench.study import ANSWERS_FILE, SCORES_FILE
from palette_bench.study.answers import read_answers
from palette_bench.study.spec import load_study

RESAMPLES = 2000


def pooled_wilson(picked: np.ndarray, shown: np.ndarray) -> tuple[float, float]:
    """95% Wilson interval of sum(picked) / sum(shown), every answer counted as independent."""
    from scipy import stats

    ci = stats.binomtest(int(picked.sum()), int(shown.sum())).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def rater_bootstrap(picked: np.ndarray, shown: np.ndarray, seed: int) -> tuple[float, float]:
    """95% percentile bootstrap of sum(picked) / sum(shown) that resamples raters (entries), each with all their answers."""
    from scipy import stats

    res = stats.bootstrap(
        (picked, shown),
        lambda k, n, axis=-1: k.sum(axis=axis) / n.sum(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        confidence_level=0.95,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def fool_rate_interval(picked: np.ndarray, shown: np.ndarray, seed: int) -> tuple[float, float, str]:
    """95% interval of sum(picked) / sum(shown), where entry r counts rater r's trials (and outputs picked).

    The union of the bootstrap over raters and the pooled Wilson interval: the bootstrap carries the
    spread between raters, Wilson the binomial spread of the answers themselves, which the bootstrap
    loses with few or like-minded raters. Holding both, the interval covers at least as often as
    either. (A beta-binomial model over raters would join the two in one likelihood, but with the
    two to four raters of a small study its overdispersion cannot be estimated, and at a share of 0
    or 1 its fit sits on the boundary.)"""
    low, high = pooled_wilson(picked, shown)
    if len(shown) == 1:
        return low, high, "Wilson (one rater)"
    boot_low, boot_high = rater_bootstrap(picked, shown, seed)
    return min(low, boot_low), max(high, boot_high), f"bootstrap over {len(shown)} raters ({RESAMPLES} resamples) or pooled Wilson, whichever is wider on each side"


def score_study(study_dir, write: bool = True) -> dict:
    """The study's scores (and, with `write`, scores.json in the study folder, written atomically)."""
    study = load_study(study_dir)
    trials = study.by_id
    answers = read_answers(study.folder / ANSWERS_FILE)
    unknown = sorted({a.trial for a in answers} - set(trials))
    if unknown:
        raise ValueError(f"{study.folder / ANSWERS_FILE}: answers to trials study.json does not hold ({', '.join(unknown[:5])}); this database belongs to another study")
    by_rater: dict[str, list] = defaultdict(list)
    for a in answers:
        by_rater[a.rater].append(a)

    screening, kept = {}, []
    for rater, given in sorted(by_rater.items()):
        catch = [a for a in given if trials[a.trial].kind == "catch"]
        correct = sum(trials[a.trial].picked_original(a.choice) for a in catch)
        share = correct / len(catch) if catch else None
        passed = share is not None and share >= study.min_catch_correct
        screening[rater] = {"answers": len(given), "catch_answered": len(catch), "catch_correct": correct, "kept": passed}
        if passed:
            kept.append(rater)
    failed = sum(1 for s in screening.values() if s["catch_answered"] and not s["kept"])
    unscreened = sum(1 for s in screening.values() if not s["catch_answered"])

    methods = {}
    for m, source in study.methods.items():
        picked, shown, times = [], [], []
        for rater in kept:
            mine = [a for a in by_rater[rater] if trials[a.trial].method == m]
            if mine:
                shown.append(len(mine))
                picked.append(sum(not trials[a.trial].picked_original(a.choice) for a in mine))
                times += [a.response_ms / 1000 for a in mine]
        # created_from goes with the score: report checks it against the run folder's outputs before attaching the fool rate
        entry = {"run": source["run"], "eval_dir": source["eval_dir"], "created_from": source.get("created_from"), "raters": len(shown), "answers": int(sum(shown))}
        if shown:
            k, n = np.array(picked, dtype=np.float64), np.array(shown, dtype=np.float64)
            lo, hi, how = fool_rate_interval(k, n, seed=int(study.data["seed"]))
            entry.update(fool_rate=float(k.sum() / n.sum()), ci95=[lo, hi], interval=how, mean_response_s=float(np.mean(times)))
        else:
            entry.update(fool_rate=None, ci95=None, interval="no answers from kept raters", mean_response_s=None)
        methods[m] = entry

    result = {
        "study": study.folder.name,
        "task": study.data["task"],
        "eval_set": study.data.get("eval_set"),
        "protocol": study.data.get("protocol"),
        "image_size": study.data.get("image_size"),
        "seconds": study.seconds,
        "question": study.question,
        "catch_min_correct": study.min_catch_correct,
        "raters": {"total": len(screening), "kept": len(kept), "failed_catch": failed, "no_catch_answered": unscreened},
        "answers": len(answers),
        "methods": methods,
        "screening": screening,
        "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if write:
        atomic_write_json(study.folder / SCORES_FILE, result)
    return result


def format_scores(result: dict) -> str:
    r = result["raters"]
    lines = [
        f"study {result['study']}: {result['task']}/{result['eval_set']}, shown {result['seconds']:g} s, {result['answers']} answers",
        f"raters: {r['total']}, kept {r['kept']}; left out {r['failed_catch'] + r['no_catch_answered']}: "
        f"{r['failed_catch']} below {result['catch_min_correct']:.0%} correct on catch trials, {r['no_catch_answered']} answered no catch trial",
        "",
        f"{'method':<24} {'fool rate':>10} {'95% interval':>18} {'raters':>7} {'answers':>8} {'mean response':>14}",
    ]
    for m, e in result["methods"].items():
        if e["fool_rate"] is None:
            lines.append(f"{m:<24} {'-':>10} {'-':>18} {e['raters']:>7} {e['answers']:>8} {'-':>14}")
            continue
        lo, hi = e["ci95"]
        lines.append(f"{m:<24} {e['fool_rate']:>9.1%} {f'[{lo:.1%}, {hi:.1%}]':>18} {e['raters']:>7} {e['answers']:>8} {e['mean_response_s']:>12.2f} s")
    intervals = sorted({e["interval"] for e in result["methods"].values()})
    lines += ["", f"interval: {'; '.join(intervals)}. 50% is the ideal: raters cannot tell the output from the photograph."]
    return "\n".join(lines)
