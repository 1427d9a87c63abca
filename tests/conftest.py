"""Shared fixtures: small stand-ins for ImageNet's validation folder and devkit, made by the tests."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# ILSVRC2012 ids of the devkit differ from the sorted-synset order; these three make that visible:
# id 1 -> n01443537 (sorted index 1), id 2 -> n01440764 (sorted index 0), id 3 -> n01484850 (sorted index 2).
DEVKIT_IDS = {1: "n01443537", 2: "n01440764", 3: "n01484850"}
SORTED_INDEX = {"n01440764": 0, "n01443537": 1, "n01484850": 2}


def make_image(path: Path, size=(80, 60), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=95)
    return path


def write_devkit(root: Path, truth: list[int]):
    from scipy.io import savemat

    data = root / "ILSVRC2012_devkit_t12" / "data"
    data.mkdir(parents=True)
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{t}\n" for t in truth))
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")]
    synsets = np.array([(i, w, 0) for i, w in DEVKIT_IDS.items()], dtype=dtype)
    savemat(data / "meta.mat", {"synsets": synsets})


@pytest.fixture
def imagenet_val(tmp_path):
    """A flat ImageNet-style validation folder: 8 images (one grayscale, one CMYK), a devkit, a ctest10k-style list."""
    root = tmp_path / "val"
    truth = [1, 2, 3, 1, 2, 3, 1, 2]
    for k in range(8):
        mode = {2: "L", 5: "CMYK"}.get(k, "RGB")
        make_image(root / f"ILSVRC2012_val_{k + 1:08d}.JPEG", size=(90 + 7 * k, 70), mode=mode, seed=k)
    write_devkit(root, truth)
    (root / "ctest10k.txt").write_text("".join(f"ILSVRC2012_val_{k + 1:08d}.JPEG\n" for k in range(8)))
    return root, truth


@pytest.fixture(scope="session")
def standin_weights(tmp_path_factory):
    """A weights folder with stand-in InceptionV3, ResNet-50 and AlexNet files under their standard names."""
    from standins import make_alexnet, make_inception, make_resnet50

    from palette_bench.weights import WEIGHTS

    folder = tmp_path_factory.mktemp("weights")
    make_inception(folder / WEIGHTS["inception-v3"].filename)
    make_resnet50(folder / WEIGHTS["resnet50"].filename)
    make_alexnet(folder / WEIGHTS["alexnet"].filename)
    return folder


@pytest.fixture(scope="session")
def smoke_judge_store(tmp_path_factory):
    """Where the smoke preset's judge is kept once a test has trained it (see isolated_cache), and its file name."""
    from palette_bench.metrics.judge import JudgeConfig, judge_path
    from palette_bench.runconfig import resolve

    smoke = resolve("inpainting", "smoke", []).eval
    name = judge_path(JudgeConfig(train_images=smoke.judge_train_images, epochs=smoke.judge_epochs), cache_dir=".").name
    return tmp_path_factory.mktemp("smoke-judge"), name


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, tmp_path_factory, monkeypatch, smoke_judge_store):
    """Each test gets its own palette-bench cache and torch hub folder: no test sees another's files or the user's.

    One file is shared: the smoke preset's judge. Its training is deterministic, so every test that
    trains it gets the same bytes, and it is the costliest step a smoke run repeats (rendering 2,300
    images). The first test that trains it leaves a verified copy, and later tests start with it in
    their own cache, as a second run on one machine would.
    """
    store, name = smoke_judge_store
    # Beside tmp_path, not in it: tests that check a refused command wrote nothing look at tmp_path.
    cache = tmp_path_factory.mktemp("pb-cache")
    monkeypatch.setenv("PALETTE_BENCH_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    files = (name, name + ".sha256")
    if (store / files[1]).exists():
        (cache / "judge").mkdir()
        for f in files:
            shutil.copyfile(store / f, cache / "judge" / f)
    yield
    made = cache / "judge"
    if not (store / files[1]).exists() and all((made / f).is_file() for f in files):
        if hashlib.sha256((made / name).read_bytes()).hexdigest() == (made / files[1]).read_text().strip():
            shutil.copyfile(made / name, store / name)
            shutil.copyfile(made / files[1], store / files[1])  # the sidecar last: it marks the copy complete


def write_small_builtin(path: Path, n: int = 20) -> Path:
    """A small builtin protocol: 100 images, a 60-image reference, `n` inputs in each headline set (and inpainting's center)."""
    path.write_text(
        'name = "small-builtin"\ndescription = "test"\nimage_size = 32\ndiversity_samples = 2\n'
        '[dataset]\nkind = "builtin"\nn = 100\n[reference]\nkind = "builtin"\nn = 60\n'
        f"[tasks.colorization]\ngray = {{ n = {n} }}\n[tasks.inpainting]\nff20-30 = {{ n = {n} }}\ncenter = {{ n = {n} }}\n"
        f"[tasks.uncropping]\nright = {{ n = {n} }}\n[tasks.jpeg]\nq10 = {{ n = {n} }}\n"
    )
    return path


@pytest.fixture
def small(tmp_path):
    """The path of a small builtin protocol with 20 inputs per set (see write_small_builtin)."""
    return str(write_small_builtin(tmp_path / "small.toml"))
