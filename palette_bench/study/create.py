"""`study create`: a study folder from run folders, independent of them once written.

Each method trial shows one output (sample 0, the one FID and CA use) beside its original. Every
original appears in one trial only, so no rater sees the same photograph twice and remembers it.
Methods are interleaved in rounds (each round shows every method once, in a fresh random order),
catch trials are spread over the sequence, and the original's side is counterbalanced: within a
method (and within the catch trials) left and right differ by at most one, in a seeded random order.
Everything random is drawn from one recorded seed: the same command writes the same study.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from palette_bench.io import _umask, atomic_write_json, atomic_writer
from palette_bench.study import IMAGES_DIR, QUESTION, STUDY_FILE
from palette_bench.study.spec import FORMAT, image_name, load_study, outputs_sha256

CATCH_SHARE = 0.1  # about one trial in ten: enough to screen raters, few enough not to lengthen the study much
MIN_CATCH_CORRECT = 0.8  # a rater who misses more than one catch trial in five is left out of the score
CATCH_BLOCKS = 8  # the catch image is an 8x8 mosaic of the original ...
CATCH_NOISE = 25.0  # ... with Gaussian noise of this standard deviation (8-bit levels): unmistakably not a photograph


def catch_image(original: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The heavily degraded copy shown against an original on a catch trial (uint8 HWC in and out)."""
    size = original.shape[0]
    small = Image.fromarray(original).resize((CATCH_BLOCKS, CATCH_BLOCKS), Image.BOX)
    mosaic = np.asarray(small.resize((size, size), Image.NEAREST), dtype=np.float64)
    return np.clip(np.round(mosaic + rng.normal(0.0, CATCH_NOISE, mosaic.shape)), 0, 255).astype(np.uint8)


def _save(path: Path, hwc: np.ndarray) -> None:
    with atomic_writer(path) as f:
        Image.fromarray(hwc).save(f, format="PNG")


def created_from(run: Path, eval_dir: Path, indices: list[int]) -> dict:
    """Where a method's trials took their outputs: the run folder (for people; `report` matches by
    folder name), the output files under its evaluation folder in trial order, and their sha256."""
    from palette_bench.data.predictions import sample_filename

    samples = [f"samples/{sample_filename(i)}" for i in indices]
    return {"path": str(run.resolve()), "samples": samples, "sha256": outputs_sha256(eval_dir, samples)}


def resolve_methods(runs: str | Path, task: str, eval_set: str, methods: list[str]):
    """{name: Evaluation} for each requested method: its run's own evaluation of `eval_set`.

    A name is a method (palette, regression, ..., or an external method's --name) or a run folder's
    name. Where several runs of the task hold a method (seeds, ablation variants), the one with the
    run's default folder name is taken, and the others must be named by folder."""
    from palette_bench.methods import get_method
    from palette_bench.protocols import load_protocol
    from palette_bench.report.collect import collect

    found = [e for e in collect(runs).evaluations if e.cfg.task == task and e.cfg.eval_set == eval_set]
    chosen = {}
    for name in methods:
        by_folder = [e for e in found if e.run.name == name]
        matches = by_folder or [e for e in found if (e.cfg.name or e.cfg.method) == name]
        if len(matches) > 1:
            default = [e for e in matches if e.run.name == get_method(e.cfg.method).folder_name(e.cfg, load_protocol(e.cfg.protocol).name)]
            matches = default if len(default) == 1 else matches
        if not matches:
            held = sorted({e.cfg.name or e.cfg.method for e in found})
            raise ValueError(f"{runs}: no evaluated run of {task}/{eval_set} holds {name!r} (there are: {', '.join(held) or 'none'})")
        if len(matches) > 1:
            raise ValueError(f"{runs}: {len(matches)} runs of {task}/{eval_set} hold {name!r} ({', '.join(e.run.name for e in matches)}); name one run folder instead")
        chosen[name] = matches[0]
    splits = {e.split for e in chosen.values()}
    if len(splits) > 1:
        raise ValueError(f"{runs}: the methods were evaluated under different protocols, image sizes or feature spaces ({', '.join(f'{k}: {e.run.name}' for k, e in chosen.items())}); a study compares outputs of one evaluation set")
    return chosen


def catch_trials(method_trials: int) -> int:
    """How many catch trials go with `method_trials`: one in ten of all trials, at least one."""
    return max(1, round(method_trials * CATCH_SHARE / (1 - CATCH_SHARE)))


def plan_trials(methods: list[str], n: int, inputs: list[int], seed: int) -> list[dict]:
    """The trial sequence (without images): n trials per method and about 10% catch trials, each on its own input."""
    rng = np.random.default_rng(seed)
    n_catch = catch_trials(n * len(methods))
    needed = n * len(methods) + n_catch
    if needed > len(inputs):
        most = max((k for k in range(len(inputs) + 1) if k * len(methods) + catch_trials(k * len(methods)) <= len(inputs)), default=0)
        raise ValueError(f"--n {n}: {len(methods)} methods need {needed} distinct evaluation inputs with catch trials, the runs share {len(inputs)} (at most --n {most})")
    drawn = [int(i) for i in rng.permutation(np.asarray(inputs))[:needed]]
    method_inputs = iter(drawn[: n * len(methods)])
    catch_inputs = drawn[n * len(methods):]

    def sides(count: int) -> list[str]:
        s = ["left"] * ((count + 1) // 2) + ["right"] * (count // 2)
        return [s[k] for k in rng.permutation(count)]

    side_of = {m: iter(sides(n)) for m in methods}
    rounds = []
    for _ in range(n):
        for k in rng.permutation(len(methods)):
            m = methods[k]
            rounds.append({"kind": "method", "method": m, "index": next(method_inputs), "original": next(side_of[m])})
    catch_sides = sides(n_catch)
    catch_at = set(int(p) for p in rng.choice(np.arange(1, needed), size=n_catch, replace=False))  # never the first trial
    sequence, method_trials, c = [], iter(rounds), 0
    for pos in range(needed):
        if pos in catch_at:
            sequence.append({"kind": "catch", "method": None, "index": catch_inputs[c], "original": catch_sides[c]})
            c += 1
        else:
            sequence.append(next(method_trials))
    for pos, t in enumerate(sequence):
        t["id"] = f"{pos + 1:04d}"
        t["left"], t["right"] = image_name(t["id"], "left"), image_name(t["id"], "right")
    return sequence


def create_study(runs, task: str, methods: list[str], n: int, seconds: float, out, eval_set: str | None = None, seed: int = 0, root: str | None = None, display_px: int = 256) -> Path:
    """Write the study folder `out` (which must not exist, so that no study's answers are ever overwritten)."""
    from palette_bench.data.evalset import EvalSet
    from palette_bench.data.predictions import Predictions
    from palette_bench.images import to_uint8
    from palette_bench.protocols import load_protocol
    from palette_bench.report.footer import version
    from palette_bench.runconfig import DEFAULT_EVAL_SET

    out = Path(out)
    if out.exists():
        raise ValueError(f"{out}: already exists; a study folder is written once (its answers are never overwritten), choose another --out")
    if n < 1:
        raise ValueError(f"--n {n}: a study needs at least one trial per method")
    if len(set(methods)) != len(methods) or not methods:
        raise ValueError(f"--methods {','.join(methods)}: name each method once")
    eval_set = eval_set or DEFAULT_EVAL_SET[task]
    chosen = resolve_methods(runs, task, eval_set, methods)
    first = next(iter(chosen.values()))
    protocol = load_protocol(first.cfg.protocol).with_size(first.cfg.image_size)
    evalsets = {m: EvalSet(protocol, task, eval_set, n=int(e.result["n"]), root=root) for m, e in chosen.items()}
    common = sorted(set.intersection(*(set(s.positions) for s in evalsets.values())))
    trials = plan_trials(methods, n, common, seed)
    reference = max(evalsets.values(), key=len)  # holds every common input
    position = {index: k for k, index in enumerate(reference.positions)}
    predictions = {m: Predictions(e.eval_dir / "samples", evalsets[m].positions, e.cfg.image_size) for m, e in chosen.items()}
    catch_rng = np.random.default_rng([seed, 1])

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for t in trials:
            original = to_uint8(reference[position[t["index"]]].image).permute(1, 2, 0).numpy()
            other = predictions[t["method"]].load(t["index"], 0).permute(1, 2, 0).numpy() if t["kind"] == "method" else catch_image(original, catch_rng)
            real_side = t["original"]
            _save(tmp / IMAGES_DIR / t[real_side], original)
            _save(tmp / IMAGES_DIR / t["right" if real_side == "left" else "left"], other)
        data = {
            "format": FORMAT,
            "task": task,
            "eval_set": eval_set,
            "protocol": first.result.get("protocol", first.cfg.protocol),
            "image_size": first.cfg.image_size,
            "question": QUESTION,
            "seconds": seconds,
            "display_px": display_px,
            "seed": seed,
            "n_per_method": n,
            "catch": {"share": CATCH_SHARE, "min_correct": MIN_CATCH_CORRECT, "trials": sum(t["kind"] == "catch" for t in trials), "degradation": f"{CATCH_BLOCKS}x{CATCH_BLOCKS} mosaic of the original with Gaussian noise, sd {CATCH_NOISE:g} levels"},
            "methods": {m: {"run": e.run.name, "eval_dir": e.eval_dir.name, "method": e.cfg.method, "created_from": created_from(e.run, e.eval_dir, [t["index"] for t in trials if t["method"] == m])} for m, e in chosen.items()},
            "trials": [{k: t[k] for k in ("id", "kind", "method", "index", "left", "right", "original")} for t in trials],
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "made_by": version(),
        }
        atomic_write_json(tmp / STUDY_FILE, data)
        load_study(tmp)  # what serve and score will read must load
        os.chmod(tmp, 0o777 & ~_umask())
        os.rename(tmp, out)  # the study appears whole or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def describe(study_dir: Path) -> str:
    data = json.loads((Path(study_dir) / STUDY_FILE).read_text())
    kinds = [t["kind"] for t in data["trials"]]
    return f"{study_dir}: {len(kinds)} trials ({kinds.count('method')} method trials over {', '.join(data['methods'])}, {kinds.count('catch')} catch), shown {data['seconds']:g} s each"
