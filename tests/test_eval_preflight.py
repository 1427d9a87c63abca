"""`palette-bench eval` checks every output file (name, count, size, decoding) before it loads a network or computes a reference feature."""

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import write_small_builtin
from PIL import Image
from standins import perturb, write_pngs

from palette_bench.cli import main
from palette_bench.data.evalset import EvalSet
from palette_bench.data.files import BadImageError
from palette_bench.data.predictions import Predictions, sample_filename
from palette_bench.evaluate import EvalOptions, evaluate_protocol
from palette_bench.metrics.judge import JudgeConfig
from palette_bench.protocols import load_protocol

TINY_JUDGE = JudgeConfig(train_images=300, epochs=1)


@pytest.fixture
def protocol(tmp_path):
    return load_protocol(str(write_small_builtin(tmp_path / "small.toml")))


@pytest.fixture
def outputs(tmp_path, protocol):
    """Two samples per input of inpainting/center, all well formed."""
    es = EvalSet(protocol, "inpainting", "center")
    orig = torch.stack([es.source[i].image for i in es.positions])
    folder = tmp_path / "pred"
    for k in range(2):
        write_pngs(folder, perturb(orig, 20, seed=k), names=[sample_filename(i, k) for i in es.positions])
    return folder


@pytest.fixture
def spent(monkeypatch):
    """Records each network load and reference pass; a bad folder must fail before either."""
    import palette_bench.evaluate as ev

    calls = []
    load, reference = ev.Networks.load, ev.protocol_reference
    monkeypatch.setattr(ev.Networks, "load", classmethod(lambda cls, *a, **k: calls.append("Networks.load") or load.__func__(cls, *a, **k)))
    monkeypatch.setattr(ev, "protocol_reference", lambda *a, **k: calls.append("protocol_reference") or reference(*a, **k))
    return calls


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# The damaged file is the last output, or an extra sample: a lazy check would meet it only at the end of the evaluation.
DAMAGE = [
    pytest.param(lambda d: Image.new("RGB", (16, 16)).save(d / "000019.png"), "000019.png: image is 16x16, the protocol needs 32x32", ValueError, id="wrong-size"),
    pytest.param(lambda d: Image.new("RGB", (16, 16)).save(d / "000019_1.png"), "000019_1.png: image is 16x16, the protocol needs 32x32", ValueError, id="wrong-size-extra-sample"),
    pytest.param(lambda d: truncate(d / "000019.png"), "000019.png: cannot decode image", BadImageError, id="truncated"),
    pytest.param(lambda d: truncate(d / "000012_1.png"), "000012_1.png: cannot decode image", BadImageError, id="truncated-extra-sample"),
    pytest.param(lambda d: (d / "000019.png").write_bytes(b""), "000019.png: file is empty (0 bytes)", BadImageError, id="empty"),
    pytest.param(lambda d: (d / "000019.png").write_bytes(b"not a png"), "000019.png: not a readable image file", BadImageError, id="not-an-image"),
]


@pytest.mark.parametrize("damage,message,error", DAMAGE)
def test_a_bad_file_stops_the_evaluation_before_any_network_or_reference(protocol, outputs, spent, damage, message, error):
    damage(outputs)
    with pytest.raises(error) as e:
        evaluate_protocol(protocol, "inpainting", "center", outputs, EvalOptions(judge_config=TINY_JUDGE, progress=False))
    assert message in str(e.value) and str(e.value).startswith(str(outputs)) and "\n" not in str(e.value)
    assert spent == []
    assert not (Path(os.environ["PALETTE_BENCH_CACHE"]) / "reference").exists()


@pytest.mark.parametrize("damage,message,error", [DAMAGE[0], DAMAGE[2]])
def test_the_cli_reports_it_in_one_line_and_computes_nothing(protocol, outputs, spent, damage, message, error):
    damage(outputs)
    res = CliRunner().invoke(main, ["eval", "--task", "inpainting", "--eval-set", "center", "--protocol", protocol.path, "--pred", str(outputs)])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and message in res.stderr and "Traceback" not in res.output
    assert spent == []
    assert not (Path(os.environ["PALETTE_BENCH_CACHE"]) / "reference").exists()


def test_a_good_folder_passes_and_then_loads_networks_once(protocol, outputs, spent):
    r = evaluate_protocol(protocol, "inpainting", "center", outputs, EvalOptions(judge_config=TINY_JUDGE, progress=False, bootstrap=0, metrics=("fid", "psnr")))
    assert spent == ["Networks.load", "protocol_reference"]
    assert r["n"] == 20 and r["samples_per_input"] == 2 and r["metrics"]["fid"]["value"] > 0


def test_validate_reads_every_file_once(outputs, protocol, monkeypatch):
    import palette_bench.data.predictions as P

    opened = []
    real = P.open_rgb
    monkeypatch.setattr(P, "open_rgb", lambda path: opened.append(path.name) or real(path))
    es = EvalSet(protocol, "inpainting", "center")
    Predictions(outputs, es.positions, 32).validate(progress=False)
    assert sorted(opened) == sorted(p.name for p in outputs.iterdir()) and len(opened) == 40


def test_pixel_metrics_alone_load_no_network(protocol, outputs, monkeypatch):
    """PSNR/SSIM need no judge: none is trained for them."""
    monkeypatch.setattr("palette_bench.metrics.judge.load_judge", lambda *a, **k: pytest.fail("the judge was loaded"))
    r = evaluate_protocol(protocol, "inpainting", "center", outputs, EvalOptions(progress=False, bootstrap=0, metrics=("psnr", "ssim")))
    assert set(r["metrics"]) == {"psnr", "psnr_mask", "ssim", "ssim_mask"}

