"""Run folders with outputs, and study folders made from them: the inputs of the human-study tests."""

from pathlib import Path

import numpy as np
from PIL import Image

from palette_bench.data.predictions import sample_filename
from palette_bench.study import ANSWERS_FILE
from palette_bench.study.answers import AnswerStore
from palette_bench.study.spec import load_study
from runfolders import write_eval

METHOD_SEEDS = {"palette": 1, "regression": 2, "pix2pix": 3}


def output_image(method: str, index: int) -> np.ndarray:
    """The stand-in output of `method` on evaluation input `index` (uint8 HWC, 32 px)."""
    return np.random.default_rng([METHOD_SEEDS[method], index]).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def write_runs(runs: Path, methods=("palette", "regression"), n: int = 50, task: str = "uncropping", seed: int = 0, overrides=(), suffix: str = "") -> Path:
    """One evaluated run folder per method on the builtin protocol's headline set, with its outputs as PNGs."""
    for m in methods:
        name = f"builtin-{task}-{m}-smoke" + (f"-seed{seed}" if seed else "") + suffix
        ev = write_eval(runs, name, {"fid": 10.0}, task=task, method=m, n=n, seed=seed, overrides=overrides)
        (ev / "samples").mkdir()
        for i in range(n):
            Image.fromarray(output_image(m, i)).save(ev / "samples" / sample_filename(i))
    return runs


def answer_all(study_dir, rater: str, pick, response_ms: float = 800.0) -> None:
    """Store one answer per trial for `rater`: `pick(trial)` returns "left" or "right"."""
    store = AnswerStore(Path(study_dir) / ANSWERS_FILE)
    for t in load_study(study_dir).trials:
        store.add(rater, t.id, pick(t), response_ms)


def other_side(side: str) -> str:
    return "right" if side == "left" else "left"
