"""Evaluation protocols: which images, at what size, which evaluation sets, which FID reference.

A protocol is a TOML file (see protocols/*.toml). It is validated on load: an unknown key, a
missing field or an evaluation set that its task does not have is an error naming it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from palette_bench.config import ConfigError, from_dict
from palette_bench.tasks import TASKS, get_task, task_names

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The protocols shipped with the project live in the repository's top-level protocols/ folder.
PROTOCOL_DIR = Path(os.environ.get("PALETTE_BENCH_PROTOCOLS", Path(__file__).resolve().parent.parent / "protocols"))


@dataclass(frozen=True)
class DataSpec:
    """A set of images: the procedural builtin set, an ImageNet validation folder, or any folder / file list."""

    kind: Literal["builtin", "imagenet", "folder"]
    n: int  # number of images; 0 = every file of the list or folder
    split: str = "test"  # builtin only
    seed: int = 0  # builtin only: selects the procedural scenes
    root: str = ""  # imagenet/folder: the image folder; $VARS are expanded; --root overrides
    root_env: str = ""  # imagenet/folder: the environment variable users set to the folder
    file_list: str = ""  # imagenet/folder: list file, relative to root unless absolute; "" = all files
    file_list_source: str = ""  # where users get the file list (shown when it is missing)
    labels: str = "none"  # "auto" | "folders" | "devkit" | "none" | a "name label" file relative to root


@dataclass(frozen=True)
class EvalSetSpec:
    """One evaluation set: the first `n` images of the protocol's data, conditions drawn with `seed`."""

    n: int
    seed: int = 0


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    image_size: int
    diversity_samples: int  # samples per input for the diversity metrics (Palette uses 5)
    dataset: DataSpec
    reference: DataSpec  # the FID reference set (ImageNet: all 50,000 validation images)
    tasks: dict[str, dict[str, EvalSetSpec]]
    train: DataSpec | None = None  # training images; the builtin protocol trains on the builtin train split
    path: str = field(default="", compare=False)

    def eval_set(self, task: str, name: str) -> EvalSetSpec:
        """The spec of evaluation set `name` of `task`; the training draw uses the dataset with seed 0."""
        if name == "train":
            return EvalSetSpec(n=self.dataset.n, seed=0)
        if task in task_names():  # a multi-task model's sets are its members' sections: it has none of its own
            task = get_task(task).for_setting(name).name
        if task not in self.tasks or name not in self.tasks[task]:
            have = ", ".join(self.tasks.get(task, {})) or "none"
            raise ConfigError(f"protocol '{self.name}' has no evaluation set '{name}' for task '{task}' (it has: {have})")
        return self.tasks[task][name]

    def with_size(self, size: int | None) -> "Protocol":
        return self if size is None else replace(self, image_size=size)


def _validate(p: Protocol, where: str) -> None:
    if p.image_size < 8:
        raise ConfigError(f"{where}: image_size must be at least 8, got {p.image_size}")
    if p.diversity_samples < 2:
        raise ConfigError(f"{where}: diversity_samples must be at least 2, got {p.diversity_samples}")
    for key, spec in (("dataset", p.dataset), ("reference", p.reference)):
        if spec.kind == "builtin" and spec.n <= 0:
            raise ConfigError(f"{where}: {key}.n must be positive for the builtin data set")
        if spec.kind != "builtin" and not (spec.root or spec.root_env):
            raise ConfigError(f"{where}: {key} of kind '{spec.kind}' needs 'root' or 'root_env'")
    for task, sets in p.tasks.items():
        if task not in TASKS:
            raise ConfigError(f"{where}: unknown task 'tasks.{task}' (choose from {', '.join(TASKS)})")
        for name, spec in sets.items():
            if name not in TASKS[task].eval_sets:
                raise ConfigError(f"{where}: unknown evaluation set 'tasks.{task}.{name}' (task '{task}' has: {', '.join(TASKS[task].eval_sets)})")
            if spec.n <= 0 or (p.dataset.n and spec.n > p.dataset.n):
                raise ConfigError(f"{where}: tasks.{task}.{name}.n = {spec.n} must lie in 1..dataset.n = {p.dataset.n}")


def load_protocol(name_or_path: str) -> Protocol:
    """Load a shipped protocol by name (`builtin`, `imagenet-ctest10k`, `places10k`) or any TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROTOCOL_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROTOCOL_DIR.glob("*.toml")))
        raise ConfigError(f"{path}: protocol file not found (shipped protocols: {shipped})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    try:
        protocol = from_dict(Protocol, data)
        _validate(protocol, str(path))
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    return replace(protocol, path=str(path))
