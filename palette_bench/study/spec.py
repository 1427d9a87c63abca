"""study.json: what a study shows, in which order, and which side of each trial holds the original.

The file is written once by `study create` and read by `serve` and `score`; both refuse a file
that does not describe a complete study, with one line naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from palette_bench.study import IMAGES_DIR, STUDY_FILE

FORMAT = 1
SIDES = ("left", "right")
KINDS = ("method", "catch")
# image names as `create` writes them (image_name): nothing else is ever served (server.py)
IMAGE_NAME = re.compile(r"^[0-9]{4}-(left|right)\.png$")


def image_name(trial_id: str, side: str) -> str:
    """The file of one side of a trial: named by trial and side only, so it does not say which is the original."""
    return f"{trial_id}-{side}.png"


def outputs_sha256(eval_dir: str | Path, samples: list[str]) -> str:
    """sha256 of the files `samples` (paths under `eval_dir`) read one after the other, in order:
    what `cat` of them piped to `sha256sum` prints. `create` records it for the outputs a method's
    trials show (study.json's `created_from`), and `report` compares it with the run folder's files
    now, so a fool rate never attaches to outputs the raters did not see."""
    digest = hashlib.sha256()
    for name in samples:
        with open(Path(eval_dir) / name, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class StudyError(ValueError):
    """A study folder that cannot be served or scored: one line naming the file and the problem."""


@dataclass(frozen=True)
class Trial:
    id: str
    kind: str  # "method": an output against its original; "catch": an original against a degraded copy
    method: str | None  # the method whose output is shown (None on catch trials)
    index: int  # evaluation index of the original
    left: str  # image file names under images/
    right: str
    original: str  # "left" or "right": the side of the camera image

    def picked_original(self, choice: str) -> bool:
        return choice == self.original


@dataclass(frozen=True)
class Study:
    folder: Path
    data: dict  # study.json as read
    trials: tuple[Trial, ...]

    @property
    def seconds(self) -> float:
        return float(self.data["seconds"])

    @property
    def question(self) -> str:
        return self.data["question"]

    @property
    def min_catch_correct(self) -> float:
        return float(self.data["catch"]["min_correct"])

    @property
    def methods(self) -> dict:
        return self.data["methods"]

    @property
    def by_id(self) -> dict[str, Trial]:
        return {t.id: t for t in self.trials}

    def image_paths(self) -> dict[str, Path]:
        """Every image the study shows, by file name: the only files the server may send."""
        images = self.folder / IMAGES_DIR
        return {name: images / name for t in self.trials for name in (t.left, t.right)}


def _need(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise StudyError(f"{path}: {what}")


def load_study(folder: str | Path) -> Study:
    """The study in `folder`, checked: every trial complete, ids unique, every image present."""
    folder = Path(folder)
    path = folder / STUDY_FILE
    if not path.is_file():
        raise StudyError(f"{path}: not a study folder (no {STUDY_FILE}; make one with `palette-bench study create`)")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudyError(f"{path}: not valid JSON ({e})") from None
    _need(isinstance(data, dict) and data.get("format") == FORMAT, path, f"not a study file of format {FORMAT}")
    for key in ("task", "seconds", "question", "catch", "methods", "trials", "seed"):
        _need(key in data, path, f"missing key {key!r}")
    _need(isinstance(data["seconds"], (int, float)) and data["seconds"] > 0, path, "'seconds' must be a positive number")
    catch = data["catch"]
    _need(isinstance(catch, dict) and isinstance(catch.get("min_correct"), (int, float)) and 0 <= catch["min_correct"] <= 1, path, "'catch.min_correct' must be a share between 0 and 1")
    _need(isinstance(data["methods"], dict) and data["methods"], path, "'methods' must name at least one method")
    _need(isinstance(data["trials"], list) and data["trials"], path, "'trials' must be a non-empty list")
    trials, seen = [], set()
    for k, t in enumerate(data["trials"]):
        where = f"trial {k}"
        _need(isinstance(t, dict), path, f"{where} is not an object")
        try:
            trial = Trial(str(t["id"]), t["kind"], t.get("method"), int(t["index"]), t["left"], t["right"], t["original"])
        except (KeyError, TypeError, ValueError) as e:
            raise StudyError(f"{path}: {where} is incomplete ({e})") from None
        _need(trial.id not in seen, path, f"{where}: id {trial.id!r} appears twice")
        _need(trial.kind in KINDS, path, f"{where}: kind must be one of {', '.join(KINDS)}")
        _need(trial.original in SIDES, path, f"{where}: 'original' must be left or right")
        _need((trial.method in data["methods"]) if trial.kind == "method" else trial.method is None, path, f"{where}: method {trial.method!r} is not one of the study's")
        for name in (trial.left, trial.right):
            _need(isinstance(name, str) and IMAGE_NAME.match(name) is not None, path, f"{where}: image name {name!r} is not one `study create` writes")
            _need((folder / IMAGES_DIR / name).is_file(), folder / IMAGES_DIR / name, f"missing image of {where}")
        seen.add(trial.id)
        trials.append(trial)
    return Study(folder, data, tuple(trials))
