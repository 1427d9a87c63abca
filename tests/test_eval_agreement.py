"""palette-bench's metrics agree with the reference libraries on the same inputs and the same weights file."""

import numpy as np
import pytest
import torch
from standins import natural_images, perturb, write_pngs

from palette_bench.evaluate import EvalOptions, evaluate_folders
from palette_bench.metrics import extractors as ex
from palette_bench.metrics.fid import FrechetToReference, frechet_distance, statistics
from palette_bench.weights import resolve


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    # InceptionV3 costs ~0.4 s per image on 2 CPU cores: small sets keep the suite fast.
    ref = natural_images(24, 64, start=1000)
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
    assert rel(m["is"]["value"], theirs["inception_score_mean"]) < 1e-3
    assert rel(m["kid"]["value"], theirs["kernel_inception_distance_mean"]) < 1e-3
    assert m["kid"]["subset_size"] == 24 and not m["fid"]["verified"]


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
    ref = write_pngs(tmp_path / "ref", natural_images(10, 64, start=3000))
    pred = write_pngs(tmp_path / "pred", perturb(natural_images(10, 64, start=3000), 30))
    results = [
        evaluate_folders(pred, ref, EvalOptions(metrics=("fid", "is", "kid", "pd", "lpips"), batch_size=bsz, bootstrap=20, weights_dir=str(standin_weights), allow_unverified=True, progress=False))["metrics"]
        for bsz in (1, 7, 64)
    ]
    for name in ("fid", "is", "kid", "pd", "lpips"):
        values = [r[name]["value"] for r in results]
        assert all(rel(v, values[0]) < 1e-5 for v in values), (name, values)
        assert results[0][name]["ci95"] is not None
