"""Everything a run's stages will need, checked in seconds before the first training step.

A missing weights file, data folder or file list, a U-Net that does not fit the image size, or a
run folder that cannot be written would otherwise stop a run after hours of training and
sampling. Each problem is raised with the one-line message of the code that would have met it later.
"""

from __future__ import annotations

import os
from pathlib import Path

from palette_bench.config import ConfigError
from palette_bench.methods import get_method
from palette_bench.protocols import Protocol
from palette_bench.runconfig import RunConfig

# The metrics that read each weights file when a protocol is evaluated with the paper's networks.
WEIGHTS_FOR = {"inception-v3": ("fid", "is", "kid", "pd"), "resnet50": ("ca",), "alexnet": ("lpips", "diversity")}


def feature_space(protocol: Protocol) -> str:
    """The networks a protocol is evaluated with by default: the builtin judge, or InceptionV3 / ResNet-50 / AlexNet."""
    return "judge" if protocol.dataset.kind == "builtin" else "inception"


def _require(role: str, spec, root) -> None:
    from palette_bench.data.check import check_spec

    for finding in check_spec(role, spec, root):
        if not finding.ok:
            raise FileNotFoundError(f"{finding.item}: {finding.detail}")


def check_weights(protocol: Protocol, metrics: tuple[str, ...], weights_dir=None, allow_unverified: bool = False) -> None:
    """Resolve (and checksum) every weights file the metrics will load; the judge is trained on demand instead."""
    from palette_bench.weights import resolve

    if feature_space(protocol) == "judge":
        return
    for name, needs in WEIGHTS_FOR.items():
        if set(needs) & set(metrics):
            resolve(name, weights_dir, allow_unverified)


def check_writable(folder: Path) -> None:
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{folder}: run folder is not writable ({e.strerror or e})") from None


def preflight(cfg: RunConfig, protocol: Protocol, stages, folder: Path, root=None, weights_dir=None, allow_unverified: bool = False) -> None:
    """Raise now what `stages` of `cfg` would meet later; returns silently when everything is in place."""
    from palette_bench.training_data import training_spec

    method = get_method(cfg.method)
    method.check(cfg)
    protocol.eval_set(cfg.task, cfg.eval_set)  # an unknown evaluation set
    net = method.network(cfg)
    if net is not None and {"train", "sample"} & set(stages):
        try:
            net.validate()
        except ValueError as e:
            raise ConfigError(f"model of preset '{cfg.preset}' at image_size {cfg.image_size}: {e}") from None
    if "train" in stages and method.learns:
        _require("training", training_spec(protocol), root)
    if {"sample", "eval"} & set(stages):
        _require("evaluation", protocol.dataset, root)
    if "eval" in stages:
        check_weights(protocol, cfg.eval.metrics, weights_dir, allow_unverified)
        if set(cfg.eval.metrics) & {"fid", "kid", "pd"}:
            _require("reference", protocol.reference, root)
    check_writable(folder)
