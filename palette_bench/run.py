"""`palette-bench run`: train, sample and evaluate one method on one task, in a self-describing run folder.

    runs/<protocol>-<task>-<method>-<preset>[-<hash>]/
        config.json         the resolved config of the first command (the hash names overrides of the
                            preset's training config); `--resume DIR` continues with it
        stats.jsonl         losses per step (pix2pix: discriminator and generator losses)
        checkpoints/        ckpt-<step>.pt, each with the config inside
        diagnose.json/.png  Palette: its predictions' errors by noise level (palette-bench diagnose)
        eval/<set>-<sampler><steps>[-raw]/   Palette; the one-output methods (regression, pix2pix,
                                             classical, external) use eval/<set>[-raw]/
            config.json     the full resolved config of this sampling and evaluation
            samples/        NNNNNN.png and NNNNNN_k.png, by evaluation index and sample k
            metrics.json    the evaluation core's result
            eval_arrays.npz features and per-input values behind it, for `palette-bench compare`

A completed stage is skipped when the command is run again, unless --force; an interrupted one
resumes (training from its last checkpoint, sampling from the files already written).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from palette_bench import distributed as dist
from palette_bench.config import ConfigError, to_dict
from palette_bench.io import atomic_write_json
from palette_bench.methods import get_method
from palette_bench.protocols import load_protocol
from palette_bench.runconfig import DEFAULT_EVAL_SET, RunConfig, config_hash, load_presets, resolve

STAGES = ("train", "sample", "eval")
ARRAYS = "eval_arrays.npz"  # beside metrics.json


def run_dir_for(cfg: RunConfig, base: Path) -> Path:
    """Named by what it is; a hash is added when the training config differs from the preset's.

    `cfg` is the fully resolved config, overrides included; the preset's own config (same method,
    protocol, seed and outputs, no overrides) is only compared with it, never validated.
    """
    method = get_method(cfg.method)
    name = method.folder_name(cfg, load_protocol(cfg.protocol).name)
    if method.name != "external":
        preset_cfg = resolve(cfg.task, cfg.preset, method=cfg.method, protocol=cfg.protocol, seed=cfg.seed, pred=cfg.pred, name=cfg.name)
        if preset_cfg.training_identity() != cfg.training_identity():
            name += "-" + config_hash(cfg.training_identity())
    return base / name


def eval_dir_for(cfg: RunConfig, run_dir: Path) -> Path:
    return Path(run_dir) / "eval" / get_method(cfg.method).eval_name(cfg)


def evaluation_identity(cfg: RunConfig) -> tuple[str, ...]:
    """The config sections an evaluation folder depends on: all but the other methods' own sections, so
    that a changed pix2pix default does not orphan every Palette evaluation already made."""
    from palette_bench.methods import method_names

    others = {get_method(name).section for name in method_names()} - {get_method(cfg.method).section, None, ""}
    return tuple(k for k in to_dict(cfg) if k not in others)


def _check_same(path: Path, wanted: dict, only: tuple[str, ...] | None = None) -> None:
    """A run folder belongs to one config: refuse to mix, naming the first differing key (of `only`, if given)."""
    if not path.exists():
        return
    have = _with_defaults(json.loads(path.read_text()), _defaults())  # a folder written before a key existed holds it at its default
    wanted = json.loads(json.dumps(wanted))  # tuples become lists, as they are on disk
    if only is not None:
        have, wanted = ({k: d.get(k) for k in only} for d in (have, wanted))

    def diff(a, b, prefix=""):
        for k in sorted(set(a) | set(b)):
            if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
                found = diff(a[k], b[k], f"{prefix}{k}.")
                if found:
                    return found
            elif a.get(k) != b.get(k):
                return f"{prefix}{k}"
        return None

    key = diff(have, wanted)
    if key:
        raise ConfigError(f"{path}: this run folder was made with another config ({key}: {_get(have, key)!r} there, {_get(wanted, key)!r} now); use another --run-dir, or --force with --stage all (or train) to start it over")


def _with_defaults(have: dict, defaults: dict) -> dict:
    """`have` with every key it lacks taken from `defaults`, inside sections too (diffusion.parameterization, sample.schedule)."""
    out = {**defaults, **have}
    for k, v in defaults.items():
        if isinstance(v, dict) and isinstance(have.get(k), dict):
            out[k] = _with_defaults(have[k], v)
    return out


def _defaults() -> dict:
    """RunConfig's top-level defaults, as they are written to config.json."""
    from dataclasses import MISSING, fields, is_dataclass

    out = {}
    for f in fields(RunConfig):
        value = f.default if f.default is not MISSING else f.default_factory() if f.default_factory is not MISSING else MISSING
        if value is not MISSING:
            out[f.name] = to_dict(value) if is_dataclass(value) else value
    return json.loads(json.dumps(out))


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The config a run folder was made with (for --resume)."""
    from palette_bench.config import from_dict

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a run folder (no config.json)")
    return from_dict(RunConfig, json.loads(path.read_text()))


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def _diagnosed(folder: Path, checkpoint: Path) -> bool:
    """Whether diagnose.json already describes this checkpoint."""
    path = Path(folder) / "diagnose.json"
    return path.exists() and json.loads(path.read_text()).get("checkpoint") == Path(checkpoint).name


def finalize(cfg: RunConfig) -> RunConfig:
    """The config with its defaults filled in: the task's headline evaluation set when none is named."""
    return replace(cfg, eval_set=cfg.eval_set or DEFAULT_EVAL_SET[cfg.task])


def run(
    cfg: RunConfig,
    stages=STAGES,
    runs_root: str | Path = "runs",
    run_dir: str | Path | None = None,
    force: bool = False,
    root=None,
    progress: bool = True,
    weights_dir: str | None = None,
    allow_unverified_weights: bool = False,
    eval_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
) -> Path:
    """Run `stages` of `cfg`; returns the run folder. Everything the stages need is checked first (preflight).

    `eval_dir` replaces the evaluation folder named by the config (eval/<set>-<sampler><steps>...), for
    studies that evaluate one checkpoint on other inputs, e.g. fewer of them (palette_bench/ablations);
    `checkpoint` samples from that checkpoint of the run instead of its last (a learning curve).
    """
    from palette_bench.data.evalset import EvalSet
    from palette_bench.evaluate import EvalOptions, evaluate_protocol
    from palette_bench.preflight import preflight
    from palette_bench.sample import sample_evalset
    from palette_bench.train import checkpoints, load_checkpoint, train

    method = get_method(cfg.method)
    device = dist.init()
    protocol = load_protocol(cfg.protocol).with_size(cfg.image_size)
    cfg = finalize(cfg)
    folder = Path(run_dir) if run_dir else run_dir_for(cfg, Path(runs_root))
    preflight(cfg, protocol, stages, folder, root, weights_dir, allow_unverified_weights)
    ev = Path(eval_dir) if eval_dir else eval_dir_for(cfg, folder)
    if dist.is_main():
        if force and "train" in stages and folder.exists():
            shutil.rmtree(folder)
        if force and ev.exists() and set(stages) & {"sample", "eval"}:
            if "sample" in stages:
                shutil.rmtree(ev / "samples", ignore_errors=True)
            (ev / "metrics.json").unlink(missing_ok=True)
            (ev / ARRAYS).unlink(missing_ok=True)
        # sampling settings may change between commands on one run folder; the training config may not
        _check_same(folder / "config.json", to_dict(cfg), only=tuple(cfg.training_identity()))
        if not (folder / "config.json").exists():
            atomic_write_json(folder / "config.json", to_dict(cfg))
        _check_same(ev / "config.json", to_dict(cfg), only=evaluation_identity(cfg))
        atomic_write_json(ev / "config.json", to_dict(cfg))
    dist.barrier()

    if "train" in stages and method.learns:
        last = train(cfg, protocol, folder, device, root=root, progress=progress)
        if method.stochastic and dist.is_main() and not _diagnosed(folder, last):
            from palette_bench.diagnose import diagnose_run

            # a few seconds: one network call per noise level on 64 inputs; shows whether y0_hat beats grey
            diagnose_run(folder, n=64, root=root, device=device)
        dist.barrier()
    samples = method.outputs(cfg, ev)
    makes_outputs = samples == ev / "samples"  # an external method brings its outputs instead
    if "sample" in stages and makes_outputs and not (samples / ".done").exists():
        evalset = EvalSet(protocol, cfg.task, cfg.eval_set, n=cfg.sample.n or None, root=root)
        state, origin = None, {"method": cfg.method, **(to_dict(cfg)[method.section] if method.section else {})}
        if method.learns:
            found = [Path(checkpoint)] if checkpoint else checkpoints(folder)
            if not found:
                raise FileNotFoundError(f"{folder / 'checkpoints'}: no checkpoint to sample from (run --stage train first)")
            state = load_checkpoint(found[-1], device)
            origin = {"checkpoint": found[-1].name, "step": state["step"]}
        predictor = method.predictor(cfg, state, device)
        start = time.perf_counter()
        written = sample_evalset(predictor, evalset, samples, cfg.seed, method.samples_per_input(cfg, protocol), cfg.sample.batch_size, progress, cfg.sample.diversity_n)
        # wall time per output of this command's sampling (a resumed stage times only what it wrote)
        timing = {"seconds": round(time.perf_counter() - start, 3), "images": written, "world_size": dist.world_size()}
        dist.barrier()
        if dist.is_main():
            samples.mkdir(parents=True, exist_ok=True)
            (samples / ".done").write_text(json.dumps({**origin, "sampling": timing}) + "\n")
    if "eval" in stages and not (ev / "metrics.json").exists():
        from palette_bench.metrics.judge import JudgeConfig

        judge = JudgeConfig(train_images=cfg.eval.judge_train_images, epochs=cfg.eval.judge_epochs)
        opts = EvalOptions(
            metrics=cfg.eval.metrics,
            batch_size=cfg.eval.batch_size,
            bootstrap=cfg.eval.bootstrap,
            device=str(device),
            judge_config=judge,
            progress=progress,
            weights_dir=weights_dir,
            allow_unverified=allow_unverified_weights,
        )
        # every process evaluates its share of the inputs; rank 0 gathers them, gets the result and
        # writes the arrays, before metrics.json, so that a metrics.json naming them always has them
        result = evaluate_protocol(protocol, cfg.task, cfg.eval_set, samples, opts, root=root, n=cfg.sample.n or None, arrays_out=ev / ARRAYS)
        if dist.is_main():
            done = samples / ".done"
            origin = json.loads(done.read_text()) if done.exists() else {"method": cfg.method, "pred": str(samples.resolve())}
            result["run"] = {"folder": str(folder), "sampled_from": origin}
            atomic_write_json(ev / "metrics.json", result)
    dist.barrier()
    return folder


__all__ = ["STAGES", "load_presets", "run"]
