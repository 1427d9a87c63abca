"""Image folders and file lists: crops, colour modes, labels, grayscale exclusion, bad files."""

import pytest
import torch
from PIL import Image

from conftest import DEVKIT_IDS, SORTED_INDEX, make_image
from palette_bench.data import labels as L
from palette_bench.data.evalset import EvalSet, iterate
from palette_bench.data.files import BadImageError, center_square, open_rgb
from palette_bench.data.sources import FileImages
from palette_bench.protocols import load_protocol


def small_protocol(tmp_path, root, kind="imagenet", labels="auto", n=8, ref_n=8, file_list="ctest10k.txt"):
    p = tmp_path / "small.toml"
    p.write_text(
        f"""
name = "small"
description = "test"
image_size = 32
diversity_samples = 5
[dataset]
kind = "{kind}"
root = "{root}"
file_list = "{file_list}"
labels = "{labels}"
n = {n}
[reference]
kind = "{kind}"
root = "{root}"
n = {ref_n}
[tasks.colorization]
gray = {{ n = {n}, seed = 0 }}
[tasks.inpainting]
center = {{ n = {n}, seed = 0 }}
"""
    )
    return load_protocol(str(p))


def test_synsets_come_from_timm_offline():
    s = L.synsets()
    assert len(s) == 1000 and list(s) == sorted(s) and s[0] == "n01440764"


def test_center_square_crop_and_resize(tmp_path):
    path = make_image(tmp_path / "a.jpg", size=(120, 60))
    img = open_rgb(path)
    out = center_square(img, 30)
    assert out.shape == (3, 30, 30) and out.dtype == torch.uint8
    ref = img.crop((30, 0, 90, 60)).resize((30, 30), Image.Resampling.BICUBIC)
    assert torch.equal(out, torch.from_numpy(__import__("numpy").asarray(ref).copy()).permute(2, 0, 1))


def test_devkit_labels_use_sorted_synset_order(imagenet_val):
    root, truth = imagenet_val
    images = FileImages(root, [f"ILSVRC2012_val_{k + 1:08d}.JPEG" for k in range(8)], 32, labels="auto")
    assert [images[k].label for k in range(8)] == [SORTED_INDEX[DEVKIT_IDS[t]] for t in truth]


def test_folder_labels_and_bare_names_inside_synset_folders(tmp_path):
    root = tmp_path / "val"
    make_image(root / "n01484850" / "ILSVRC2012_val_00000001.JPEG")
    make_image(root / "n01440764" / "ILSVRC2012_val_00000002.JPEG")
    images = FileImages(root, ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"], 16, labels="auto")
    assert [images[0].label, images[1].label] == [2, 0]
    assert images[0].image.shape == (3, 16, 16)


def test_label_file(tmp_path):
    root = tmp_path / "places"
    make_image(root / "Places365_val_00000001.jpg")
    (root / "places365_val.txt").write_text("Places365_val_00000001.jpg 164\n")
    assert FileImages(root, ["Places365_val_00000001.jpg"], 16, labels="places365_val.txt")[0].label == 164


def test_cmyk_and_grayscale_files_become_rgb(imagenet_val):
    root, _ = imagenet_val
    images = FileImages(root, ["ILSVRC2012_val_00000003.JPEG", "ILSVRC2012_val_00000006.JPEG"], 32)
    gray, cmyk = images[0].image, images[1].image
    assert gray.shape == cmyk.shape == (3, 32, 32)
    assert torch.equal(gray[0], gray[1])
    assert images.is_grayscale(0) and not images.is_grayscale(1)


def test_colorization_leaves_grayscale_originals_out(tmp_path, imagenet_val):
    root, _ = imagenet_val
    p = small_protocol(tmp_path, root)
    color = EvalSet(p, "colorization", "gray")
    assert color.positions == [0, 1, 3, 4, 5, 6, 7]  # file 3 (index 2) is grayscale
    assert EvalSet(p, "inpainting", "center").positions == list(range(8))
    labels = [int(x) for b in iterate(color, batch_size=3) for x in b["label"]]
    assert labels == [1, 0, 1, 0, 2, 1, 0]


@pytest.mark.parametrize(
    "content,reason",
    [(b"", "file is empty (0 bytes)"), (b"this is not a jpeg", "not a readable image file"), ("truncate", "cannot decode image")],
)
def test_bad_files_raise_one_clear_error(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    if content == "truncate":
        make_image(path, size=(200, 200))
        path.write_bytes(path.read_bytes()[:2000])
    else:
        path.write_bytes(content)
    with pytest.raises(BadImageError) as e:
        open_rgb(path)
    assert str(e.value).startswith(str(path)) and reason in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(BadImageError, match="nope.jpg: file not found"):
        open_rgb(tmp_path / "nope.jpg")


def test_skip_bad_skips_and_reports(tmp_path, imagenet_val):
    root, _ = imagenet_val
    (root / "ILSVRC2012_val_00000004.JPEG").write_bytes(b"")
    p = small_protocol(tmp_path, root)
    with pytest.raises(BadImageError, match="ILSVRC2012_val_00000004.JPEG: file is empty"):
        list(iterate(EvalSet(p, "inpainting", "center"), batch_size=4))
    batches = list(iterate(EvalSet(p, "inpainting", "center", skip_bad=True), batch_size=4))
    indices = [int(i) for b in batches for i in b["index"]]
    bad = [m for b in batches for m in b["bad"]]
    assert indices == [0, 1, 2, 4, 5, 6, 7]  # evaluation indices stay file-list positions
    assert len(bad) == 1 and "ILSVRC2012_val_00000004.JPEG" in bad[0]


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    import os
    import stat

    from palette_bench.io import atomic_write_json

    path = tmp_path / "out" / "metrics.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"b": 2})
    assert path.read_text().strip() == '{\n  "b": 2\n}'
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
