"""Read run folders: each run's own evaluation of each evaluation set, with the config it was made with.

An eval folder is a row of the task tables only when it is the run's own evaluation of its set: its
name is the one `palette-bench run` gives that config (Method.eval_name) and it was sampled with the
run's sampling settings. Sampling studies (`-step600`, `-n100-div20x2`, other samplers) live in the
same run folders and are left to their own tables (ablate steps, ablate curve).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from palette_bench.config import ConfigError, from_dict, to_dict
from palette_bench.methods import get_method
from palette_bench.runconfig import RunConfig

# Config fields that name where a run's values came from, not what they are: two runs whose
# values agree are the same experiment whatever their preset is called.
NAME_FIELDS = ("preset",)


@dataclass(frozen=True)
class Evaluation:
    """One run's own evaluation of one evaluation set: a candidate row of a task table."""

    run: Path  # the run folder
    eval_dir: Path  # run/eval/<name>/
    cfg: RunConfig  # the eval folder's config, defaults filled in
    result: dict  # its metrics.json

    @property
    def config(self) -> dict:
        """The config as plain JSON values (tuples as lists), as compared between runs."""
        return json.loads(json.dumps(to_dict(self.cfg)))

    def identity(self, *without: str) -> dict:
        """The config less the name fields and the dotted keys `without` (e.g. "seed", "diffusion.loss")."""
        d = self.config
        for key in NAME_FIELDS + without:
            *sections, last = key.split(".")
            node = d
            for part in sections:
                node = node.get(part, {})
            node.pop(last, None)
        return d

    def key(self, *without: str) -> str:
        return json.dumps(self.identity(*without), sort_keys=True)

    def metric(self, name: str) -> dict | None:
        return self.result.get("metrics", {}).get(name)

    @property
    def space(self) -> tuple[str, str]:
        """The feature space: "judge" or "inception", and the sha256 of the feature network's weights."""
        for name in ("fid", "is", "kid", "pd", "ca_top1", "lpips", "div_lpips"):
            sha = (self.metric(name) or {}).get("weights_sha256")
            if sha:
                return self.result.get("feature_space", "?"), sha
        return self.result.get("feature_space", "?"), ""

    @property
    def split(self) -> tuple:
        """The setting of the numbers: protocol, image size and feature space (name and weights)."""
        return (self.result.get("protocol", self.cfg.protocol), int(self.result.get("image_size", self.cfg.image_size)), *self.space)

    @property
    def n(self) -> int:
        """How many evaluation inputs the numbers are over."""
        return int(self.result.get("n", 0))

    @property
    def reference(self) -> str:
        """What identifies the reference statistics behind FID, KID and PD ("" without a reference).

        The cache key (metrics/reference.py) is a sha256 over every reference file's path, size and
        modification time (for the builtin set, its renderer's source and its split, seed and count),
        the image size, preprocessing and extractor weights: other reference images under the same
        protocol name give another key. A statistics file given by --ref-stats has no key, only a
        path, so its content is hashed.
        """
        ref = self.result.get("reference") or {}
        if ref.get("cache_key"):
            return ref["cache_key"]
        return _file_sha256(ref["source"]) if ref.get("source") else ""

    @property
    def table_key(self) -> tuple:
        """What must agree for two evaluations to share a table: the setting, the number of inputs and the reference.

        FID is biased upward at small n and moves with the reference set, so numbers over another
        number of inputs or against another reference are not comparable, and a best value across
        them would mean nothing.
        """
        return (*self.split, self.n, self.reference)

    @property
    def diversity_inputs(self) -> int:
        """Inputs with several samples; older metrics.json files lack the key, and then every input had them."""
        n = int(self.result.get("n", 0))
        if "diversity_inputs" in self.result:
            return int(self.result["diversity_inputs"])
        return min(self.cfg.sample.diversity_n, n) if self.cfg.sample.diversity_n else n


def _file_sha256(source: str) -> str:
    """sha256 of a reference statistics file's bytes, or its path when the file is no longer there."""
    from palette_bench.compare_cache import file_sha256

    try:
        return file_sha256(source)
    except OSError:
        return f"missing file {source}"


@dataclass
class Collected:
    evaluations: list[Evaluation] = field(default_factory=list)
    ignored: dict[str, list[Path]] = field(default_factory=dict)  # reason -> eval folders that are not rows
    problems: list[str] = field(default_factory=list)  # one line per folder that could not be read


def _load_config(path: Path) -> RunConfig:
    from palette_bench.run import finalize

    return finalize(from_dict(RunConfig, json.loads(path.read_text())))


def collect(runs_root: str | Path) -> Collected:
    """Every run's own evaluations under `runs_root` (one level of run folders), in folder-name order."""
    root = Path(runs_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of run folders")
    out = Collected()

    def ignore(reason: str, folder: Path) -> None:
        out.ignored.setdefault(reason, []).append(folder)

    for run_config in sorted(root.glob("*/config.json")):
        run = run_config.parent
        try:
            run_cfg = _load_config(run_config)
        except (ConfigError, ValueError) as e:
            out.problems.append(f"{run}: config.json does not load ({e})")
            continue
        for eval_config in sorted(run.glob("eval/*/config.json")):
            folder = eval_config.parent
            if not (folder / "metrics.json").is_file():
                ignore("not evaluated (no metrics.json)", folder)
                continue
            try:
                cfg = _load_config(eval_config)
                result = json.loads((folder / "metrics.json").read_text())
            except (ConfigError, ValueError) as e:
                out.problems.append(f"{folder}: does not load ({e})")
                continue
            if result.get("mode") != "protocol":
                ignore("not a protocol evaluation", folder)
            elif folder.name != get_method(cfg.method).eval_name(cfg):
                ignore("a study's evaluation (its name is not the run's own for its config)", folder)
            elif to_dict(cfg.sample) != to_dict(run_cfg.sample):
                ignore("sampled with other settings than the run's", folder)
            else:
                out.evaluations.append(Evaluation(run, folder, cfg, result))
    check_unique(out.evaluations)
    return out


def check_unique(evaluations: list[Evaluation]) -> None:
    """Refuse two evaluations that claim the same table cell: same task, method, set, seed and config otherwise."""
    seen: dict[tuple, Evaluation] = {}
    for e in evaluations:
        cell = (e.table_key, e.key())
        if cell in seen:
            first = seen[cell]
            raise ValueError(
                f"{first.run} and {e.run} both hold {e.cfg.task}/{e.cfg.eval_set} of {e.cfg.name or e.cfg.method} with seed {e.cfg.seed} "
                "and the same config: one table cell, two results; move one of them out of the runs folder"
            )
        seen[cell] = e
