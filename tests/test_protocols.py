"""Protocol files: the shipped ones load, and every mistake is an error that names the key."""

import pytest

from palette_bench.config import ConfigError
from palette_bench.protocols import PROTOCOL_DIR, load_protocol

GOOD = """
name = "mine"
description = "a test protocol"
image_size = 64
diversity_samples = 5
[dataset]
kind = "builtin"
n = 100
[reference]
kind = "builtin"
n = 200
[tasks.inpainting]
center = { n = 50, seed = 1 }
"""


def write(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("name", ["builtin", "imagenet-ctest10k", "places10k"])
def test_shipped_protocols_load(name):
    p = load_protocol(name)
    assert p.name == name and p.diversity_samples == 5
    assert p.path == str(PROTOCOL_DIR / f"{name}.toml")


def test_paper_settings_of_imagenet_protocol():
    p = load_protocol("imagenet-ctest10k")
    assert p.image_size == 256
    assert p.reference.n == 50000  # FID against the full validation set, not the 10k originals
    assert p.dataset.file_list == "ctest10k.txt" and p.dataset.n == 10000
    assert set(p.tasks["inpainting"]) == {"ff10-20", "ff20-30", "ff30-40", "center"}
    assert set(p.tasks["jpeg"]) == {"q5", "q10", "q20"} and set(p.tasks["uncropping"]) == {"right"}
    assert load_protocol("places10k").reference.n == 36500


def test_a_valid_custom_protocol(tmp_path):
    p = load_protocol(write(tmp_path, GOOD))
    assert p.eval_set("inpainting", "center").seed == 1
    assert p.dataset.split == "test"  # default


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda t: t.replace('image_size = 64', 'image_size = 64\nimage_sise = 32'), "unknown key 'image_sise'"),
        (lambda t: t.replace('kind = "builtin"\nn = 100', 'kind = "builtin"\nn = 100\nsplitt = "x"'), "unknown key 'dataset.splitt'"),
        (lambda t: t.replace('diversity_samples = 5\n', ''), "missing key 'diversity_samples'"),
        (lambda t: t.replace('n = 200\n', ''), "missing key 'reference.n'"),
        (lambda t: t.replace('center = {', 'centre = {'), "unknown evaluation set 'tasks.inpainting.centre'"),
        (lambda t: t.replace('[tasks.inpainting]', '[tasks.denoising]'), "unknown task 'tasks.denoising'"),
        (lambda t: t.replace('kind = "builtin"\nn = 100', 'kind = "webdataset"\nn = 100'), "dataset.kind: 'webdataset' is not one of"),
        (lambda t: t.replace('image_size = 64', 'image_size = "64"'), "image_size: expected int"),
        (lambda t: t.replace('seed = 1 }', 'seed = 1, size = 3 }'), "unknown key 'tasks.inpainting.center.size'"),
        (lambda t: t.replace('n = 50,', 'n = 500,'), "must lie in 1..dataset.n"),
        (lambda t: t.replace('kind = "builtin"\nn = 100', 'kind = "imagenet"\nn = 100'), "needs 'root' or 'root_env'"),
        (lambda t: t + "\n[oops", "not valid TOML"),
    ],
)
def test_protocol_mistakes_name_the_key(tmp_path, edit, message):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as e:
        load_protocol(path)
    assert message in str(e.value)
    assert str(e.value).startswith(path)  # the error names the file too


def test_missing_protocol_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="builtin, imagenet-ctest10k, places10k"):
        load_protocol("imagenet-ctest50k")


def test_unknown_eval_set_for_task():
    with pytest.raises(ConfigError, match="no evaluation set 'q5' for task 'colorization'"):
        load_protocol("builtin").eval_set("colorization", "q5")
