"""Run folders written by hand, as `palette-bench run` lays them out: the input of report and study tests."""

import json

import numpy as np

from palette_bench.config import to_dict
from palette_bench.methods import get_method
from palette_bench.metrics import bootstrap as bs
from palette_bench.run import finalize
from palette_bench.runconfig import resolve

SHA = "3b9f" + "0" * 60
EXTRACTOR = "judge-builtin-64px (test)"


def entry(value, ci=None, sha=SHA, verified=True):
    return {"value": float(value), "ci95": None if ci is None else [float(ci[0]), float(ci[1])], "n": 50, "extractor": EXTRACTOR, "weights_sha256": sha, "verified": verified}


def write_eval(runs, name, metrics, task="uncropping", method="palette", seed=0, eval_set=None, overrides=(), protocol="builtin", space="judge", sha=SHA, n=50, verified=True):
    """A run folder with one evaluation written by hand, as `palette-bench run` lays it out.

    `metrics`: name -> a number (its interval is +-10%) or per-input values (their mean and
    bootstrap interval, and eval_arrays.npz holding them for paired comparisons).
    """
    cfg = finalize(resolve(task, "smoke", list(overrides), method=method, seed=seed, eval_set=eval_set))
    run = runs / name
    run.mkdir(parents=True, exist_ok=True)
    if not (run / "config.json").exists():
        (run / "config.json").write_text(json.dumps(to_dict(cfg)))
    ev = run / "eval" / get_method(method).eval_name(cfg)
    ev.mkdir(parents=True)
    (ev / "config.json").write_text(json.dumps(to_dict(cfg)))
    entries, arrays = {}, {}
    for metric, v in metrics.items():
        if np.ndim(v):
            arrays[metric] = np.asarray(v, float)
            entries[metric] = entry(np.mean(v), bs.mean_ci(v), sha, verified)
        else:
            entries[metric] = entry(v, (0.9 * v, 1.1 * v), sha, verified)
    result = {
        "mode": "protocol", "protocol": protocol, "task": task, "eval_set": cfg.eval_set, "image_size": 32, "n": n,
        "samples_per_input": 2 if get_method(method).stochastic else 1, "diversity_inputs": cfg.sample.diversity_n or n, "feature_space": space,
        "reference": {"source": "builtin reference", "cache_key": "c" * 64, "n": 60}, "metrics": entries, "skipped": {}, "run": {"folder": str(run)},
    }
    if arrays:
        np.savez(ev / "eval_arrays.npz", index=np.arange(n), **arrays)
        result["arrays"] = "eval_arrays.npz"
    (ev / "metrics.json").write_text(json.dumps(result))
    return ev
