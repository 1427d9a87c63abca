"""A method whose outputs already exist: a folder of NNNNNN.png (and NNNNNN_k.png) evaluated like any run's samples."""

from __future__ import annotations

from pathlib import Path

from palette_bench.config import ConfigError
from palette_bench.methods import Method, register


@register
class External(Method):
    name = "external"

    def check(self, cfg) -> None:
        if not (cfg.pred and cfg.name):
            raise ConfigError("--pred DIR and --name NAME go with --method external, and it needs both")

    def predictor(self, cfg, state, device):
        return None  # nothing to sample: the outputs are in cfg.pred

    def folder_name(self, cfg, protocol_name: str) -> str:
        return f"{protocol_name}-{cfg.task}-external-{cfg.name}"

    def outputs(self, cfg, eval_dir: Path) -> Path:
        return Path(cfg.pred)
