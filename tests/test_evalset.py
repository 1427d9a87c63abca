"""Evaluation conditions are a pure function of (protocol, eval set, index, seed): any batch size, any workers."""

import pytest
import torch

from palette_bench.data.evalset import ConditionDigest, EvalSet, condition_generator, iterate
from palette_bench.data.stats import condition_stats
from palette_bench.protocols import load_protocol

BUILTIN = load_protocol("builtin")


def digest(evalset, batch_size, workers=0):
    d = ConditionDigest()
    for batch in iterate(evalset, batch_size, workers):
        d.update(batch)
    return d.hexdigest()


@pytest.mark.parametrize("task,eval_set", [("inpainting", "ff20-30"), ("uncropping", "right"), ("jpeg", "q10"), ("colorization", "gray"), ("inpainting", "train")])
def test_conditions_do_not_depend_on_batch_size_or_workers(task, eval_set):
    es = EvalSet(BUILTIN, task, eval_set, n=14)
    ref = digest(es, 1)
    assert digest(es, 7) == ref
    assert digest(es, 32) == ref
    if task == "inpainting":
        assert digest(es, 5, workers=2) == ref


def test_conditions_depend_on_index_seed_and_set():
    a = condition_generator("builtin", "inpainting", "ff20-30", 3, 0).initial_seed()
    assert a != condition_generator("builtin", "inpainting", "ff20-30", 4, 0).initial_seed()
    assert a != condition_generator("builtin", "inpainting", "ff20-30", 3, 1).initial_seed()
    assert a != condition_generator("builtin", "inpainting", "ff10-20", 3, 0).initial_seed()
    assert a != condition_generator("imagenet-ctest10k", "inpainting", "ff20-30", 3, 0).initial_seed()


def test_a_prefix_of_the_set_has_the_same_conditions():
    """Input k's condition does not depend on how many inputs are asked for."""
    small = [b["condition"] for b in iterate(EvalSet(BUILTIN, "inpainting", "ff10-20", n=4), 4)][0]
    big = [b["condition"] for b in iterate(EvalSet(BUILTIN, "inpainting", "ff10-20", n=9), 9)][0]
    assert torch.equal(small, big[:4])


def test_evaluation_images_are_the_test_split_and_training_draws_the_train_split():
    test = next(iterate(EvalSet(BUILTIN, "jpeg", "q20", n=2), 2))["image"]
    train = next(iterate(EvalSet(BUILTIN, "jpeg", "train", n=2), 2))["image"]
    assert not torch.equal(test, train)


@pytest.mark.parametrize("size", [64, 256])
def test_stats_of_done_when(size):
    p = BUILTIN.with_size(size)
    for name, (lo, hi) in {"ff10-20": (0.1, 0.2), "ff20-30": (0.2, 0.3), "ff30-40": (0.3, 0.4)}.items():
        s = condition_stats(EvalSet(p, "inpainting", name, n=16))
        assert lo <= s["coverage_min"] <= s["coverage_max"] < hi
    assert condition_stats(EvalSet(p, "inpainting", "center", n=4))["coverage_mean"] == 0.25
    s = condition_stats(EvalSet(p, "uncropping", "right", n=4))
    assert s["coverage_min"] == s["coverage_max"] == 0.5
    s = condition_stats(EvalSet(p, "uncropping", "train", n=20))
    assert 0.5 - 1 / size <= s["coverage_min"] <= s["coverage_max"] <= 0.5 + 1 / size
    s = condition_stats(EvalSet(p, "jpeg", "q5", n=3))
    assert s["coverage_mean"] == 1.0 and s["jpeg_quality_counts"] == {"5": 3}


def test_training_box_masks_cover_10_to_40_percent():
    s = condition_stats(EvalSet(BUILTIN, "inpainting", "train", n=60))
    boxes = s["by_kind"]["boxes"]
    assert boxes["n"] > 10 and 0.10 <= boxes["coverage_min"] and boxes["coverage_max"] <= 0.40
