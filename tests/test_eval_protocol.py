"""`palette-bench eval` in protocol mode on the builtin protocol with the judge, end to end and offline."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import write_small_builtin
from standins import perturb, write_pngs

from palette_bench.cli import main
from palette_bench.data.evalset import EvalSet
from palette_bench.data.predictions import sample_filename
from palette_bench.evaluate import EvalOptions, evaluate_protocol
from palette_bench.metrics.judge import JudgeConfig, default_cache_dir, load_judge
from palette_bench.protocols import load_protocol

# Read at import, before conftest's autouse fixture points PALETTE_BENCH_CACHE at a per-test folder.
USER_CACHE = default_cache_dir().parent

TINY_JUDGE = JudgeConfig(train_images=300, epochs=1)  # the tests' judge: seconds to train, same code path
FIELDS = {"value", "ci95", "n", "extractor", "weights_sha256", "verified"}


@pytest.fixture
def small_builtin(tmp_path):
    p = write_small_builtin(tmp_path / "small.toml")
    return load_protocol(str(p))


def originals(protocol, task, eval_set):
    es = EvalSet(protocol, task, eval_set)
    return es.positions, torch.stack([es.source[i].image for i in es.positions])


def write_method(folder, indices, images, samples=1):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(samples):
        write_pngs(folder, images if k == 0 else perturb(images, 20, seed=k), names=[sample_filename(i, k) for i in indices])
    return folder


def opts(**kw):
    return EvalOptions(judge_config=TINY_JUDGE, progress=False, **kw)


def test_full_suite_json_and_judge_labels(tmp_path, small_builtin):
    idx, orig = originals(small_builtin, "inpainting", "center")
    pred = write_method(tmp_path / "pred", idx, perturb(orig, 30), samples=2)
    r = evaluate_protocol(small_builtin, "inpainting", "center", pred, opts(bootstrap=50))
    m = r["metrics"]
    assert set(m) == {"fid", "is", "kid", "pd", "ca_top1", "ca_top5", "lpips", "psnr", "psnr_mask", "ssim", "ssim_mask", "div_msssim", "div_lpips"}
    for name, entry in m.items():
        assert FIELDS <= set(entry), name
        assert entry["n"] == 20 and entry["verified"]
        if name not in ("psnr", "psnr_mask", "ssim", "ssim_mask", "div_msssim"):
            assert entry["extractor"].startswith("judge"), name  # never mistaken for an Inception number
        lo, hi = entry["ci95"]
        assert lo <= entry["value"] <= hi, name
    assert r["feature_space"] == "judge" and r["samples_per_input"] == 2
    assert 0 < m["div_msssim"]["value"] < 1 and m["div_lpips"]["value"] > 0
    json.dumps(r)


def test_perfect_outputs_have_zero_distance_and_the_judges_accuracy(tmp_path, small_builtin):
    idx, orig = originals(small_builtin, "colorization", "gray")
    pred = write_method(tmp_path / "pred", idx, orig, samples=2)
    # identical second sample: diversity is exactly none
    write_pngs(pred, orig, names=[sample_filename(i, 1) for i in idx])
    r = evaluate_protocol(small_builtin, "colorization", "gray", pred, opts(bootstrap=0, metrics=("pd", "ca", "lpips", "diversity", "fid")))
    m = r["metrics"]
    assert m["pd"]["value"] == 0 and m["lpips"]["value"] == 0
    assert m["div_msssim"]["value"] == 1 and m["div_lpips"]["value"] == 0
    judge, sha = load_judge(TINY_JUDGE)
    labels = torch.tensor([EvalSet(small_builtin, "colorization", "gray").source[i].label for i in idx])
    expect = (judge(orig)["logits"].argmax(1) == labels).double().mean().item()
    assert m["ca_top1"]["value"] == pytest.approx(expect) and m["ca_top1"]["weights_sha256"] == sha
    # the originals are the first reference images: their FID against the reference is small, not zero
    assert 0 <= m["fid"]["value"] < 50


def test_protocol_metrics_do_not_depend_on_batch_size(tmp_path, small_builtin):
    idx, orig = originals(small_builtin, "inpainting", "center")
    pred = write_method(tmp_path / "pred", idx, perturb(orig, 25), samples=2)
    runs = [evaluate_protocol(small_builtin, "inpainting", "center", pred, opts(batch_size=b, bootstrap=10))["metrics"] for b in (1, 7, 64)]
    for name in runs[0]:
        values = [r[name]["value"] for r in runs]
        assert all(abs(v - values[0]) <= 1e-5 * max(abs(values[0]), 1e-8) for v in values), (name, values)


def test_worse_outputs_score_worse(tmp_path, small_builtin):
    idx, orig = originals(small_builtin, "inpainting", "center")
    good = write_method(tmp_path / "good", idx, perturb(orig, 10))
    bad = write_method(tmp_path / "bad", idx, perturb(orig, 120))
    g = evaluate_protocol(small_builtin, "inpainting", "center", good, opts(bootstrap=0))["metrics"]
    b = evaluate_protocol(small_builtin, "inpainting", "center", bad, opts(bootstrap=0))["metrics"]
    assert b["fid"]["value"] > g["fid"]["value"] and b["pd"]["value"] > g["pd"]["value"]
    assert b["lpips"]["value"] > g["lpips"]["value"] and b["psnr"]["value"] < g["psnr"]["value"]


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / "000003.png").unlink(), "000003.png: missing output for evaluation index 3"),
        (lambda d: (d / "000999.png").write_bytes((d / "000001.png").read_bytes()), "000999.png: extra file, index 999"),
        (lambda d: (d / "notes.txt").write_text("x"), "notes.txt: unexpected file"),
        (lambda d: __import__("PIL.Image", fromlist=["Image"]).new("RGB", (40, 40)).save(d / "000005.png"), "000005.png: image is 40x40, the protocol needs 32x32"),
    ],
)
def test_bad_prediction_folders_are_reported_by_name(tmp_path, small_builtin, damage, message):
    idx, orig = originals(small_builtin, "inpainting", "center")
    pred = write_method(tmp_path / "pred", idx, orig)
    damage(pred)
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        evaluate_protocol(small_builtin, "inpainting", "center", pred, opts(bootstrap=0, metrics=("psnr",)))


def test_cli_eval_protocol_mode_writes_json(tmp_path, small_builtin, monkeypatch):
    # the CLI uses the default judge; here it gets the tiny one, so the test takes seconds
    monkeypatch.setattr("palette_bench.metrics.judge.JudgeConfig", lambda: TINY_JUDGE)
    idx, orig = originals(small_builtin, "inpainting", "center")
    pred = write_method(tmp_path / "pred", idx, perturb(orig, 30))
    out = tmp_path / "metrics.json"
    res = CliRunner().invoke(main, ["eval", "--task", "inpainting", "--eval-set", "center", "--protocol", small_builtin.path, "--pred", str(pred), "--bootstrap", "20", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    assert json.loads(out.read_text()) == printed
    assert printed["metrics"]["fid"]["extractor"].startswith("judge") and printed["n"] == 20


@pytest.mark.slow
def test_default_judge_end_to_end(tmp_path, monkeypatch):
    """The shipped builtin protocol with the real default judge: the user's cached one (the main job trains it), else trained here (~2 min)."""
    monkeypatch.setenv("PALETTE_BENCH_CACHE", str(USER_CACHE))
    p = load_protocol("builtin")
    idx, orig = originals(p, "uncropping", "right")
    idx, orig = idx[:200], orig[:200]
    pred = write_method(tmp_path / "pred", idx, orig)
    res = CliRunner().invoke(main, ["eval", "--task", "uncropping", "--eval-set", "right", "--pred", str(pred), "--n", "200", "--json", "--metrics", "fid,is,pd,ca"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    assert m["ca_top1"]["value"] >= 0.95 and m["pd"]["value"] == 0 and np.isfinite(m["fid"]["value"])


def test_the_judge_runs_once_on_each_output(tmp_path, small_builtin, monkeypatch):
    """FID, IS, PD, CA and LPIPS in judge mode: one judge pass over the outputs, one over the originals (for LPIPS)."""
    from palette_bench.metrics.extractors import Judge

    idx, orig = originals(small_builtin, "inpainting", "center")
    pred = write_method(tmp_path / "pred", idx, perturb(orig, 30))
    evaluate_protocol(small_builtin, "inpainting", "center", pred, opts(bootstrap=0))  # trains the judge, caches the reference
    seen = []
    original_init = Judge.__init__

    def counting_init(self, model, sha256, device="cpu"):
        original_init(self, model, sha256, device)
        forward = self.model.forward

        def counted(x):
            seen.append(len(x))
            return forward(x)

        self.model.forward = counted

    monkeypatch.setattr(Judge, "__init__", counting_init)
    evaluate_protocol(small_builtin, "inpainting", "center", pred, opts(bootstrap=0, metrics=("fid", "is", "pd", "ca", "lpips")))
    assert sum(seen) == 2 * len(idx)  # outputs once, originals once; the reference comes from the cache


def test_cli_size_evaluates_outputs_sampled_at_another_size(tmp_path, monkeypatch):
    """Outputs at 32 px against the builtin protocol (64 px): refused as they are, evaluated against 32 px originals with --size 32."""
    from palette_bench.metrics import pixel

    monkeypatch.setattr("palette_bench.metrics.judge.JudgeConfig", lambda: TINY_JUDGE)
    idx, orig = originals(load_protocol("builtin").with_size(32), "inpainting", "center")
    idx, orig = idx[:6], orig[:6]
    out = perturb(orig, 30)
    pred = write_method(tmp_path / "pred", idx, out)
    args = ["eval", "--task", "inpainting", "--eval-set", "center", "--pred", str(pred), "--n", "6", "--metrics", "psnr,ca", "--bootstrap", "0", "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "000000.png: image is 32x32, the protocol needs 64x64" in res.stderr
    res = CliRunner().invoke(main, args + ["--size", "32"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["image_size"] == 32 and r["n"] == 6 and r["protocol"] == "builtin"
    assert r["metrics"]["psnr"]["value"] == pytest.approx(pixel.psnr(out, orig).double().mean().item())
    assert "ca_top1" in r["metrics"]


def test_diversity_on_a_subset_of_inputs(tmp_path, small_builtin):
    # K samples for the first 6 inputs only (sample.diversity_n): the diversity metrics are those of
    # those 6 inputs, every other metric uses all 20, and a missing middle sample is still an error
    idx, orig = originals(small_builtin, "inpainting", "center")
    full = write_method(tmp_path / "full", idx, perturb(orig, 30), samples=3)
    part = tmp_path / "part"
    part.mkdir()
    for p in full.iterdir():
        index, _, k = p.stem.partition("_")
        if not k or int(index) in idx[:6]:
            (part / p.name).write_bytes(p.read_bytes())
    metrics = ("psnr", "lpips", "diversity")
    a = evaluate_protocol(small_builtin, "inpainting", "center", full, opts(bootstrap=0, metrics=metrics), arrays_out=tmp_path / "a.npz")
    b = evaluate_protocol(small_builtin, "inpainting", "center", part, opts(bootstrap=0, metrics=metrics), arrays_out=tmp_path / "b.npz")
    assert b["diversity_inputs"] == 6 and a["diversity_inputs"] == 20 and b["samples_per_input"] == 3
    assert b["metrics"]["psnr"] == a["metrics"]["psnr"] and b["metrics"]["lpips"]["n"] == 20
    za, zb = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for name in ("div_msssim", "div_lpips"):
        assert b["metrics"][name]["n"] == 6
        np.testing.assert_allclose(zb[name][:6], za[name][:6], rtol=1e-6)
        assert np.isnan(zb[name][6:]).all()
        assert b["metrics"][name]["value"] == pytest.approx(float(za[name][:6].mean()), rel=1e-6)
    (part / sample_filename(idx[2], 1)).unlink()
    with pytest.raises(ValueError, match=f"{sample_filename(idx[2], 1)}: missing sample 1"):
        evaluate_protocol(small_builtin, "inpainting", "center", part, opts(bootstrap=0, metrics=("psnr",)))
