"""DataLoader workers for evaluation inputs: sized to the CPUs, invisible in results, warnings and error messages."""

import os
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import write_small_builtin
from PIL import Image
from standins import perturb, write_pngs

from palette_bench.cli import main
from palette_bench.data.evalset import EvalSet, iterate
from palette_bench.data.files import BadImageError
from palette_bench.data.predictions import sample_filename
from palette_bench.data.workers import default_workers
from palette_bench.evaluate import EvalOptions, evaluate_protocol
from palette_bench.metrics.judge import JudgeConfig
from palette_bench.protocols import load_protocol

TINY_JUDGE = JudgeConfig(train_images=300, epochs=1)


def cpus(monkeypatch, n):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)


@pytest.mark.parametrize("n,local,cap,expect", [(16, 1, 4, 4), (16, 1, 2, 2), (2, 1, 4, 1), (1, 1, 4, 0), (16, 4, 4, 3), (16, 8, 4, 1), (4, 8, 4, 0)])
def test_default_workers_leaves_one_cpu_to_each_process(monkeypatch, n, local, cap, expect):
    cpus(monkeypatch, n)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local))
    assert default_workers(cap) == expect


def test_default_workers_without_an_affinity_mask_counts_the_cpus(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_workers() == 2


def folder_protocol(tmp_path, root):
    p = tmp_path / "p.toml"
    p.write_text(
        'name = "p"\ndescription = ""\nimage_size = 32\ndiversity_samples = 2\n'
        f'[dataset]\nkind = "imagenet"\nroot = "{root}"\nfile_list = "ctest10k.txt"\nn = 8\n'
        f'[reference]\nkind = "imagenet"\nroot = "{root}"\nn = 8\n[tasks.inpainting]\ncenter = {{ n = 8 }}\n'
    )
    return p


def test_a_bad_file_read_in_a_worker_is_the_same_one_line_error(tmp_path, imagenet_val):
    root, _ = imagenet_val
    (root / "ILSVRC2012_val_00000004.JPEG").write_bytes(b"")
    p = load_protocol(str(folder_protocol(tmp_path, root)))
    messages = []
    for workers in (0, 2):
        with pytest.raises(BadImageError) as e:
            list(iterate(EvalSet(p, "inpainting", "center"), batch_size=3, workers=workers))
        messages.append(str(e.value))
    assert messages[0] == messages[1] == f"{root / 'ILSVRC2012_val_00000004.JPEG'}: file is empty (0 bytes)"
    skipped = [[m for b in iterate(EvalSet(p, "inpainting", "center", skip_bad=True), 3, workers) for m in b["bad"]] for workers in (0, 2)]
    assert skipped[0] == skipped[1] == messages[:1]


def test_eval_reports_a_bad_original_read_by_a_worker_in_one_line(tmp_path, imagenet_val, monkeypatch):
    root, _ = imagenet_val
    (root / "ILSVRC2012_val_00000006.JPEG").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    monkeypatch.setattr("palette_bench.data.workers.default_workers", lambda cap=4: 2)
    pred = tmp_path / "pred"
    pred.mkdir()
    for i in range(8):
        Image.fromarray(np.full((32, 32, 3), 10 * i, np.uint8)).save(pred / sample_filename(i))
    args = ["eval", "--task", "inpainting", "--eval-set", "center", "--protocol", str(folder_protocol(tmp_path, root)), "--pred", str(pred), "--metrics", "psnr", "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr.splitlines() == [f"palette-bench: error: {root / 'ILSVRC2012_val_00000006.JPEG'}: cannot decode image (Truncated File Read)"]
    res = CliRunner().invoke(main, args + ["--skip-bad"])
    assert res.exit_code == 0, res.output


@pytest.fixture
def small_outputs(tmp_path):
    protocol = load_protocol(str(write_small_builtin(tmp_path / "small.toml")))
    es = EvalSet(protocol, "inpainting", "ff20-30")
    orig = torch.stack([es.source[i].image for i in es.positions])
    pred = tmp_path / "pred"
    for k in range(2):
        write_pngs(pred, perturb(orig, 25, seed=k), names=[sample_filename(i, k) for i in es.positions])
    return protocol, pred


def test_results_do_not_depend_on_the_number_of_workers(small_outputs):
    protocol, pred = small_outputs
    runs = [evaluate_protocol(protocol, "inpainting", "ff20-30", pred, EvalOptions(judge_config=TINY_JUDGE, progress=False, bootstrap=20, batch_size=6, workers=w)) for w in (0, 2)]
    assert runs[0] == runs[1]


def test_evaluation_with_the_default_workers_raises_no_worker_warning(small_outputs, monkeypatch):
    """PyTorch warns when a DataLoader has more workers than CPUs; on a 2-CPU machine the default is 1 worker."""
    protocol, pred = small_outputs
    cpus(monkeypatch, 2)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_protocol(protocol, "inpainting", "ff20-30", pred, EvalOptions(judge_config=TINY_JUDGE, progress=False, bootstrap=0))
    assert not [str(w.message) for w in caught if "worker" in str(w.message).lower()]
    assert default_workers() == 1
