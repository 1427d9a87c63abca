"""`palette-bench compare`: paired bootstrap intervals of A - B on the same evaluation inputs, and refusals of anything else."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_small_builtin
from runfolders import write_eval
from standins import perturb
from test_eval_protocol import TINY_JUDGE, originals, write_method

import palette_bench.compare as compare_module
from palette_bench.cli import main
from palette_bench.compare import HIGHER_IS_BETTER, CompareError, compare, paired_interval, verdict
from palette_bench.evaluate import EvalOptions, evaluate_protocol
from palette_bench.io import atomic_write_npz
from palette_bench.metrics import bootstrap as bs
from palette_bench.metrics.fid import FrechetReplicates, FrechetToReference, statistics
from palette_bench.metrics.inception_score import inception_score
from palette_bench.metrics.kid import ResampledKID, kid
from palette_bench.metrics.reference import cache_root
from palette_bench.metrics.resampled_is import ResampledInceptionScore
from palette_bench.protocols import load_protocol

ALL = {"fid", "is", "kid", "pd", "ca_top1", "ca_top5", "lpips", "psnr", "psnr_mask", "ssim", "ssim_mask", "div_msssim", "div_lpips"}


def overlap(ci1, ci2) -> bool:
    return ci1[0] <= ci2[1] and ci2[0] <= ci1[1]


def excludes_zero(ci) -> bool:
    return ci[0] > 0 or ci[1] < 0


def test_paired_means_decide_where_unpaired_intervals_overlap():
    """Inputs that differ widely among themselves, and A better than B by 0.1 on each: only pairing sees it."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 100, 200)  # easy and hard inputs: a large spread between inputs
    a, b = x + 0.1 + rng.normal(0, 0.2, 200), x
    value, ci = paired_interval(lambda i: a[i].mean(), lambda i: b[i].mean(), 200)
    assert value == pytest.approx(a.mean() - b.mean()) and excludes_zero(ci) and ci[0] < value < ci[1]
    assert overlap(bs.mean_ci(a, 1000), bs.mean_ci(b, 1000))
    # a PD-like metric: lower is better, so B (smaller values) wins
    assert verdict("pd", ci) == "B better" and verdict("psnr", ci) == "A better"


def test_paired_fid_decides_where_unpaired_intervals_overlap():
    """FID through features: A's rows are B's rows shifted away from the reference by a small constant vector.

    FID_A - FID_B = 2 delta . (mu_B - mu_ref) + |delta|^2 depends on the resample only through one
    coordinate of B's mean, while each FID varies with the widely spread covariance of the set.
    """
    rng = np.random.default_rng(0)
    d, n = 8, 200
    ref = rng.normal(size=(1000, d))
    b = rng.normal(size=(n, d)) * np.array([1.0] + [6.0] * (d - 1)) + 2 * np.eye(d)[0]
    a = b + 0.3 * np.eye(d)[0]
    fid = FrechetToReference(*statistics(ref))
    value, ci = paired_interval(lambda i: fid.fast(a[i]), lambda i: fid.fast(b[i]), n, value=fid(a) - fid(b))
    assert value == pytest.approx(2 * 0.3 * (b[:, 0].mean() - ref[:, 0].mean()) + 0.09, rel=1e-6)
    assert excludes_zero(ci) and verdict("fid", ci) == "B better"
    unpaired = [bs.statistic_ci(n, lambda i, x=x: fid.fast(x[i]), fid(x), 1000) for x in (a, b)]
    assert overlap(*unpaired)


@pytest.mark.parametrize("n, subset_size, gram", [(40, 1000, True), (40, 16, True), (40, 16, False)])
def test_resampled_kid_is_kid_of_the_resampled_rows(n, subset_size, gram):
    """compare's KID replicates come from kernels computed once; they equal kid() on the resampled rows, duplicates included."""
    rng = np.random.default_rng(n + subset_size)
    f, r = rng.normal(size=(n, 8)) + 0.3, rng.normal(size=(300, 8))
    resampled = ResampledKID(f, r, subsets=10, subset_size=subset_size)
    if not gram:
        resampled.gram = None  # the route of sets too large for their Gram matrix
    for idx in [np.arange(n), *bs.resamples(n, 3)]:
        assert resampled(idx) == pytest.approx(kid(f[idx], r, subsets=10, subset_size=subset_size), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("n, classes", [(40, 10), (25, 1008)])
def test_resampled_inception_score_is_inception_score_of_the_resampled_rows(n, classes):
    """compare's IS replicates come from one softmax of the set; they equal inception_score() on the resampled logits, duplicates included."""
    logits = np.random.default_rng(n).normal(size=(n, classes)) * 3
    resampled = ResampledInceptionScore(logits)
    for idx in [np.arange(n), *bs.resamples(n, 5)]:
        assert resampled(idx) == pytest.approx(inception_score(logits[idx]), rel=1e-12)


def test_verdict_needs_an_interval_that_excludes_zero():
    assert verdict("fid", (-2.0, -1.0)) == "A better" and verdict("is", (-2.0, -1.0)) == "B better"
    assert verdict("div_lpips", (0.5, 1.0)) == "A better" and verdict("div_msssim", (0.5, 1.0)) == "B better"
    for ci in ((-1.0, 1.0), (0.0, 0.0), (0.0, 1.0), None):
        assert verdict("pd", ci) == "cannot decide"


@pytest.fixture
def two_methods(tmp_path):
    """Two evaluations of inpainting/center on the small builtin protocol (20 inputs, 2 samples): little noise (A) and more (B)."""
    return noisy_pair(tmp_path, EvalOptions(judge_config=TINY_JUDGE, progress=False, bootstrap=20), samples=2)


def noisy_pair(tmp_path, opts: EvalOptions, samples: int = 1) -> list:
    """Evaluation folders (metrics.json and eval_arrays.npz) of inpainting/center on the small builtin
    protocol: the originals with light noise (a) and with 5x heavier noise (b)."""
    proto = load_protocol(str(write_small_builtin(tmp_path / "small.toml")))
    idx, orig = originals(proto, "inpainting", "center")
    folders = []
    for name, amount in (("a", 8), ("b", 40)):
        pred = write_method(tmp_path / f"pred-{name}", idx, perturb(orig, amount, seed=1), samples=samples)
        ev = tmp_path / name
        ev.mkdir()
        result = evaluate_protocol(proto, "inpainting", "center", pred, opts, arrays_out=ev / "eval_arrays.npz")
        (ev / "metrics.json").write_text(json.dumps(result))
        folders.append(ev)
    return folders


def test_arrays_reproduce_metrics_json_and_compare_decides_the_noise_but_not_against_itself(two_methods):
    a, b = two_methods
    result = json.loads((a / "metrics.json").read_text())
    assert result["arrays"] == "eval_arrays.npz"
    with np.load(a / "eval_arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    assert list(arrays["index"]) == list(range(20)) and arrays["pool"].dtype == np.float32
    assert arrays["pool"].shape[0] == arrays["logits"].shape[0] == 20
    assert set(arrays) == {"index", "pool", "logits"} | (ALL - {"fid", "is", "kid"})
    assert set(np.unique(arrays["ca_top1"])) <= {0.0, 1.0}
    r = compare(a, b, replicates=200)
    assert set(r["metrics"]) == ALL and r["n"] == 20 and r["replicates"] == 200
    for name, m in r["metrics"].items():  # recomputed from the arrays, the values are metrics.json's
        assert m["a"] == pytest.approx(result["metrics"][name]["value"], rel=1e-9, abs=1e-12), name
        assert m["difference"] == pytest.approx(m["a"] - m["b"], rel=1e-9, abs=1e-12), name
        assert m["ci95"][0] <= m["difference"] <= m["ci95"][1], name
    # 5x less noise on every input: better in pixels and in the judge's distances, beyond resampling noise
    for name in ("psnr", "ssim", "pd", "lpips"):
        assert r["metrics"][name]["verdict"] == "A better", name
    assert compare(b, a, ("psnr",), replicates=200)["metrics"]["psnr"]["verdict"] == "B better"

    # a method against itself (a copy of its folder): exactly 0, with the interval [0, 0], for every metric
    shutil.copytree(a, a.parent / "copy")
    r = compare(a, a.parent / "copy", replicates=100)
    assert set(r["metrics"]) == ALL
    for name, m in r["metrics"].items():
        assert m["difference"] == 0 and m["ci95"] == [0.0, 0.0] and m["verdict"] == "cannot decide", name


def _edit(src, dst, change=None, arrays=None):
    shutil.copytree(src, dst)
    result = json.loads((dst / "metrics.json").read_text())
    if change:
        change(result)
    (dst / "metrics.json").write_text(json.dumps(result))
    if arrays:
        with np.load(dst / "eval_arrays.npz") as z:
            a = {k: z[k] for k in z.files}
        arrays(a)
        np.savez(dst / "eval_arrays.npz", **a)
    return dst


def test_refuses_other_inputs_references_and_feature_spaces_and_says_what_is_missing(two_methods, tmp_path):
    a, b = two_methods
    key = json.loads((a / "metrics.json").read_text())["reference"]["cache_key"]

    def refused(other, *metrics):
        with pytest.raises(CompareError) as e:
            compare(a, other, metrics or None, replicates=10)
        return str(e.value)

    other_set = _edit(b, tmp_path / "set", lambda r: r.update(eval_set="ff20-30"))
    assert refused(other_set) == "A and B were evaluated on different inputs: eval_set center vs ff20-30"
    # the multi-task model's center inputs are the inpainting model's: compared; another task's are refused
    multi = _edit(b, tmp_path / "multi", lambda r: r.update(task="multi"))
    assert compare(a, multi, ("pd",), replicates=10)["task"] == "inpainting"
    assert refused(_edit(b, tmp_path / "task", lambda r: r.update(task="jpeg"))) == "A and B were evaluated on different inputs: task inpainting vs jpeg"
    other_n = _edit(b, tmp_path / "n", lambda r: r.update(n=19))
    assert refused(other_n) == "A and B were evaluated on different inputs: n 20 vs 19"
    other_rows = _edit(b, tmp_path / "rows", arrays=lambda z: z["index"].__setitem__(3, 33))
    assert refused(other_rows) == "A and B were evaluated on different inputs: evaluation indices differ (row 3: 3 vs 33)"
    other_ref = _edit(b, tmp_path / "ref", lambda r: r["reference"].update(cache_key="f" * 64))
    assert refused(other_ref) == f"A and B were evaluated against different reference sets: cache key {key[:12]}… vs ffffffffffff…"
    assert "psnr" in compare(a, other_ref, ("psnr",), replicates=10)["metrics"]  # pixels need no reference

    def inception(r):
        r["metrics"]["fid"].update(extractor="inception-v3-tf (torch-fidelity 0.4.0)", weights_sha256="6726825d0af5" + "0" * 52)

    message = refused(_edit(b, tmp_path / "space", inception))
    assert message.startswith("A and B used different feature spaces: fid by judge-builtin-64px (weights ")
    assert message.endswith(" vs inception-v3-tf (weights 6726825d0af5…)")

    # an evaluation from before the arrays existed, and a reference no longer in the cache: how to recreate them
    old = _edit(b, tmp_path / "old", lambda r: r.pop("arrays"))
    (old / "eval_arrays.npz").unlink()
    with pytest.raises(CompareError, match="no eval_arrays.npz beside it .* --stage eval --force"):
        compare(a, old)
    (cache_root() / "reference" / f"{key}.npz").unlink()
    with pytest.raises(CompareError, match=f"reference features {key[:12]}… are not in .*palette-bench eval --run"):
        compare(a, b, replicates=10)
    assert set(compare(a, b, ("pd", "lpips"), replicates=10)["metrics"]) == {"pd", "lpips"}


def test_two_classical_runs_end_to_end(tmp_path):
    """Biharmonic against Telea inpainting on the smoke preset: a table, a JSON object, and the arrays of the 4 inputs."""
    proto = write_small_builtin(tmp_path / "small.toml")
    common = ["run", "--task", "inpainting", "--preset", "smoke", "--protocol", str(proto), "--method", "classical", "--runs-root", str(tmp_path / "runs")]
    for extra in ([], ["--set", "classical.inpaint=telea"]):
        res = CliRunner().invoke(main, common + extra)
        assert res.exit_code == 0, res.output
    runs = sorted((tmp_path / "runs").iterdir())
    assert [r.name for r in runs][0] == "small-builtin-inpainting-classical-smoke" and len(runs) == 2
    for run in runs:
        with np.load(run / "eval" / "ff20-30" / "eval_arrays.npz") as z:
            assert len(z["index"]) == len(z["pool"]) == len(z["psnr"]) == 4

    # a run folder with one evaluation, and an eval folder
    res = CliRunner().invoke(main, ["compare", str(runs[0]), str(runs[1] / "eval" / "ff20-30"), "--replicates", "50"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("A: ") and lines[1].startswith("B: ") and "verdict" in lines[3]
    assert any(line.split()[0] == "psnr" for line in lines[4:]) and "is: skipped" not in res.output  # IS needs 10 inputs: in neither

    res = CliRunner().invoke(main, ["compare", str(runs[0] / "eval" / "ff20-30" / "metrics.json"), str(runs[1]), "--json", "--metrics", "fid,psnr,ssim"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert set(r["metrics"]) == {"fid", "psnr", "psnr_mask", "ssim", "ssim_mask"} and r["replicates"] == 1000 and r["n"] == 4
    # pixel metrics: the interval and verdict recomputed here from the two arrays; FID: the verdict its interval implies
    arrays = [np.load(run / "eval" / "ff20-30" / "eval_arrays.npz") for run in runs]
    decided = []
    for name, m in r["metrics"].items():
        if name != "fid":
            d = arrays[0][name] - arrays[1][name]
            means = d[np.random.default_rng(0).integers(0, 4, size=(1000, 4))].mean(axis=1)
            lo, median, hi = np.percentile(means, [2.5, 50, 97.5])
            assert m["ci95"] == pytest.approx([lo - median + d.mean(), hi - median + d.mean()], rel=1e-9, abs=1e-12), name
        lo, hi = m["ci95"]
        expected = "cannot decide" if lo <= 0 <= hi else ("A better" if (lo > 0) == (name in HIGHER_IS_BETTER) else "B better")
        assert m["verdict"] == expected, name
        decided += [name] if expected != "cannot decide" else []
    assert decided == ["ssim", "ssim_mask"]  # biharmonic keeps structure better on all four inputs: the check has a decided case

    shutil.copytree(runs[0] / "eval" / "ff20-30", runs[0] / "eval" / "center")
    res = CliRunner().invoke(main, ["compare", str(runs[0]), str(runs[1])])
    assert res.exit_code == 2 and "has several evaluations; name one: " in res.output and "eval/center, " in res.output
    res = CliRunner().invoke(main, ["compare", str(runs[1]), str(runs[1]), "--metrics", "sharpness"])
    assert res.exit_code == 2 and "unknown metric 'sharpness'" in res.output


def _synthetic(runs, name, pool, fid, method="palette", **per_input):
    """A hand-written evaluation with pool features (FID against the reference under the cache key write_eval records) and per-input values."""
    n = len(pool)
    ev = write_eval(runs, name, {"fid": fid(pool), **per_input}, method=method, n=n)
    with np.load(ev / "eval_arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(ev / "eval_arrays.npz", **arrays, pool=pool, logits=np.zeros((n, 4)))
    return ev


def _reference(rng, d=8, scale=1.0):
    mu, sigma = statistics(rng.normal(size=(400, d)) * scale)
    atomic_write_npz(cache_root() / "reference" / f"{'c' * 64}.npz", mu=mu, sigma=sigma)
    return FrechetToReference(mu, sigma)


def test_psnr_compares_the_same_inputs_on_both_sides(tmp_path):
    """A is 0.5 dB better than B on every input and reproduces the 20 easy ones exactly (infinite PSNR).

    Each side's mean over its own finite inputs would set A's 20 hard inputs against all 40 of B's:
    B "better" by about 15 dB. Paired, an input not finite on one side leaves both.
    """
    rng = np.random.default_rng(0)
    b = np.concatenate([rng.normal(50, 3, 20), rng.normal(20, 3, 20)])
    a = b + 0.5 + rng.normal(0, 0.1, 40)
    a[:20] = np.inf
    runs = tmp_path / "runs"
    ea, eb = write_eval(runs, "a", {"psnr": a}, n=40), write_eval(runs, "b", {"psnr": b}, method="regression", n=40)
    r = compare(ea, eb, ("psnr",))
    m = r["metrics"]["psnr"]
    assert m["verdict"] == "A better" and m["left_out"] == 20
    assert (m["a"], m["b"]) == pytest.approx((a[20:].mean(), b[20:].mean()), rel=1e-12)
    assert m["difference"] == pytest.approx((a - b)[20:].mean(), rel=1e-12) and 0.4 < m["ci95"][0] < m["ci95"][1] < 0.6
    assert "psnr: 20 inputs left out of A and B alike (infinite PSNR on one side: an output identical to its original)" in compare_module.table(r)
    # diversity is NaN for the inputs past sample.diversity_n, and the table says that, not "identical to its original"
    d = np.concatenate([rng.uniform(0.3, 0.7, 10), np.full(30, np.nan)])
    r = compare(write_eval(runs, "c", {"div_lpips": d}, n=40), write_eval(runs, "d", {"div_lpips": d + 0.01}, n=40), ("div_lpips",))
    assert r["metrics"]["div_lpips"]["left_out"] == 30
    assert "div_lpips: 30 inputs left out of A and B alike (no diversity samples on one side" in compare_module.table(r)


def test_an_interval_that_ends_at_zero_is_undecided(tmp_path):
    """CA top-5: A right where B is wrong on 2 of 500 inputs. A replicate drawing neither (e^-2, 13%) differs by exactly 0,
    so the interval's lower end is exactly 0: "cannot decide", not an "A better" from the rounding of 1 - 0.996."""
    a, b = np.ones(500), np.ones(500)
    b[[3, 7]] = 0
    runs = tmp_path / "runs"
    m = compare(write_eval(runs, "a", {"ca_top5": a}, n=500), write_eval(runs, "b", {"ca_top5": b}, method="regression", n=500), ("ca_top5",))["metrics"]["ca_top5"]
    assert m["ci95"][0] == 0 and m["verdict"] == "cannot decide"


def _three(tmp_path, n=60):
    rng = np.random.default_rng(3)
    fid = _reference(rng)
    runs = tmp_path / "runs"
    base = rng.normal(size=(n, 8))
    per_input = lambda: {"pd": rng.uniform(1, 2, n)}  # noqa: E731
    a = _synthetic(runs, "a", base + 0.05 * rng.normal(size=(n, 8)), fid, **per_input())
    b = _synthetic(runs, "b", base + 0.4 + 0.05 * rng.normal(size=(n, 8)), fid, method="regression", **per_input())
    c = _synthetic(runs, "c", base * 1.3 + 0.05 * rng.normal(size=(n, 8)), fid, method="classical", **per_input())
    return fid, a, b, c


def test_adaptive_fid_interval_is_the_old_routes_with_the_replicates_it_chose(tmp_path):
    """FID replicates from bootstrap counts, kept per evaluation, and the paired interval of their differences:
    the interval FrechetToReference.fast gives on the resampled rows of both, with as many replicates."""
    fid, a, b, _ = _three(tmp_path)
    adaptive = compare(a, b, ("fid",))["metrics"]["fid"]
    count = adaptive["replicates"]
    assert 200 <= count <= 1000 and count % 100 == 0 and len(adaptive["mc_se"]) == 2
    fixed = compare(a, b, ("fid",), replicates=count, adaptive=False)["metrics"]["fid"]
    assert fixed["ci95"] == adaptive["ci95"] and fixed["replicates"] == count
    xa, xb = (np.load(e / "eval_arrays.npz")["pool"] for e in (a, b))
    value, ci = paired_interval(lambda i: fid.fast(xa[i]), lambda i: fid.fast(xb[i]), len(xa), count, value=fid(xa) - fid(xb))
    assert adaptive["difference"] == pytest.approx(value, rel=1e-12)
    assert adaptive["ci95"] == pytest.approx(list(ci), rel=1e-9)
    # the cap: --replicates below the floor is the count itself
    assert compare(a, b, ("fid",), replicates=50)["metrics"]["fid"]["replicates"] == 50


def test_comparisons_and_each_evaluations_fid_replicates_are_computed_once(tmp_path, monkeypatch):
    _, a, b, c = _three(tmp_path)
    loads, drawn = [], []
    real_load, real_call = compare_module.load, FrechetReplicates.__call__
    monkeypatch.setattr(compare_module, "load", lambda path: loads.append(path) or real_load(path))
    monkeypatch.setattr(FrechetReplicates, "__call__", lambda self, counts: drawn.append(len(counts)) or real_call(self, counts))

    first = compare(a, b, ("fid", "pd"))
    r_ab = first["metrics"]["fid"]["replicates"]
    assert len(loads) == 2 and sum(drawn) == 2 * r_ab  # A's and B's replicates, each computed once
    # A against C: A's replicates are read back (and extended if this comparison needs more); C's are computed
    drawn.clear()
    r_ac = compare(a, c, ("fid",))["metrics"]["fid"]["replicates"]
    assert sum(drawn) == r_ac + max(0, r_ac - r_ab)

    # the same comparison again: read back whole, no evaluation even loaded
    loads.clear(), drawn.clear()
    assert compare(a, b, ("fid", "pd")) == first and loads == [] and drawn == []
    assert len(list((cache_root() / "compare").glob("*.json"))) == 2

    # any input file that changes is a new comparison: B's arrays, A's metrics.json, the reference
    with np.load(b / "eval_arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(b / "eval_arrays.npz", **{**arrays, "pd": arrays["pd"] + 1})
    again = compare(a, b, ("fid", "pd"))
    assert len(loads) == 2 and again["metrics"]["pd"]["difference"] == pytest.approx(first["metrics"]["pd"]["difference"] - 1)
    assert sum(drawn) == again["metrics"]["fid"]["replicates"]  # B's arrays changed: its replicates are recomputed, A's are not
    loads.clear()
    result = json.loads((a / "metrics.json").read_text())
    (a / "metrics.json").write_text(json.dumps({**result, "note": "edited"}))
    assert compare(a, b, ("fid", "pd"))["metrics"] == again["metrics"] and len(loads) == 2
    loads.clear()
    _reference(np.random.default_rng(9), scale=1.5)
    moved = compare(a, b, ("fid", "pd"))
    assert len(loads) == 2 and moved["metrics"]["fid"]["a"] != again["metrics"]["fid"]["a"]
    assert moved["metrics"]["pd"] == again["metrics"]["pd"]
