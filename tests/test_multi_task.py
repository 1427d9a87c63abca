"""The multi-task model (paper Table 7): uniform task draws in training, the members' own inputs in evaluation."""

import math

import pytest
import torch

from palette_bench.config import to_dict
from palette_bench.data.evalset import EvalSet
from palette_bench.images import from_uint8
from palette_bench.models.diffusion import masked_error, network_input
from palette_bench.protocols import load_protocol
from palette_bench.runconfig import resolve
from palette_bench.seeding import generator_for, randint
from palette_bench.tasks import MULTI, TASKS, TRAIN, get_task
from palette_bench.training_data import TrainingBatches

BUILTIN = load_protocol("builtin")


def random_image(size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return from_uint8(torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))


def test_members_and_sets_are_table_7s():
    assert [m.name for m in MULTI.members] == ["jpeg", "inpainting", "colorization"]
    assert MULTI.eval_sets == ("q5", "q10", "q20", "ff10-20", "ff20-30", "ff30-40", "center", "gray")
    assert "multi" not in TASKS  # the four tasks' tables and protocol sections stay the paper's four
    assert get_task("multi") is MULTI
    for s in MULTI.eval_sets:
        assert s in MULTI.for_setting(s).eval_sets
    assert MULTI.for_setting(TRAIN) is MULTI
    with pytest.raises(ValueError, match="task 'multi' has no setting 'right'"):
        MULTI.for_setting("right")


def test_training_draws_every_member_uniformly_and_exactly_as_the_member_would():
    """3,000 draws: each member's share within 4 binomial standard deviations of 1/3, and each draw
    equal to the member's own training degradation from the generator state after the task draw."""
    y0 = random_image()
    n = 3000
    counts = {m.name: 0 for m in MULTI.members}
    for i in range(n):
        g = generator_for("train-degrade", "test", i)
        replay = torch.Generator()
        replay.set_state(g.get_state())
        d = MULTI.degrade(y0, TRAIN, g)
        counts[d.meta["task"]] += 1
        member = MULTI.members[randint(replay, 0, len(MULTI.members) - 1)]
        assert member.name == d.meta["task"]
        if i < 150:  # the exact replay on a prefix; the counts on all
            own = member.degrade(y0, TRAIN, replay)
            assert torch.equal(d.condition, own.condition)
            assert torch.equal(d.mask, torch.ones(1, 16, 16) if own.mask is None else own.mask)
            assert d.meta == {"task": member.name, **own.meta}
    sd = math.sqrt(n * (1 / 3) * (2 / 3))
    for name, count in counts.items():
        assert abs(count - n / 3) < 4 * sd, (name, counts)


def test_a_training_batch_mixes_tasks_and_stacks_their_masks():
    data = TrainingBatches(BUILTIN.with_size(32), "multi", seed=0, global_batch=12, start_step=0, steps=1)
    batch = data.batch(0)
    assert batch["mask"].shape == (12, 1, 32, 32)
    full = batch["mask"].flatten(1).all(dim=1)
    assert full.any() and not full.all()  # colorization/JPEG examples (all ones) beside inpainting holes
    # each example is the multi-task degradation of its own generator, whatever its place in the batch
    one = data.example(0, 5)
    assert torch.equal(one["condition"], batch["condition"][5]) and torch.equal(one["mask"], batch["mask"][5])


def test_an_all_ones_mask_trains_like_no_mask():
    g = torch.Generator().manual_seed(0)
    pred, target, y_t, y0 = (torch.randn(4, 3, 8, 8, generator=g) for _ in range(4))
    ones = torch.ones(4, 1, 8, 8)
    for p in (1, 2):
        assert torch.allclose(masked_error(pred, target, ones, p), masked_error(pred, target, None, p), rtol=1e-6, atol=0)
    assert torch.equal(network_input(y0, y_t, y0, ones), network_input(y0, y_t))
    half = ones.clone()
    half[..., :4] = 0
    assert not torch.allclose(masked_error(pred, target, half), masked_error(pred, target, None))  # the check can fail


@pytest.mark.parametrize("eval_set,member", [("q5", "jpeg"), ("center", "inpainting"), ("ff20-30", "inpainting"), ("gray", "colorization")])
def test_evaluation_inputs_are_the_task_specific_models(eval_set, member):
    multi, own = EvalSet(BUILTIN.with_size(32), "multi", eval_set, n=5), EvalSet(BUILTIN.with_size(32), member, eval_set, n=5)
    assert multi.positions == own.positions and multi.seed == own.seed
    for k in range(len(own)):
        a, b = multi[k], own[k]
        assert torch.equal(a.image, b.image) and a.label == b.label and a.key == b.key
        assert torch.equal(a.degraded.condition, b.degraded.condition)
        assert (a.degraded.mask is None) == (b.degraded.mask is None)
        assert a.degraded.mask is None or torch.equal(a.degraded.mask, b.degraded.mask)
        assert a.degraded.meta == b.degraded.meta


def test_colorization_inputs_leave_out_grayscale_originals_for_the_multi_task_model_too(tmp_path, imagenet_val):
    root, _ = imagenet_val
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "p"\ndescription = ""\nimage_size = 32\ndiversity_samples = 2\n'
        f'[dataset]\nkind = "imagenet"\nroot = "{root}"\nfile_list = "ctest10k.txt"\nlabels = "auto"\nn = 8\n'
        f'[reference]\nkind = "imagenet"\nroot = "{root}"\nn = 8\n[tasks.colorization]\ngray = {{ n = 6, seed = 3 }}\n'
    )
    protocol = load_protocol(str(path))
    multi, own = EvalSet(protocol, "multi", "gray"), EvalSet(protocol, "colorization", "gray")
    assert multi.positions == own.positions and 2 not in own.positions and len(own) == 6  # image 2 is grayscale
    for k in range(len(own)):
        assert torch.equal(multi[k].degraded.condition, own[k].degraded.condition)


def test_the_protocol_of_a_multi_task_set_is_its_members_section():
    assert BUILTIN.eval_set("multi", "center") == BUILTIN.eval_set("inpainting", "center")
    with pytest.raises(ValueError, match="task 'multi' has no setting 'right'"):
        BUILTIN.eval_set("multi", "right")


def test_the_multi_task_run_differs_from_a_task_specific_one_only_in_task_and_eval_set():
    from palette_bench.run import finalize

    multi, own = (to_dict(finalize(resolve(t, "cpu", ["train.steps=50"], method="palette"))) for t in ("multi", "jpeg"))
    differ = sorted(k for k in multi if multi[k] != own[k])
    assert differ == ["eval_set", "task"]
    assert (multi["task"], multi["eval_set"], own["eval_set"]) == ("multi", "q5", "q10")
    assert multi["train"]["steps"] == own["train"]["steps"] == 50  # the same step budget as one task-specific model


def test_data_stats_of_the_training_draws_count_the_tasks():
    from palette_bench.data.stats import condition_stats

    s = condition_stats(EvalSet(BUILTIN.with_size(32), "multi", "train", n=30))
    assert set(s["task_counts"]) == {"colorization", "inpainting", "jpeg"} and sum(s["task_counts"].values()) == 30
    assert s["jpeg_quality_counts"] and s["by_kind"]  # each member's own draws are recorded beside the task
    assert "task_counts" not in condition_stats(EvalSet(BUILTIN.with_size(32), "multi", "center", n=3))
