"""palette-bench's metrics agree with the reference libraries on the same inputs and the same weights file."""

import numpy as np
import pytest
import torch
from standins import natural_images, perturb, write_pngs

from palette_bench.evaluate import EvalOptions, evaluate_folders
from palette_bench.metrics import extractors as ex
from palette_bench.metrics.fid import FrechetToReference, frechet_distance, statistics
from palette_bench.metrics.kid import kid
from palette_bench.weights import resolve


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    # InceptionV3 costs ~0.4 s per image on 2 CPU cores: small sets keep the suite fast. The reference is
    # larger than the outputs, so KID's subsets (24 rows each) are random draws from it, not all of it.
    ref = natural_images(32, 64, start=1000)
    pred = perturb(natural_images(24, 64, start=2000), 40)
    return write_pngs(root / "pred", pred), write_pngs(root / "ref", ref)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def test_fid_is_kid_equal_torch_fidelity(two_folders, standin_weights):
    import torch_fidelity

    pred, ref = two_folders
    path = standin_weights / "weights-inception-2015-12-05-6726825d.pth"
    ours = evaluate_folders(pred, ref, EvalOptions(metrics=("fid", "is", "kid"), bootstrap=0, weights_dir=str(standin_weights), allow_unverified=True, progress=False))
    theirs = torch_fidelity.calculate_metrics(
        input1=str(pred), input2=str(ref), fid=True, isc=True, kid=True, kid_subset_size=24,
        feature_extractor_weights_path=str(path), cuda=False, verbose=False, cache=False,
    )
    m = ours["metrics"]
    assert m["fid"]["value"] > 1  # the two sets differ: a non-trivial comparison
    assert rel(m["fid"]["value"], theirs["frechet_inception_distance"]) < 1e-4
    # IS of 24 images lies in [1, 2.4] (at most 3 per split): the error is measured against IS - 1, and
    # the stand-in's confident, varied predictions put IS well above 1, so the check covers most of the range.
    assert theirs["inception_score_mean"] > 2
    assert abs(m["is"]["value"] - theirs["inception_score_mean"]) / (theirs["inception_score_mean"] - 1) < 1e-4
    # Same subsets, so the means agree to the float32 rounding of torch-fidelity's kernels (~1e-8 here);
    # drawing other subsets of the 32 reference images moves KID by ~2e-3.
    assert rel(m["kid"]["value"], theirs["kernel_inception_distance_mean"]) < 1e-5
    # The 100 subsets differ (24 of 32 reference rows each), so the agreement above covers the draws;
    # subsets of all rows would differ only by summation order, ~1e-15.
    assert theirs["kernel_inception_distance_std"] > 1e-3 * abs(theirs["kernel_inception_distance_mean"])
    assert m["kid"]["subset_size"] == 24 and not m["fid"]["verified"]


def test_kid_subsets_smaller_than_both_sets_are_torch_fidelitys_subsets():
    """Both libraries draw subset i as RandomState(2020).choice(n_1, m), then .choice(n_2, m), without
    replacement: the same seed gives the same subsets, so the means agree to rounding, not just on average."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(0)
    # Pool-like features (non-negative, 2048-d) of two sets that differ, of unequal sizes: drawing the
    # sets in the other order, or with another seed, picks other subsets.
    f = np.abs(rng.normal(0.4, 0.3, size=(50, 2048)))
    r = np.abs(rng.normal(0.45, 0.3, size=(40, 2048)))
    ours = kid(f, r, subsets=100, subset_size=13)
    theirs = kid_features_to_metric(torch.from_numpy(f), torch.from_numpy(r), kid_subsets=100, kid_subset_size=13, verbose=False)
    assert rel(ours, theirs["kernel_inception_distance_mean"]) < 1e-9
    assert theirs["kernel_inception_distance_std"] > 0.1 * abs(ours)  # subsets really differ
    # Other draws (another seed, the sets drawn in the other order) or other sizes move the mean by
    # far more than the tolerance above: the agreement rests on drawing the same subsets.
    assert rel(kid(f, r, subsets=100, subset_size=13, seed=2021), ours) > 1e-5
    assert rel(kid(f, r, subsets=100, subset_size=40), ours) > 1e-5


def test_inception_features_are_torch_fidelity_features(standin_weights):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    w = resolve("inception-v3", standin_weights, allow_unverified=True)
    images = natural_images(6, 64)
    ours = ex.InceptionV3(w)(images)
    ref = FeatureExtractorInceptionV3("x", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(w.path))
    pool, logits = ref(images)
    assert torch.equal(ours["pool"].float(), pool) and torch.equal(ours["logits"].float(), logits)
    assert pool.std(dim=0).mean() > 1e-3  # the stand-in's features are not degenerate


def test_lpips_equals_the_lpips_package_with_the_same_trunk(standin_weights):
    import lpips
    import torchvision

    w = resolve("alexnet", standin_weights, allow_unverified=True)
    a, b = natural_images(4, 64), perturb(natural_images(4, 64), 60)
    ours = ex.LPIPSAlex(w)(a, b)
    # The lpips package's own model, with its AlexNet trunk taken from a torchvision model holding the same file.
    alex = torchvision.models.alexnet()
    alex.load_state_dict(torch.load(w.path, weights_only=True))
    ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    for s in range(1, 6):
        for name, module in getattr(ref.net, f"slice{s}").named_children():
            module.load_state_dict(alex.features[int(name)].state_dict())
    expect = ref(a.float() / 127.5 - 1, b.float() / 127.5 - 1).flatten().double()
    assert torch.allclose(ours, expect, rtol=1e-5) and (ours > 0).all()


def test_frechet_distance_matches_the_general_eigenvalue_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 20)), rng.normal(0.3, 1.2, size=(200, 20)) @ rng.normal(size=(20, 20)) * 0.3
    (m1, s1), (m2, s2) = statistics(a), statistics(b)
    general = (m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.linalg.eigvals(s1 @ s2).astype(complex)).real.sum()
    assert rel(frechet_distance(m1, s1, m2, s2), general) < 1e-9
    assert rel(FrechetToReference(m2, s2)(a), general) < 1e-9
    assert rel(FrechetToReference(m2, s2).fast(a), general) < 1e-9
    few = a[:12]  # fewer inputs than dimensions: the n x n route
    (m3, s3) = statistics(few)
    general = (m3 - m2) @ (m3 - m2) + np.trace(s3) + np.trace(s2) - 2 * np.sqrt(np.linalg.eigvals(s3 @ s2).astype(complex)).real.sum()
    assert rel(FrechetToReference(m2, s2).fast(few), general) < 1e-7


def test_fid_of_a_set_against_itself_is_zero(tmp_path, standin_weights):
    rng = np.random.default_rng(1)
    f = rng.normal(size=(500, 64)) @ rng.normal(size=(64, 64))
    assert abs(FrechetToReference(*statistics(f))(f)) < 1e-6
    ref = write_pngs(tmp_path / "ref", natural_images(12, 64, start=500))
    out = evaluate_folders(ref, ref, EvalOptions(metrics=("fid", "pd"), bootstrap=0, weights_dir=str(standin_weights), allow_unverified=True, progress=False))
    assert abs(out["metrics"]["fid"]["value"]) < 1e-6
    assert out["metrics"]["pd"]["value"] == 0.0


def test_metrics_do_not_depend_on_batch_size(tmp_path, standin_weights):
    # 30 images: 3 in each of IS's 10 splits (with one per split, IS is exactly 1 whatever the logits).
    ref = write_pngs(tmp_path / "ref", natural_images(30, 64, start=3000))
    pred = write_pngs(tmp_path / "pred", perturb(natural_images(30, 64, start=3000), 30))
    results = [
        evaluate_folders(pred, ref, EvalOptions(metrics=("fid", "is", "kid", "pd", "lpips"), batch_size=bsz, bootstrap=20, weights_dir=str(standin_weights), allow_unverified=True, progress=False))["metrics"]
        for bsz in (1, 7, 64)
    ]
    assert results[0]["is"]["value"] > 2  # well inside (1, 3]: the logits shape it
    for name in ("fid", "is", "kid", "pd", "lpips"):
        values = [r[name]["value"] for r in results]
        assert all(rel(v, values[0]) < 1e-5 for v in values), (name, values)
        assert results[0][name]["ci95"] is not None
