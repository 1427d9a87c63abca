"""The registry of methods (timm's pattern): a name maps to one `Method`; nothing else branches on method names.

A method tells `palette-bench run` everything it needs to know about it:

- `network(cfg)`: the UNetConfig of its network, or None when it has none (the preflight checks it);
- `trainer(cfg, device)`: what the shared training loop steps, or None when it does not learn;
- `predictor(cfg, state, device)`: the object with predict(condition, mask, generator) that the
  sampling stage calls (`state` is its last checkpoint, None for methods that do not learn);
- `stochastic`: K samples per input (the diversity metrics need them) or one deterministic output;
- `section`: its own config section, part of the training identity.

Adding a method is one file that defines a `Method` subclass decorated with `@register`, and one
line naming that file's module in METHOD_MODULES below.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from palette_bench.config import ConfigError

# The modules that register methods; imported on first look-up so that the registry has no import cycle.
METHOD_MODULES = (
    "palette_bench.methods.palette",
    "baselines.regression",
    "baselines.pix2pix",
    "baselines.classical",
    "palette_bench.methods.external",
)

_REGISTRY: dict[str, "Method"] = {}


class Method:
    """What run, train and sample need of a method; subclasses override what differs from these defaults."""

    name: str = ""
    section: str = ""  # the config section the method reads besides the shared ones ("" = none)
    stochastic: bool = False  # K samples per input (Palette) or one deterministic output
    uses_ema: bool = False  # sample.use_ema picks between its EMA and its raw weights

    def network(self, cfg):
        """The UNetConfig of the method's network, or None when it has no network."""
        return None

    def trainer(self, cfg, device):
        """What the shared training loop steps (see palette_bench/train.py), or None when the method does not learn."""
        return None

    @property
    def learns(self) -> bool:
        return type(self).trainer is not Method.trainer

    def predictor(self, cfg, state: dict | None, device):
        """An object with predict(condition, mask, generator) -> outputs; None when the outputs already exist."""
        raise NotImplementedError

    def samples_per_input(self, cfg, protocol) -> int:
        return (cfg.sample.samples_per_input or protocol.diversity_samples) if self.stochastic else 1

    def eval_name(self, cfg) -> str:
        """The evaluation folder's name: the set, the sampler of stochastic methods, and '-raw' without EMA.

        The step schedule is named unless it is "paper", so folders made before schedules existed keep their names.
        """
        s, name = cfg.sample, cfg.eval_set
        if self.stochastic:
            name += f"-{s.sampler}{s.steps}"
            if s.schedule != "paper":
                name += f"-{s.schedule}"
        if self.uses_ema and not s.use_ema:
            name += "-raw"
        if self.stochastic and s.sampler == "ddim" and s.eta:
            name += f"-eta{s.eta:g}"
        if self.stochastic and s.sampler == "heun" and s.churn:
            name += f"-churn{s.churn:g}"
        return name

    def folder_name(self, cfg, protocol_name: str) -> str:
        """The run folder's name before any hash of overrides; a training seed other than 0 is named (--seeds)."""
        return f"{protocol_name}-{cfg.task}-{self.name}-{cfg.preset}" + (f"-seed{cfg.seed}" if cfg.seed else "")

    def outputs(self, cfg, eval_dir: Path) -> Path:
        """Where the outputs to evaluate are: the run's own samples, unless the method brings them."""
        return eval_dir / "samples"

    def check(self, cfg) -> None:
        """Refuse a config this method cannot run (before anything is computed)."""
        if cfg.pred or cfg.name:
            raise ConfigError("--pred DIR and --name NAME go with --method external, and it needs both")


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add one instance of `cls` to the registry under cls.name."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"method name {cls.name!r} is empty or registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def _load() -> None:
    for module in METHOD_MODULES:  # already-imported modules cost a dict look-up
        importlib.import_module(module)


def method_names() -> list[str]:
    """Registered names in the order of METHOD_MODULES (whatever was imported first), others after them."""
    _load()
    rank = {module: i for i, module in enumerate(METHOD_MODULES)}
    return sorted(_REGISTRY, key=lambda name: rank.get(type(_REGISTRY[name]).__module__, len(rank)))


def get_method(name: str) -> Method:
    """The registered method `name`; an unknown name lists the choices."""
    _load()
    if name not in _REGISTRY:
        raise ConfigError(f"method '{name}' is not available (available: {', '.join(method_names())})")
    return _REGISTRY[name]


__all__ = ["METHOD_MODULES", "Method", "get_method", "method_names", "register"]
