"""The method registry: names, folder names, no import circles, and a new method added in one place."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import palette_bench.methods as registry
from palette_bench.cli import main
from palette_bench.config import ConfigError
from palette_bench.methods import Method, get_method, method_names, register
from palette_bench.run import eval_dir_for, finalize
from palette_bench.runconfig import resolve

REPO = Path(__file__).resolve().parent.parent


def test_the_registered_methods_and_an_unknown_name():
    assert method_names() == ["palette", "regression", "pix2pix", "classical", "external"]
    with pytest.raises(ConfigError, match=r"method 'palete' is not available \(available: palette, regression, pix2pix, classical, external\)"):
        get_method("palete")
    learns = {name: get_method(name).learns for name in method_names()}
    assert learns == {"palette": True, "regression": True, "pix2pix": True, "classical": False, "external": False}
    assert [n for n in method_names() if get_method(n).stochastic] == ["palette"]


@pytest.mark.parametrize(
    "method,overrides,name",
    [
        ("palette", [], "ff20-30-ddim3"),
        ("palette", ["sample.use_ema=false"], "ff20-30-ddim3-raw"),
        ("palette", ['sample.sampler="ddim"', "sample.eta=1.0"], "ff20-30-ddim3-eta1"),
        ("palette", ['sample.sampler="ancestral"', "sample.steps=50"], "ff20-30-ancestral50"),
        ("palette", ['sample.schedule="paper"'], "ff20-30-ddim3"),  # the default keeps the names of older folders
        ("palette", ['sample.schedule="logsnr"'], "ff20-30-ddim3-logsnr"),
        ("palette", ['sample.schedule="karras"', "sample.use_ema=false", "sample.eta=1.0"], "ff20-30-ddim3-karras-raw-eta1"),
        ("regression", [], "ff20-30"),
        ("regression", ["sample.use_ema=false"], "ff20-30-raw"),
        ("pix2pix", ["sample.use_ema=false"], "ff20-30"),  # pix2pix keeps no EMA
        ("classical", [], "ff20-30"),
    ],
)
def test_evaluation_folder_names(method, overrides, name):
    cfg = finalize(resolve("inpainting", "smoke", overrides, method=method))
    assert eval_dir_for(cfg, Path("run")) == Path("run") / "eval" / name


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_palette_bench_never_imports_baselines():
    """Only the registry reaches baselines/, by module name; baselines/ use palette_bench's public modules."""
    for path in (REPO / "palette_bench").rglob("*.py"):
        bad = {m for m in _imports(path) if m == "baselines" or m.startswith("baselines.")}
        assert not bad, f"{path} imports {bad}"
    for path in (REPO / "baselines").glob("*.py"):
        private = {m for m in _imports(path) if m.startswith("palette_bench") and any(part.startswith("_") for part in m.split("."))}
        assert not private, f"{path} imports {private}"


@pytest.mark.parametrize("first", ["baselines.pix2pix", "baselines.regression", "palette_bench.train", "palette_bench.methods.palette", "palette_bench.run"])
def test_each_module_imports_first_in_a_fresh_interpreter(first):
    """An import circle shows up as an ImportError when the wrong module of the circle is imported first."""
    code = f"import {first}; from palette_bench.methods import method_names; print(','.join(method_names()))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "palette,regression,pix2pix,classical,external"


class _Blur:
    """Outputs the condition box-blurred, with known pixels kept: a deterministic method that is none of the shipped ones."""

    def predict(self, condition, mask, generator=None):
        out = torch.nn.functional.avg_pool2d(condition, 3, stride=1, padding=1, count_include_pad=False)
        return out if mask is None else torch.where(mask.bool(), out, condition)


def test_a_new_method_runs_through_the_registry_alone(tmp_path, small):
    """Registering a Method is all `run` needs: no other module names it."""

    @register
    class BlurMethod(Method):
        name = "blur"

        def predictor(self, cfg, state, device):
            return _Blur()

    try:
        res = CliRunner().invoke(main, ["run", "--task", "jpeg", "--method", "blur", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path / "runs")])
        assert res.exit_code == 0, res.output
        run_dir = tmp_path / "runs" / "small-builtin-jpeg-blur-smoke"
        metrics = json.loads((run_dir / "eval" / "q10" / "metrics.json").read_text())
        assert metrics["n"] == 4 and metrics["samples_per_input"] == 1 and "fid" in metrics["metrics"]
        assert not (run_dir / "checkpoints").exists()  # it does not learn: no training stage ran
    finally:
        registry._REGISTRY.pop("blur", None)
