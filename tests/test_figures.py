"""`palette-bench figure`: the same inputs across methods, each tile exactly the file or image it names."""

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from palette_bench.cli import main
from palette_bench.data.evalset import EvalSet
from palette_bench.data.predictions import Predictions
from palette_bench.figures import figure_tiles
from palette_bench.images import to_uint8
from palette_bench.protocols import load_protocol


def test_figure_rows_are_the_same_inputs_across_methods(tmp_path, small):
    for method in ("palette", "classical"):
        res = CliRunner().invoke(main, ["run", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path), "--method", method])
        assert res.exit_code == 0, res.output
    pal = tmp_path / "small-builtin-inpainting-palette-smoke" / "eval" / "ff20-30-ddim3"
    cla = tmp_path / "small-builtin-inpainting-classical-smoke" / "eval" / "ff20-30"
    columns, rows, _ = figure_tiles([pal, cla], n=3, samples=2)
    assert columns == ["input", "palette (eps, ddim3) #1", "palette (eps, ddim3) #2", "classical", "original"]
    es = EvalSet(load_protocol(small), "inpainting", "ff20-30", n=4)
    preds = Predictions(pal / "samples", es.positions, 32)
    for pos, tiles in enumerate(rows):
        index = es.positions[pos]
        assert torch.equal(tiles[1], preds.load(index, 0)) and torch.equal(tiles[2], preds.load(index, 1))
        assert torch.equal(tiles[-1], to_uint8(es[pos].image))
    out = tmp_path / "fig.png"
    res = CliRunner().invoke(main, ["figure", str(pal), str(cla), "--n", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert Image.open(out).size[1] > Image.open(out).size[0] / 3


def test_figure_refuses_two_evaluation_sets(tmp_path, small):
    for task in ("inpainting", "uncropping"):
        res = CliRunner().invoke(main, ["run", "--task", task, "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path), "--method", "classical"])
        assert res.exit_code == 0, res.output
    a, b = (next(tmp_path.glob(f"*{t}*/eval/*")) for t in ("inpainting", "uncropping"))
    with pytest.raises(ValueError, match="evaluated on task 'uncropping'"):
        figure_tiles([a, b])
