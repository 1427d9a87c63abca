"""palette-bench panorama: the layout, known pixels bit-exact, each half conditioned on the one before it, seeds, the CLI, refusals."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_image, write_small_builtin
from palette_bench.cli import main
from palette_bench.config import to_dict
from palette_bench.data.evalset import EvalSet
from palette_bench.data.files import center_square, open_rgb
from palette_bench.images import from_uint8, to_uint8
from palette_bench.io import atomic_write_json
from palette_bench.methods import get_method
from palette_bench.panorama import extend
from palette_bench.protocols import load_protocol
from palette_bench.run import load_run_config
from palette_bench.runconfig import resolve
from palette_bench.tasks import masks
from palette_bench.train import checkpoints, load_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke-size Palette uncropping run (training only, a few seconds), shared by the tests that need a real model."""
    tmp = tmp_path_factory.mktemp("panorama")
    small = write_small_builtin(tmp / "small.toml")
    args = ["run", "--method", "palette", "--task", "uncropping", "--preset", "smoke", "--protocol", str(small), "--runs-root", str(tmp / "runs"), "--stage", "train"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return tmp / "runs" / "small-builtin-uncropping-palette-smoke"


def random_image(size, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (3, size, size), dtype=np.uint8))


def echo(condition, mask, generator):
    """A stand-in predictor: the condition itself (the known pixels, noise in the hole)."""
    return condition.clone()


def read_png(path):
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)


@pytest.mark.parametrize("size", [32, 15])
@pytest.mark.parametrize("direction", ["both", "right", "left"])
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_size_and_place_of_the_input(size, direction, steps):
    """S + N * (S // 2) columns, S rows; the input at (number of left extensions) * (S // 2), where the docs say."""
    image = random_image(size)
    pano = extend(image, steps, echo, direction=direction)
    half = size // 2
    lefts = {"both": steps // 2, "right": 0, "left": steps}[direction]
    assert tuple(pano.image.shape) == (3, size, size + steps * half)
    assert pano.input_columns == (lefts * half, lefts * half + size)
    assert torch.equal(pano.image[:, :, lefts * half : lefts * half + size], image)
    # the input and the generated columns tile the panorama exactly, without overlap
    ranges = sorted([pano.input_columns] + [e.columns for e in pano.extensions])
    assert ranges[0][0] == 0 and ranges[-1][1] == pano.image.shape[-1]
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    expected = (["right", "left"] * steps)[:steps] if direction == "both" else [direction] * steps
    assert [e.side for e in pano.extensions] == expected


@pytest.mark.parametrize("direction", ["both", "right", "left"])
def test_only_new_columns_are_written(direction):
    """A predictor that repaints its whole window white: the input and every earlier half keep their pixels."""
    image = random_image(32, seed=2)
    pano = extend(image, 3, lambda condition, mask, generator: torch.ones_like(condition), direction=direction)
    a, b = pano.input_columns
    assert torch.equal(pano.image[:, :, a:b], image)
    for e in pano.extensions:
        assert bool((pano.image[:, :, e.columns[0] : e.columns[1]] == 255).all())


def test_each_half_is_generated_from_the_half_before_it():
    """A predictor that mirrors its window: each new half is the mirror of the panorama's edge half before it."""
    size, half = 32, 16
    seen = []

    def mirror(condition, mask, generator):
        seen.append((condition.clone(), mask.clone()))
        return condition.flip(-1)

    image = random_image(size, seed=3)
    pano = extend(image, 4, mirror, seed=5)
    assert len(seen) == 4
    filled = [pano.input_columns]
    for (condition, mask), e in zip(seen, pano.extensions):
        assert torch.equal(mask[0, 0], masks.uncrop(size, e.side).float())
        # the window's known half is the edge half of the panorama as it stood, on the side extended
        assert e.context[1] - e.context[0] == half
        edge = max(c[1] for c in filled) if e.side == "right" else min(c[0] for c in filled)
        assert (e.context[1] == edge == e.columns[0]) if e.side == "right" else (e.context[0] == edge == e.columns[1])
        known = condition[0][:, :, :half] if e.side == "right" else condition[0][:, :, half:]
        assert torch.equal(known, from_uint8(pano.image[:, :, e.context[0] : e.context[1]]))
        hole = condition[0][mask[0].expand(3, -1, -1).bool()]
        assert (hole.abs() > 1).any()  # N(0, 1) noise, not pixels
        assert torch.equal(pano.image[:, :, e.columns[0] : e.columns[1]], pano.image[:, :, e.context[0] : e.context[1]].flip(-1))
        filled.append(e.columns)
    # the third and fourth extensions are conditioned on generated halves, not on the input
    assert pano.extensions[2].context == pano.extensions[0].columns
    assert pano.extensions[3].context == pano.extensions[1].columns


@pytest.mark.parametrize("direction", ["both", "right", "left"])
def test_known_pixels_stay_exact_and_one_more_extension_changes_nothing_written(trained, direction):
    """With the trained network: the input is bit-exact, and N extensions are the first N of N + 1 (same seed)."""
    cfg = load_run_config(trained)
    predictor = get_method("palette").predictor(cfg, load_checkpoint(checkpoints(trained)[-1]), "cpu")
    image = random_image(cfg.image_size, seed=7)
    short = extend(image, 2, predictor.predict, seed=1, direction=direction)
    longer = extend(image, 3, predictor.predict, seed=1, direction=direction)
    for pano in (short, longer):
        a, b = pano.input_columns
        assert torch.equal(pano.image[:, :, a:b], image)
    shift = longer.input_columns[0] - short.input_columns[0]
    width = short.image.shape[-1]
    assert torch.equal(longer.image[:, :, shift : shift + width], short.image)
    new = longer.extensions[-1].columns
    assert not torch.equal(longer.image[:, :, new[0] : new[1]], torch.zeros_like(longer.image[:, :, new[0] : new[1]]))


def test_same_seed_same_bytes_and_the_input_file_kept_exact(trained, tmp_path):
    """A square PNG of the run's size goes in untouched; seed 0 twice gives identical files, seed 1 another."""
    size = load_run_config(trained).image_size
    image = random_image(size, seed=11)
    path = tmp_path / "in.png"
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    outs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        res = CliRunner().invoke(main, ["panorama", "--run", str(trained), "--image", str(path), "--steps", "2", "--seed", str(seed), "--out", str(tmp_path / f"{name}.png"), "--device", "cpu"])
        assert res.exit_code == 0, res.output
        outs[name] = (tmp_path / f"{name}.png").read_bytes()
    assert outs["a"] == outs["b"]
    assert outs["a"] != outs["c"]
    record = json.loads((tmp_path / "a.json").read_text())
    a, b = record["known"][0]
    assert torch.equal(read_png(tmp_path / "a.png")[:, :, a:b], image)
    assert record["seed"] == 0 and record["input"]["path"] == str(path)


def test_cli_with_the_builtin_image_writes_the_png_and_its_record(trained, tmp_path):
    out = tmp_path / "pano.png"
    res = CliRunner().invoke(main, ["panorama", "--run", str(trained), "--steps", "3", "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    cfg = load_run_config(trained)
    size, half = cfg.image_size, cfg.image_size // 2
    pixels = read_png(out)
    assert tuple(pixels.shape) == (3, size, size + 3 * half)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["run"] == str(trained) and record["checkpoint"] == checkpoints(trained)[-1].name
    assert record["extensions"] == 3 and record["seed"] == 0 and record["direction"] == "both"
    assert record["sample"]["sampler"] == cfg.sample.sampler and record["sample"]["steps"] == cfg.sample.steps
    assert "builtin" in record["input"]
    evalset = EvalSet(load_protocol(cfg.protocol).with_size(size), "uncropping", "right", n=1)
    a, b = record["known"][0]
    assert torch.equal(pixels[:, :, a:b], to_uint8(evalset[0].image))
    assert [g["side"] for g in record["generated"]] == ["right", "left", "right"]
    covered = sorted([(a, b)] + [tuple(g["columns"]) for g in record["generated"]])
    assert covered[0][0] == 0 and covered[-1][1] == record["width"] and all(x[1] == y[0] for x, y in zip(covered, covered[1:]))

    # sampler settings given on the command line replace the run's, and are recorded
    res = CliRunner().invoke(main, ["panorama", "--run", str(trained), "--steps", "1", "--sampler", "ancestral", "--sample-steps", "2", "--out", str(tmp_path / "anc.png"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    sample = json.loads((tmp_path / "anc.json").read_text())["sample"]
    assert (sample["sampler"], sample["steps"]) == ("ancestral", 2)


def test_a_non_square_image_is_centre_cropped_and_resized(trained, tmp_path):
    size = load_run_config(trained).image_size
    path = make_image(tmp_path / "wide.jpg", size=(80, 60), seed=4)
    out = tmp_path / "wide.png"
    res = CliRunner().invoke(main, ["panorama", "--run", str(trained), "--image", str(path), "--steps", "1", "--direction", "left", "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    record = json.loads(out.with_suffix(".json").read_text())
    a, b = record["known"][0]
    assert torch.equal(read_png(out)[:, :, a:b], center_square(open_rgb(path), size))
    assert (record["input"]["width"], record["input"]["height"]) == (80, 60)


def write_run(folder, task, method):
    """A run folder holding only the config.json that `palette-bench run` would write for it."""
    atomic_write_json(folder / "config.json", to_dict(resolve(task, "smoke", method=method)))
    return folder


@pytest.mark.parametrize(
    "task, method, checkpoint, says",
    [
        ("uncropping", "regression", True, "method 'regression'"),
        ("inpainting", "palette", True, "task 'inpainting'"),
        ("uncropping", "palette", False, "no checkpoint"),
    ],
)
def test_runs_it_cannot_use_are_refused_in_one_line_naming_the_folder(tmp_path, trained, task, method, checkpoint, says):
    folder = write_run(tmp_path / f"{task}-{method}", task, method)
    if checkpoint:  # a checkpoint present, so that only the task or method is wrong
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / checkpoints(trained)[-1].name).write_bytes(checkpoints(trained)[-1].read_bytes())
    out = tmp_path / "pano.png"
    res = CliRunner().invoke(main, ["panorama", "--run", str(folder), "--steps", "1", "--out", str(out)])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and str(folder) in lines[0] and says in lines[0], res.output
    assert not out.exists()


def test_bad_input_files_are_refused_in_one_line(trained, tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    res = CliRunner().invoke(main, ["panorama", "--run", str(trained), "--image", str(bad), "--steps", "1", "--out", str(tmp_path / "p.png")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and str(bad) in res.output, res.output
    res = CliRunner().invoke(main, ["panorama", "--run", str(trained), "--steps", "1", "--out", str(tmp_path / "p.jpg")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and "p.jpg" in res.output, res.output
    res = CliRunner().invoke(main, ["panorama", "--run", str(tmp_path / "nowhere"), "--steps", "1", "--out", str(tmp_path / "p.png")])
    assert res.exit_code == 2 and str(tmp_path / "nowhere") in res.output, res.output
