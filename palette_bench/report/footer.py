"""The lines under every table: what was measured, how, on what, and by which version of the code.

A number without its protocol, feature space and sample counts cannot be compared with another,
so the footer names them; it holds nothing that changes between two reports of the same run
folders (no dates), so that a report regenerates byte for byte.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from functools import lru_cache
from pathlib import Path

import pandas as pd

from palette_bench.compare import FID_RULE, REPLICATES
from palette_bench.methods import get_method
from palette_bench.report.best import NOT_TESTED, Test
from palette_bench.report.collect import Evaluation
from palette_bench.runconfig import departures_from_paper

FEATURE_SPACES = {"judge": "the builtin judge", "inception": "Inception"}


@lru_cache(maxsize=1)
def version() -> str:
    """palette-bench's version and the short commit of the code that made the report ("unknown" outside its git checkout)."""
    import palette_bench

    try:
        v = importlib.metadata.version("palette-bench")
    except importlib.metadata.PackageNotFoundError:
        v = "unknown"

    def git(*args):
        return subprocess.run(["git", *args], cwd=Path(palette_bench.__file__).parent, capture_output=True, text=True, timeout=10)

    commit = "unknown"
    try:
        # only the repository that tracks this package: an installed copy may sit inside someone else's
        if git("ls-files", "--error-unmatch", "__init__.py").returncode == 0:
            commit = git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"palette-bench {v}, commit {commit}"


def _listing(values: list) -> str:
    return ", ".join(str(v) for v in values)


def features(evaluations: list[Evaluation]) -> str:
    """The feature space with its weights' sha256 prefix; UNVERIFIED when any metric's weights did not match."""
    spaces = sorted({e.space for e in evaluations})
    parts = [f"{FEATURE_SPACES.get(space, space)} (weights sha256 {sha[:12]})" if sha else FEATURE_SPACES.get(space, space) for space, sha in spaces]
    # other extractors than the feature network: ResNet-50 for CA and AlexNet for LPIPS in Inception mode
    others = sorted({(m["extractor"].split(" (")[0], m["weights_sha256"]) for e in evaluations for m in e.result.get("metrics", {}).values() if m.get("weights_sha256") and m["weights_sha256"] not in {sha for _, sha in spaces}})
    line = f"Feature space: {'; '.join(parts)}"
    if others:
        line += "; also " + "; ".join(f"{name} (weights sha256 {sha[:12]})" for name, sha in others)
    unverified = any(not m.get("verified", True) for e in evaluations for m in e.result.get("metrics", {}).values())
    return line + (". UNVERIFIED weights: some weights files did not match their sha256." if unverified else ".")


def _per_variant(frame: pd.DataFrame, text) -> str:
    """One phrase if every row agrees, else one per row name."""
    rows = frame[frame["row"] == "seed"]
    phrases = {v: text(r) for v, r in zip(rows["variant"], rows.itertuples(index=False))}
    if len(set(phrases.values())) == 1:
        return next(iter(phrases.values()))
    return "; ".join(f"{v}: {p}" for v, p in phrases.items())


def _samples(r) -> str:
    text = f"{r.samples_per_input} sample{'s' if r.samples_per_input != 1 else ''} per input"
    if r.samples_per_input > 1:
        text += f" (diversity on the first {r.diversity_inputs})" if r.diversity_inputs < r.n else " (diversity on every input)"
    return text


def sampler(e: Evaluation) -> str:
    """A stochastic method's parameterization and sampler, as the paper's readers need them to compare."""
    s = e.cfg.sample
    text = f"predicts {e.cfg.diffusion.parameterization}; {s.sampler} sampler, {s.steps} steps, {s.schedule} schedule"
    if s.sampler == "ddim" and s.eta:
        text += f", eta {s.eta:g}"
    if s.sampler == "heun" and s.churn:
        text += f", churn {s.churn:g}"
    return text + ("" if s.use_ema else ", raw (non-EMA) weights")


def departures(e: Evaluation) -> str:
    """A stochastic method's departures from the paper's recipe (runconfig.RECIPE_KEYS), each a named setting."""
    found = departures_from_paper(e.cfg)
    if not found:
        return "the paper's recipe"
    shown = lambda v: json.dumps(v) if isinstance(v, str) else v  # "paper" is a value (uniform t), not the word: quote strings
    return "departs from the paper's recipe in " + ", ".join(f"{key} = {shown(mine)} (paper: {shown(paper)})" for key, mine, paper in found)


def _untested(tests: list[Test]) -> list[str]:
    """One phrase per comparison and reason, naming its metrics: the same missing file explains many columns."""
    by_reason: dict[tuple, list[str]] = {}
    for t in tests:
        if t.flag == NOT_TESTED:
            by_reason.setdefault((t.eval_set, t.best, t.runner_up, t.why), []).append(t.metric)
    return [f"{', '.join(metrics)} on {eval_set} ({best} vs {runner_up}): {why}" for (eval_set, best, runner_up, why), metrics in by_reason.items()]


def monte_carlo(tests: list[Test], paired: list[tuple[str, dict]] = ()) -> list[str]:
    """How many replicates each paired FID interval got and the Monte-Carlo standard error of its end points.

    FID's replicate count is chosen by that error (compare.FID_RULE), so it is stated with every
    interval it decided: the best value's test against the runner-up, and `paired` (label, compare's
    entry), the table's shown FID differences.
    """
    shown = [(f"{t.eval_set}, {t.best} vs {t.runner_up}", t.comparison) for t in tests if t.metric == "fid" and t.comparison] + list(paired)
    parts = []
    for label, c in shown:
        if c.get("mc_se") and c.get("ci95"):
            se, width = max(c["mc_se"]), c["ci95"][1] - c["ci95"][0]
            share = f" ({se / width:.1%} of the interval's width)" if width > 0 else ""
            parts.append(f"{label}: {c['replicates']} replicates, {se:.2g}{share}")
    if not parts:
        return []
    return ["Paired FID intervals, their replicates and the Monte-Carlo standard error of their end points: " + "; ".join(parts) + "."]


def footer(evaluations: list[Evaluation], frame: pd.DataFrame, tests: list[Test], paired: list[tuple[str, dict]] = ()) -> list[str]:
    """The footer lines of one table; `paired`: the FID comparisons behind a shown difference column (label, compare's entry)."""
    first = evaluations[0]
    protocol, size = first.split[0], first.split[1]
    lines = [
        f"Protocol: {protocol}, {size} px; evaluation sets: {_listing(list(dict.fromkeys(frame['eval_set'])))}.",
        features(evaluations),
        f"Inputs: {_per_variant(frame, lambda r: f'n={r.n}')}; {_per_variant(frame, _samples)}.",
    ]
    seeds = sorted({e.cfg.seed for e in evaluations})
    several = (frame["row"] != "seed").any()
    lines.append(f"Seeds: {_listing(seeds)}" + ("; a method run with several seeds has a row per seed and a row of their mean ± sample sd." if several else "."))
    by_dir = {str(e.eval_dir): e for e in evaluations}
    seen: dict[str, str] = {}
    for label, folder in zip(frame["variant"], frame["eval_dir"]):
        e = by_dir.get(folder)  # None on mean rows
        if e is not None and get_method(e.cfg.method).stochastic:
            seen.setdefault(label, f"{sampler(e)}; {departures(e)}")
    if len(seen) > 1 and len(set(seen.values())) == 1:
        seen = {", ".join(seen): next(iter(seen.values()))}
    lines += [f"{label}: {text}." for label, text in seen.items()]
    lines.append(
        f"[lo, hi]: 95% bootstrap interval over inputs. Best of each column per evaluation set in bold; † when the paired bootstrap interval of best - runner-up excludes 0 "
        f"({REPLICATES} replicates; for FID {FID_RULE.floor} to {REPLICATES}, as many as its Monte-Carlo error needs)."
    )
    lines += monte_carlo(tests, paired)
    if untested := _untested(tests):
        lines.append("Significance not tested: " + "; ".join(untested) + ".")
    lines.append(f"Made by {version()}.")
    return lines

