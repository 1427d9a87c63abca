"""The builtin judge: shapes, deterministic training, the packaged default and its accuracy, the verified cache of
other configs, and (slow) retraining the default from scratch."""

import dataclasses
import hashlib
import io

import pytest
import torch

from palette_bench.metrics import judge
from palette_bench.metrics.judge import JUDGE_SIZE, JudgeConfig, JudgeNet, judge_accuracy, judge_path, load_judge, train_judge

TINY = JudgeConfig(train_images=300, epochs=1)


@pytest.mark.parametrize("size", [32, 64, 256])
def test_forward_shapes_and_dtypes(size):
    torch.manual_seed(0)
    model = JudgeNet().eval()
    x = torch.randint(0, 256, (3, 3, size, size), dtype=torch.uint8)
    with torch.no_grad():
        out = model(x)
    assert out["features"].shape == (3, 256) and out["features"].dtype == torch.float32
    assert out["logits"].shape == (3, 10) and out["logits"].dtype == torch.float32
    assert torch.isfinite(out["features"]).all() and torch.isfinite(out["logits"]).all()
    assert [tuple(m.shape) for m in out["maps"]] == [(3, 32, 32, 32), (3, 64, 16, 16), (3, 128, 8, 8), (3, 256, 4, 4)]
    assert all(m.dtype == torch.float32 for m in out["maps"])


def test_preprocess_resizes_antialiased_and_scales_to_unit_range():
    big = torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8)
    expected = torch.nn.functional.interpolate(big.float(), size=(64, 64), mode="bilinear", antialias=True) / 127.5 - 1
    assert torch.allclose(judge.preprocess(big), expected, atol=1e-6)
    native = torch.tensor([0, 255], dtype=torch.uint8).repeat(1, 3, JUDGE_SIZE, JUDGE_SIZE // 2)
    out = judge.preprocess(native)
    assert out.shape == (1, 3, JUDGE_SIZE, JUDGE_SIZE) and out.min() == -1 and out.max() == 1  # 64 px is not resampled


def test_rejects_float_and_tiny_input():
    model = JudgeNet().eval()
    with pytest.raises(TypeError, match="uint8"):
        model(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="H, W >= 16"):
        model(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_training_is_deterministic_and_leaves_global_state_alone():
    torch.manual_seed(123)
    rng_before, threads_before = torch.get_rng_state(), torch.get_num_threads()
    first = train_judge(TINY)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before
    second = train_judge(TINY)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_cache_trains_once_verifies_and_rejects_corruption(tmp_path, monkeypatch):
    model, sha = load_judge(TINY, cache_dir=tmp_path)
    path = judge_path(TINY, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("judge-64px-") and path.suffix == ".pt"
    assert path.exists() and path.with_name(path.name + ".sha256").exists()
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not model.training

    def no_training(*args, **kwargs):
        raise AssertionError("load_judge retrained although the judge was cached")

    monkeypatch.setattr(judge, "train_judge", no_training)
    again, sha_again = load_judge(TINY, cache_dir=tmp_path)
    assert sha_again == sha
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    saved = torch.load(path, weights_only=True)
    assert saved["config"]["train_images"] == 300 and 0.0 <= saved["test_accuracy"] <= 1.0

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as error:
        load_judge(TINY, cache_dir=tmp_path)
    message = str(error.value)
    assert str(path) in message and "corrupt" in message and "\n" not in message


def test_missing_judge_without_training_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(judge_path(TINY, tmp_path)).replace(".", r"\.")):
        load_judge(TINY, cache_dir=tmp_path, train_if_missing=False)


def test_paths_are_keyed_on_the_config(tmp_path, monkeypatch):
    paths = {judge_path(c, tmp_path) for c in [JudgeConfig(), TINY, JudgeConfig(seed=1), JudgeConfig(data_seed=1), JudgeConfig(lr=1e-3)]}
    assert len(paths) == 5
    assert judge_path(JudgeConfig(), tmp_path) == judge_path(JudgeConfig(), tmp_path)
    monkeypatch.setenv("PALETTE_BENCH_CACHE", str(tmp_path / "cache"))
    assert judge_path().parent == tmp_path / "cache" / "judge"


def test_the_default_judge_is_the_packaged_file_and_is_never_trained(monkeypatch):
    monkeypatch.setattr(judge, "train_judge", lambda *a, **k: pytest.fail("the default judge was trained"))
    model, sha = load_judge()
    assert sha == judge.PACKAGED_SHA256 == hashlib.sha256(judge.PACKAGED.read_bytes()).hexdigest()
    packaged = torch.load(judge.PACKAGED, weights_only=True)
    assert packaged["config"] == dataclasses.asdict(JudgeConfig())
    assert all(torch.equal(v, packaged["state_dict"][k]) for k, v in model.state_dict().items())
    assert not model.training


def test_a_damaged_or_missing_packaged_judge_is_named(tmp_path, monkeypatch):
    damaged = tmp_path / judge.PACKAGED.name
    data = bytearray(judge.PACKAGED.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(judge, "PACKAGED", damaged)
    with pytest.raises(ValueError) as error:
        load_judge()
    assert str(damaged) in str(error.value) and judge.PACKAGED_SHA256 in str(error.value) and "\n" not in str(error.value)
    damaged.unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_judge()
    assert str(damaged) in str(error.value) and "palette-bench judge train --out" in str(error.value)


def test_default_judge_is_accurate():
    """The packaged judge on 2,000 clean builtin test images it was not trained on."""
    model, _ = load_judge()
    accuracy = judge_accuracy(model, "test", n=2000)
    assert accuracy >= 0.98
    assert accuracy == pytest.approx(torch.load(judge.PACKAGED, weights_only=True)["test_accuracy"], abs=1e-9)


@pytest.mark.slow
def test_retraining_reproduces_the_packaged_judge():
    """`palette-bench judge train`'s training from scratch: on the machine that made the package it writes the
    same bytes; on another CPU, whose kernels round differently, the weights may differ, but the judge must
    agree with the packaged one on what it sees (accuracy, and the label of nearly every test image)."""
    data, accuracy = judge.judge_bytes()
    packaged = torch.load(judge.PACKAGED, weights_only=True)
    assert accuracy == pytest.approx(packaged["test_accuracy"], abs=0.01)
    retrained = JudgeNet().eval()
    retrained.load_state_dict(torch.load(io.BytesIO(data), weights_only=True)["state_dict"])
    shipped, _ = load_judge()
    images, _ = judge._render_split("test", 2000, 0)
    with torch.no_grad():
        agree = (retrained(images)["logits"].argmax(1) == shipped(images)["logits"].argmax(1)).float().mean().item()
    assert agree >= 0.98
