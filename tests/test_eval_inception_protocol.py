"""Protocol-mode evaluation in Inception space on an ImageNet-style folder, with the stand-in networks.

What only this mode does: CA through ResNet-50 and its own preprocessing, PD that takes the
originals' features from the cached reference pass, the reference cache itself, and results marked
unverified when the weights files are not the published ones.
"""

import hashlib
import os

import pytest
import torch
from conftest import SORTED_INDEX
from PIL import Image
from standins import natural_images, perturb, write_pngs

from palette_bench.data.evalset import EvalSet
from palette_bench.data.predictions import sample_filename
from palette_bench.data.sources import open_source
from palette_bench.evaluate import EvalOptions, evaluate_protocol, metric_table
from palette_bench.images import to_uint8
from palette_bench.metrics import extractors as ex
from palette_bench.metrics.reference import cache_key
from palette_bench.protocols import load_protocol
from palette_bench.weights import WEIGHTS, WeightsError, resolve

SYNSETS = tuple(SORTED_INDEX)  # ImageNet class indices 0, 1, 2
EVAL_N, REF_EXTRA = 12, 3  # the reference holds the evaluation images and 3 more, as ImageNet's val set holds ctest10k
# FID is left out: its 2048x2048 matrix square root costs ~10 s a run on 2 CPU cores, and KID already
# reads the cached reference features.
FEATURES = ("is", "kid", "pd")
WEIGHTED = ("is", "kid", "pd", "ca_top1", "ca_top5")  # computed by a network from a weights file


def write_protocol(tmp, root):
    path = tmp / "folder.toml"
    path.write_text(
        f"""
name = "folder-inception"
description = "test"
image_size = 64
diversity_samples = 2
[dataset]
kind = "folder"
root = "{root}"
file_list = "eval.txt"
labels = "folders"
n = {EVAL_N}
[reference]
kind = "folder"
root = "{root}"
n = 0
[tasks.inpainting]
center = {{ n = {EVAL_N} }}
"""
    )
    return load_protocol(str(path))


def options(weights, **kw):
    return EvalOptions(feature_space="inception", weights_dir=str(weights), allow_unverified=True, bootstrap=0, progress=False, workers=0, **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, standin_weights):
    """Every evaluation the tests below inspect, run once (InceptionV3 costs ~0.4 s per image on 2 CPU cores).

    first: the originals as outputs, with an empty cache; again: the same, with the cache filled;
    perturbed: noisy outputs, with CA. Each run records how many images InceptionV3 saw.
    """
    tmp = tmp_path_factory.mktemp("inception-protocol")
    root = tmp / "val"
    # 96x80 JPEGs: the protocol's largest-centred-square crop and resize to 64 px have work to do.
    for k, img in enumerate(natural_images(EVAL_N + REF_EXTRA, 96, start=7000)[:, :, 8:88]):
        path = root / SYNSETS[k % 3] / f"ILSVRC2012_val_{k + 1:08d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(path, format="JPEG", quality=95)
    (root / "eval.txt").write_text("".join(f"ILSVRC2012_val_{k + 1:08d}.JPEG\n" for k in range(EVAL_N)))  # bare names, as ctest10k
    protocol = write_protocol(tmp, root)
    es = EvalSet(protocol, "inpainting", "center")
    originals = torch.stack([to_uint8(es[k].image) for k in range(len(es))])
    names = [sample_filename(i) for i in es.positions]
    orig_dir = write_pngs(tmp / "originals", originals, names)
    noisy = perturb(originals, 30)
    noisy_dir = write_pngs(tmp / "perturbed", noisy, names)

    cache = tmp / "pb-cache"
    seen = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PALETTE_BENCH_CACHE", str(cache))
        inception_call = ex.InceptionV3.__call__

        def run(name, pred_dir, metrics):
            seen[name] = 0

            def counted(self, images):
                seen[name] += len(images)
                return inception_call(self, images)

            mp.setattr(ex.InceptionV3, "__call__", counted)
            result = evaluate_protocol(protocol, "inpainting", "center", pred_dir, options(standin_weights, metrics=metrics))
            files = sorted((cache / "reference").iterdir())
            return result, {p.name: p.stat().st_mtime_ns for p in files}

        first = run("first", orig_dir, FEATURES)
        again = run("again", orig_dir, FEATURES)
        perturbed = run("perturbed", noisy_dir, (*FEATURES, "ca", "psnr", "precision", "coverage", "swd"))
    return {
        "protocol": protocol, "root": root, "weights": standin_weights, "originals": originals, "orig_dir": orig_dir, "perturbed_images": noisy,
        "labels": [SORTED_INDEX[SYNSETS[i % 3]] for i in es.positions], "first": first, "again": again, "perturbed": perturbed, "seen": seen,
    }


def test_ca_is_top1_of_torchvision_resnet50_with_its_own_preprocessing(runs):
    import torchvision
    from torchvision import transforms

    path = runs["weights"] / WEIGHTS["resnet50"].filename
    model = torchvision.models.resnet50()
    model.load_state_dict(torch.load(path, weights_only=True))
    model.eval()
    # extractors.ResNet50 documents bilinear antialiased resizing to 256, a 224 centre crop and ImageNet's mean and std.
    by_hand = transforms.Compose(
        [
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BILINEAR, antialias=True),
            transforms.CenterCrop(224),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    outputs = runs["perturbed_images"]
    with torch.no_grad():
        logits = model(by_hand(outputs.float() / 255)).double()
    labels = torch.tensor(runs["labels"])
    predicted = logits.argmax(dim=1)
    assert len(set(predicted.tolist())) >= 3  # the stand-in tells images apart: CA is not the same for any output
    top1 = (predicted == labels).double().mean().item()
    top5 = (logits.topk(5, dim=1).indices == labels[:, None]).any(dim=1).double().mean().item()
    assert 0 < top1 < 1  # some right, some wrong: a wrong label or class order would show
    m = runs["perturbed"][0]["metrics"]
    assert m["ca_top1"]["value"] == pytest.approx(top1, abs=1e-12) and m["ca_top5"]["value"] == pytest.approx(top5, abs=1e-12)
    assert m["ca_top1"]["n"] == EVAL_N and m["ca_top1"]["extractor"].startswith("resnet50")
    # image by image: palette-bench's extractor gives torchvision's logits
    ours = ex.ResNet50(resolve("resnet50", runs["weights"], allow_unverified=True))(outputs)["logits"]
    assert torch.equal(ours.argmax(dim=1), predicted)
    assert torch.allclose(ours, logits, rtol=1e-4, atol=1e-5 * logits.abs().max().item())


def test_pd_uses_the_reference_rows_of_the_originals(runs):
    first, again, perturbed = (runs[k][0]["metrics"] for k in ("first", "again", "perturbed"))
    assert first["pd"]["value"] == 0 and again["pd"]["value"] == 0  # the originals as outputs
    inception = ex.InceptionV3(resolve("inception-v3", runs["weights"], allow_unverified=True))
    expect = (inception(runs["perturbed_images"])["pool"] - inception(runs["originals"])["pool"]).norm(dim=1).mean().item()
    assert expect > 1  # the noise moves the features: a PD of 0 would fail
    assert perturbed["pd"]["value"] == pytest.approx(expect, rel=1e-5)
    # With the reference cached, InceptionV3 sees the outputs only: the originals' features came from the
    # reference rows (computing them would make this 2 * EVAL_N).
    assert runs["seen"]["again"] == runs["seen"]["perturbed"] == EVAL_N


def test_the_reference_cache_is_written_once_reused_and_keyed_by_the_files(runs):
    (first, files_first), (again, files_again), (perturbed, files_perturbed) = runs["first"], runs["again"], runs["perturbed"]
    key = first["reference"]["cache_key"]
    assert list(files_first) == [f"{key}.npz"]  # one file, named by its key
    assert first["reference"]["n"] == EVAL_N + REF_EXTRA
    assert runs["seen"]["first"] == EVAL_N + REF_EXTRA + EVAL_N  # the reference once, then the outputs
    assert files_again == files_perturbed == files_first  # read back, never rewritten
    assert again["reference"]["cache_key"] == perturbed["reference"]["cache_key"] == key
    assert again["metrics"] == first["metrics"]
    info = {"extractor": first["metrics"]["kid"]["extractor"], "weights_sha256": first["metrics"]["kid"]["weights_sha256"]}
    protocol = runs["protocol"]
    assert cache_key(open_source(protocol.reference, 64), 64, info) == key
    touched = runs["root"] / SYNSETS[2] / f"ILSVRC2012_val_{EVAL_N + REF_EXTRA:08d}.JPEG"  # a reference-only image
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        assert cache_key(open_source(protocol.reference, 64), 64, info) != key
    finally:
        os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_prdc_on_a_paper_protocol_is_in_inception_features_from_the_same_pass(runs):
    result = runs["perturbed"][0]
    m = result["metrics"]
    digest = hashlib.sha256((runs["weights"] / WEIGHTS["inception-v3"].filename).read_bytes()).hexdigest()
    for name in ("precision", "coverage"):
        assert m[name]["features"] == "pool" and m[name]["extractor"].startswith("inception-v3") and m[name]["weights_sha256"] == digest
        assert m[name]["verified"] is False and m[name]["real_n"] == result["n"]
    assert m["swd"]["verified"] is True and m["swd"]["weights_sha256"] is None  # pixels only
    assert runs["seen"]["perturbed"] == runs["seen"]["again"]  # no second InceptionV3 pass for PRDC


def test_stand_in_weights_mark_every_network_metric_unverified(runs):
    result = runs["perturbed"][0]
    m = result["metrics"]
    assert set(m) == {*WEIGHTED, "psnr", "psnr_mask", "precision", "coverage", "swd"}
    assert result["verified"] is False
    digest = {name: hashlib.sha256((runs["weights"] / WEIGHTS[name].filename).read_bytes()).hexdigest() for name in ("inception-v3", "resnet50")}
    for name in WEIGHTED:
        assert m[name]["verified"] is False, name
        assert m[name]["weights_sha256"] == digest["resnet50" if name.startswith("ca") else "inception-v3"], name
    assert m["psnr"]["verified"] is True and m["psnr"]["weights_sha256"] is None  # no network behind it
    table = {line.split(":")[0].strip(): line for line in metric_table(result).splitlines()}
    assert all(table[name].endswith("UNVERIFIED WEIGHTS") for name in WEIGHTED)
    assert "UNVERIFIED" not in table["psnr"]
    # Without allow_unverified the same files are refused.
    with pytest.raises(WeightsError, match="does not match the expected 6726825d"):
        evaluate_protocol(runs["protocol"], "inpainting", "center", runs["orig_dir"], EvalOptions(feature_space="inception", weights_dir=str(runs["weights"]), metrics=("kid",), progress=False, workers=0))
