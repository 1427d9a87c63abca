"""Bootstrap intervals, their Monte-Carlo error, FID replicates from bootstrap counts, and the reference-statistics cache key."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import make_image
from palette_bench.data.sources import FileImages
from palette_bench.metrics import bootstrap as bs
from palette_bench.metrics.fid import FrechetReplicates, FrechetToReference, statistics
from palette_bench.metrics.reference import cache_key, reference_features


def test_mean_interval_contains_the_value_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 500, 5000):
        v = rng.normal(3.0, 1.0, n)
        lo, hi = bs.mean_ci(v, replicates=400)
        assert lo <= v.mean() <= hi
        widths.append(hi - lo)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]  # ~1/sqrt(n)
    assert abs(widths[2] - 2 * 1.96 / np.sqrt(5000)) < 0.02


def test_statistic_interval_contains_fid_and_narrows():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(2000, 8))
    fid = FrechetToReference(*statistics(ref))
    widths = []
    for n in (100, 1600):
        x = rng.normal(0.3, 1.1, size=(n, 8))
        value = fid(x)
        lo, hi = bs.statistic_ci(n, lambda i: fid.fast(x[i]), value, replicates=200)
        assert lo <= value <= hi
        widths.append(hi - lo)
    assert widths[0] > 2.5 * widths[1]


def test_interval_removes_the_resampling_bias_of_set_distances():
    """Duplicated inputs inflate FID on every replicate; the interval is moved back onto the value."""
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(3000, 16))
    fid = FrechetToReference(*statistics(ref))
    x = rng.normal(size=(60, 16))
    value = fid(x)
    reps = np.array([fid.fast(x[i]) for i in bs.resamples(60, 200)])
    assert np.percentile(reps, 2.5) > value  # the plain percentile interval would miss the value
    lo, hi = bs.statistic_ci(60, lambda i: fid.fast(x[i]), value, replicates=200)
    assert lo < value < hi


def test_interval_is_the_seeded_streams_in_any_process_and_optional():
    """The interval is that of the stream of seed 0, recomputed here by hand; another seed gives another, a fresh process the same."""
    v = np.arange(100.0)
    means = v[np.random.default_rng(0).integers(0, 100, size=(50, 100))].mean(axis=1)
    lo, median, hi = np.percentile(means, [2.5, 50, 97.5])
    assert bs.mean_ci(v, 50) == pytest.approx((lo - median + v.mean(), hi - median + v.mean()), rel=1e-12)
    assert bs.mean_ci(v, 50, seed=1) != bs.mean_ci(v, 50)
    code = "import numpy as np; from palette_bench.metrics import bootstrap as bs; print(repr(bs.mean_ci(np.arange(100.0), 50)))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert fresh.stdout.strip() == repr(bs.mean_ci(v, 50))
    assert bs.mean_ci(v, 0) is None and bs.mean_ci(v[:1], 50) is None


def test_the_first_replicates_do_not_depend_on_how_many_are_drawn():
    """What lets compare keep an evaluation's replicates and extend them: replicate r is the same resample in every call."""
    assert np.array_equal(bs.resamples(1013, 300, 7)[:200], bs.resamples(1013, 200, 7))
    counts = bs.resample_counts(1013, 200, 300, 7)
    assert counts.shape == (100, 1013) and (counts.sum(axis=1) == 1013).all()
    assert np.array_equal(counts[5], np.bincount(bs.resamples(1013, 300, 7)[205], minlength=1013))


@pytest.mark.parametrize("n, d", [(400, 16), (30, 64)])
def test_fid_from_bootstrap_counts_is_fid_of_the_resampled_rows(n, d):
    """The counted route against FrechetToReference.fast on the copied rows, with more inputs than dimensions and with fewer."""
    rng = np.random.default_rng(n)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    mu, sigma = statistics(rng.normal(size=(2000, d)) @ mix)
    x = rng.normal(size=(n, d)) @ mix * 1.2 + 0.3
    fid = FrechetToReference(mu, sigma)
    counted = FrechetReplicates(x, mu, sigma, device="cpu")(bs.resample_counts(n, 0, 20, 3))
    rows = np.array([fid.fast(x[i]) for i in bs.resamples(n, 20, 3)])
    # with fewer inputs than dimensions the covariance is singular: square roots of eigenvalues
    # at rounding level carry ~1e-8 of relative error in either route
    assert counted == pytest.approx(rows, rel=1e-12 if n > d else 1e-7)
    assert FrechetReplicates(x, mu, sigma, device="cpu")(np.ones((1, n)))[0] == pytest.approx(fid(x), rel=1e-12 if n > d else 1e-7)


def test_monte_carlo_error_of_a_quantile_matches_its_spread_over_independent_draws():
    """The order-statistic estimate against the standard deviation of the 2.5% quantile over 400 independent sets of 300 replicates."""
    rng = np.random.default_rng(4)
    sets = rng.standard_normal(size=(400, 300))
    spread = np.percentile(sets, 2.5, axis=1).std()
    estimates = np.array([bs.quantile_mc_se(s, 0.025) for s in sets])
    assert np.median(estimates) == pytest.approx(spread, rel=0.2)
    assert spread == pytest.approx(2.67 / np.sqrt(300), rel=0.15)  # sqrt(q (1 - q) / R) / pdf(quantile) for a normal


def test_replicates_are_added_until_the_monte_carlo_error_is_small_or_cannot_change_the_verdict():
    rule = bs.MonteCarloRule(floor=200, block=100, cap=1000, fraction=0.05, settled=3.0)
    rng = np.random.default_rng(5)
    stream = rng.standard_normal(5000)
    asked = []

    def of(shift):
        def replicates(k):
            asked.append(k)
            return stream[:k] + shift
        return replicates

    # far from 0: settled at the floor
    ci, count, se = bs.adaptive_interval(of(10.0), 10.0, rule)
    assert count == 200 and asked == [200] and ci[0] > 3 * se[0]
    # an end point near 0: blocks are added until the end points are precise
    asked.clear()
    ci, count, se = bs.adaptive_interval(of(1.96), 1.96, rule)
    assert count > 200 and asked == list(range(200, count + 1, 100)) and max(se) <= 0.05 * (ci[1] - ci[0])
    # a demand the cap cannot meet stops at the cap
    asked.clear()
    ci, count, se = bs.adaptive_interval(of(1.96), 1.96, bs.MonteCarloRule(fraction=0.001))
    assert count == 1000 and asked[-1] == 1000
    # the interval is percentile_interval of exactly the replicates it stopped at
    assert ci == bs.percentile_interval(stream[:1000] + 1.96, 1.96) and se == bs.interval_mc_se(stream[:1000] + 1.96)


class _FakeExtractor:
    info = {"extractor": "mean-colour", "weights_sha256": "abc", "verified": True}

    def __call__(self, images):
        return {"pool": images.double().mean(dim=(2, 3))}


def test_cache_key_changes_when_one_reference_file_changes(tmp_path):
    root = tmp_path / "ref"
    for i in range(4):
        make_image(root / f"{i}.jpg", seed=i)
    names = [f"{i}.jpg" for i in range(4)]
    key = cache_key(FileImages(root, names, 16), 16, _FakeExtractor.info)
    assert cache_key(FileImages(root, names, 16), 16, _FakeExtractor.info) == key
    assert cache_key(FileImages(root, names, 32), 32, _FakeExtractor.info) != key  # image size
    assert cache_key(FileImages(root, names, 16), 16, {**_FakeExtractor.info, "weights_sha256": "abd"}) != key  # weights
    assert cache_key(FileImages(root, names[:3], 16), 16, _FakeExtractor.info) != key  # file list
    first = reference_features(FileImages(root, names, 16), 16, _FakeExtractor(), progress=False)
    make_image(root / "2.jpg", seed=99)  # one reference file changes
    changed = FileImages(root, names, 16)
    assert cache_key(changed, 16, _FakeExtractor.info) != key
    second = reference_features(changed, 16, _FakeExtractor(), progress=False)
    assert second.cache_key != first.cache_key
    assert not np.allclose(first.features[2], second.features[2])  # recomputed, not the stale entry
    assert np.allclose(first.features[:2], second.features[:2])


def test_cached_reference_is_reused_not_recomputed(tmp_path):
    root = tmp_path / "ref"
    for i in range(3):
        make_image(root / f"{i}.jpg", seed=i)
    source = FileImages(root, ["0.jpg", "1.jpg", "2.jpg"], 16)
    calls = []

    class Counting(_FakeExtractor):
        def __call__(self, images):
            calls.append(len(images))
            return super().__call__(images)

    a = reference_features(source, 16, Counting(), progress=False)
    b = reference_features(source, 16, Counting(), progress=False)
    assert calls == [3] and np.array_equal(a.features, b.features) and b.keys == ["0.jpg", "1.jpg", "2.jpg"]
    assert a.rows_for(["2.jpg", "0.jpg"]).shape == (2, 3) and a.rows_for(["nope.jpg"]) is None
    assert torch.is_tensor(torch.from_numpy(a.mu))
