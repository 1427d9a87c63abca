"""Bootstrap intervals and the reference-statistics cache key."""

import numpy as np
import torch

from conftest import make_image
from palette_bench.data.sources import FileImages
from palette_bench.metrics import bootstrap as bs
from palette_bench.metrics.fid import FrechetToReference, statistics
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


def test_interval_is_reproducible_and_optional():
    v = np.arange(100.0)
    assert bs.mean_ci(v, 50) == bs.mean_ci(v, 50)
    assert bs.mean_ci(v, 0) is None and bs.mean_ci(v[:1], 50) is None


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
