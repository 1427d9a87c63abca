"""The best value of each column within an evaluation set, and whether the data show it is better than the runner-up.

Two methods' own 95% intervals can overlap while one is better on nearly every input, so the mark
rests on the paired comparison of the two evaluations (palette_bench/compare.py): significant when
the paired interval of best - runner-up excludes 0. When that comparison cannot be made (arrays or
the cached reference missing, different inputs, a mean over seeds) the answer is "not tested", with
the reason, and never inferred from the separate intervals.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import pandas as pd

from palette_bench.compare import HIGHER_IS_BETTER

SIGNIFICANT, NOT_SIGNIFICANT, NOT_TESTED = "yes", "no", "not tested"


class Test(NamedTuple):
    """The significance test of one column's best value within one evaluation set."""

    metric: str
    eval_set: str
    best: str  # row names
    runner_up: str
    flag: str  # SIGNIFICANT, NOT_SIGNIFICANT or NOT_TESTED
    why: str  # why it was not tested ("" if it was)
    comparison: dict | None  # compare()'s entry for the metric: interval, replicates, Monte-Carlo error


def significance(best_dir: str, runner_up_dir: str, metric: str) -> tuple[str, str, dict | None]:
    """(yes / no / not tested, the reason it was not tested, compare's entry) for best - runner-up by the paired bootstrap."""
    from palette_bench.compare import compare

    try:
        result = compare(best_dir, runner_up_dir, (metric,))
    except Exception as e:  # any failure to compare is reported as untested with its reason, never guessed over
        return NOT_TESTED, (str(e).splitlines() or [type(e).__name__])[0], None
    entry = result["metrics"].get(metric)
    if entry is None:
        return NOT_TESTED, result["skipped"].get(metric, "the comparison has no result for it"), None
    return (SIGNIFICANT if entry["verdict"] == "A better" else NOT_SIGNIFICANT), "", entry


def mark_best(frame: pd.DataFrame, metrics: tuple[str, ...], column: Callable[[str], str]) -> list[Test]:
    """Fill the `_best` and `_sig` columns in place; returns the test of each best value, made or not.

    The contenders of an evaluation set are the rows of methods with one seed and the mean rows of
    methods with several. A column with fewer than two values has no best.
    """
    tests = []
    singles = frame.groupby(["eval_set", "method", "variant"], sort=False)["row"].transform("size") == 1
    contender = singles | (frame["row"] != "seed")
    for m in metrics:
        c = column(m)
        frame[f"{c}_best"] = False
        frame[f"{c}_sig"] = ""
        for eval_set in frame["eval_set"].unique():
            rows = frame[contender & (frame["eval_set"] == eval_set) & frame[c].notna()]
            if len(rows) < 2:
                continue
            ranked = rows[c].sort_values(ascending=m not in HIGHER_IS_BETTER, kind="stable")
            best, runner_up = ranked.index[0], ranked.index[1]
            frame.loc[rows.index[rows[c] == ranked.iloc[0]], f"{c}_best"] = True
            if frame.at[best, "row"] != "seed" or frame.at[runner_up, "row"] != "seed":
                flag, why, entry = NOT_TESTED, "a mean over seeds has no paired comparison", None
            else:
                flag, why, entry = significance(frame.at[best, "eval_dir"], frame.at[runner_up, "eval_dir"], m)
            frame.loc[frame[f"{c}_best"] & (frame["eval_set"] == eval_set), f"{c}_sig"] = flag
            tests.append(Test(m, eval_set, frame.at[best, "variant"], frame.at[runner_up, "variant"], flag, why, entry))
    return tests


__all__ = ["NOT_SIGNIFICANT", "NOT_TESTED", "SIGNIFICANT", "Test", "mark_best", "significance"]
