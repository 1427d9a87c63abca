"""The learned baselines: regression and pix2pix through `palette-bench run`, their losses, the PatchGAN, and collapse handling."""

import json

import pytest
import torch
from click.testing import CliRunner

from baselines import pix2pix
from baselines.pix2pix import PatchGAN, default_layers, output_size, receptive_field
from baselines.regression import regression_loss
from palette_bench.cli import main
from palette_bench.data.evalset import EvalSet
from palette_bench.data.predictions import Predictions
from palette_bench.images import to_uint8
from palette_bench.protocols import load_protocol
from palette_bench.train import build_model, checkpoints, load_checkpoint
from palette_bench.runconfig import resolve

HEADLINE = {"colorization": "gray", "inpainting": "ff20-30", "uncropping": "right", "jpeg": "q10"}


def run(tmp_path, small, task, method, *extra):
    args = ["run", "--task", task, "--method", method, "--preset", "smoke", "--protocol", small, "--runs-root", str(tmp_path / "runs"), "--set", "sample.n=8", *extra]
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("method", ["regression", "pix2pix"])
@pytest.mark.parametrize("task", ["colorization", "inpainting", "uncropping", "jpeg"])
def test_smoke_run_of_every_task(tmp_path, small, method, task):
    res = run(tmp_path, small, task, method)
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "runs" / f"small-builtin-{task}-{method}-smoke"
    assert [p.name for p in checkpoints(run_dir)] == ["ckpt-00000002.pt", "ckpt-00000004.pt"]
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    wanted = {"discriminator_loss", "generator_loss", "generator_adv", "generator_l1"} if method == "pix2pix" else {"loss", "grad_norm"}
    assert wanted <= set(rows[0]) and all(torch.isfinite(torch.tensor([r[k] for k in wanted])).all() for r in rows)
    metrics = json.loads((run_dir / "eval" / HEADLINE[task] / "metrics.json").read_text())
    assert metrics["n"] == 8 and metrics["samples_per_input"] == 1 and {"fid", "ca_top1", "lpips", "pd"} <= set(metrics["metrics"])
    # one deterministic output per input, so there is no diversity to measure, and the table says why
    assert "diversity" in metrics["skipped"]
    if task in ("inpainting", "uncropping"):  # the known pixels of every output file are the original's, uint8 for uint8
        es = EvalSet(load_protocol(small), task, HEADLINE[task], n=8)
        preds = Predictions(run_dir / "eval" / HEADLINE[task] / "samples", es.positions, 32)
        for k in range(8):
            item = es[k]
            known = item.degraded.mask.expand(3, -1, -1) == 0
            assert torch.equal(preds.load(item.index)[known], to_uint8(item.image)[known])


def test_regression_is_deterministic_given_the_seed(tmp_path, small):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        res = CliRunner().invoke(main, ["run", "--task", "inpainting", "--method", "regression", "--preset", "smoke", "--protocol", small, "--run-dir", str(tmp_path / name), "--seed", str(seed)])
        assert res.exit_code == 0, res.output
    a, b, c = (load_checkpoint(tmp_path / n / "checkpoints" / "ckpt-00000004.pt") for n in "abc")
    for key in ("model", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert not all(torch.equal(a["model"][k], c["model"][k]) for k in a["model"])
    stats = [(tmp_path / n / "stats.jsonl").read_text().splitlines() for n in "ab"]
    assert [json.loads(line)["loss"] for line in stats[0]] == [json.loads(line)["loss"] for line in stats[1]]
    outputs = [sorted((tmp_path / n / "eval" / "ff20-30" / "samples").glob("*.png")) for n in "ab"]
    assert len(outputs[0]) == 4 and [p.read_bytes() for p in outputs[0]] == [p.read_bytes() for p in outputs[1]]


class Echo(torch.nn.Module):
    """A 'network' whose output is a fixed image: lets the loss be checked by hand."""

    def __init__(self, image):
        super().__init__()
        self.image = image

    def forward(self, x, gamma):
        return self.image.expand(x.shape[0], -1, -1, -1)


def test_regression_loss_covers_the_hole_only_and_uses_p():
    y0 = torch.zeros(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, :4] = 1  # the top half is generated
    out = torch.zeros(1, 3, 8, 8)
    out[:, :, 4:] = 5.0  # wrong only where the pixels are known: copied from the condition, so no loss
    condition = y0.clone()
    assert torch.equal(regression_loss(Echo(out), y0, condition, mask), torch.zeros(2))
    out[:, :, :4] = 0.5  # 0.5 off everywhere in the hole: L2 0.25, L1 0.5
    assert torch.allclose(regression_loss(Echo(out), y0, condition, mask, p=2), torch.full((2,), 0.25))
    assert torch.allclose(regression_loss(Echo(out), y0, condition, mask, p=1), torch.full((2,), 0.5))
    assert torch.allclose(regression_loss(Echo(out), y0, condition, None), torch.full((2,), (0.25 * 96 + 25 * 96) / 192))


def test_regression_and_pix2pix_networks_are_palettes_unet_without_the_noise_input():
    palette, regression, gan = (build_model(resolve("inpainting", "cpu", method=m)) for m in ("palette", "regression", "pix2pix"))
    assert regression.config.in_channels == 3 and palette.config.in_channels == 6
    assert regression.config.attention_resolutions == palette.config.attention_resolutions == (16, 8)
    assert gan.config.attention_resolutions == () and gan.attention_layers() == []
    with_attention = build_model(resolve("inpainting", "cpu", ["pix2pix.attention=true"], method="pix2pix"))
    assert with_attention.config.attention_resolutions == (16, 8)


@pytest.mark.parametrize("layers,size", [(1, 32), (1, 64), (2, 128), (3, 96)])
def test_patchgan_output_shape_and_receptive_field_match_the_formula(layers, size):
    """The receptive field is measured: the input pixels whose gradient reaches one central output unit."""
    d = PatchGAN(6, 8, layers, norm=False)  # instance norm mixes every position; the convolutions alone define the field
    x = torch.randn(1, 3, size, size, requires_grad=True)
    out = d(x, torch.randn(1, 3, size, size))
    side = output_size(size, layers)
    assert out.shape == (1, 1, side, side)
    out[0, 0, side // 2, side // 2].backward()
    rows, cols = torch.nonzero(x.grad[0].abs().sum(0), as_tuple=True)
    assert rows.max() - rows.min() + 1 == receptive_field(layers) and cols.max() - cols.min() + 1 == receptive_field(layers)


def test_the_70x70_patchgan_and_its_scaling():
    assert receptive_field(3) == 70 and receptive_field(2) == 34 and receptive_field(1) == 16
    assert [default_layers(s) for s in (32, 64, 128, 256, 512)] == [1, 1, 2, 3, 3]
    assert output_size(256, 3) == 30  # pix2pix's 30x30 map of 70x70 patches at 256 px


def test_nan_in_the_generator_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path, small, monkeypatch):
    calls = {"n": 0}
    real = pix2pix.reconstruction_loss

    def poisoned(fake, y0, mask):
        calls["n"] += 1
        value = real(fake, y0, mask)
        return value * float("nan") if calls["n"] == 5 else value

    monkeypatch.setattr(pix2pix, "reconstruction_loss", poisoned)
    res = run(tmp_path, small, "inpainting", "pix2pix", "--set", "train.steps=6")
    # the CLI prints the collapse as one line and exits 2, as for every error a user can act on
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    run_dir = next((tmp_path / "runs").iterdir())
    (message,) = [line for line in res.output.splitlines() if line.startswith("palette-bench: error: ")]
    assert "generator loss is nan at step 5" in message and "ckpt-00000004.pt is kept" in message and str(run_dir) in message
    state = load_checkpoint(checkpoints(run_dir)[-1])  # weights_only=True
    assert state["step"] == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    pix2pix.build_generator(resolve("inpainting", "smoke", ["train.steps=6"], method="pix2pix")).load_state_dict(state["model"])
    assert len((run_dir / "stats.jsonl").read_text().splitlines()) == 4  # the step that failed is not logged


def test_an_exploding_generator_loss_stops_the_run(tmp_path, small):
    res = run(tmp_path, small, "uncropping", "pix2pix", "--set", "pix2pix.max_g_loss=0.001")
    assert res.exit_code == 2
    (message,) = [line for line in res.output.splitlines() if line.startswith("palette-bench: error: ")]
    assert "above its limit 0.001 at step 1" in message and "no checkpoint had been written yet" in message


@pytest.mark.parametrize("kind", ["lsgan", "nonsaturating"])
def test_adversarial_losses(kind):
    confident_real = torch.full((2, 1, 4, 4), 1.0 if kind == "lsgan" else 30.0)
    assert pix2pix.adversarial_loss(confident_real, True, kind).item() < 1e-6
    assert pix2pix.adversarial_loss(confident_real, False, kind).item() > 0.9
    with pytest.raises(ValueError, match="unknown GAN loss"):
        pix2pix.adversarial_loss(confident_real, True, "wgan")


def test_pix2pix_learning_rate_is_constant_then_decays_to_zero():
    cfg = resolve("inpainting", "smoke", ["train.steps=100"], method="pix2pix")
    rates = [pix2pix.lr_at(cfg, s) for s in range(100)]
    assert rates[0] == rates[49] == 2e-4 and rates[50] == 2e-4 and abs(rates[99] - 2e-4 / 50) < 1e-12
    assert all(a >= b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_generator_norm_replaces_the_groupnorms_and_an_output_does_not_depend_on_its_batch(tmp_path, small, norm):
    from palette_bench.methods import get_method
    from palette_bench.run import load_run_config

    res = run(tmp_path, small, "inpainting", "pix2pix", "--set", f'pix2pix.generator_norm="{norm}"', "--set", 'pix2pix.d_norm="none"')
    assert res.exit_code == 0, res.output
    (run_dir,) = (tmp_path / "runs").glob("small-builtin-inpainting-pix2pix-smoke*")  # named with its settings' hash
    cfg = load_run_config(run_dir)
    assert (cfg.pix2pix.generator_norm, cfg.pix2pix.d_norm) == (norm, "none")  # recorded in config.json
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in pix2pix.build_discriminator(cfg).modules())
    state = load_checkpoint(checkpoints(run_dir)[-1], "cpu")
    net = get_method("pix2pix").predictor(cfg, state, "cpu").net
    kinds = {type(m) for m in net.modules()}
    assert torch.nn.GroupNorm not in kinds and (torch.nn.BatchNorm2d in kinds) == (norm == "batch")
    if norm == "batch":  # the statistics gathered in training are the ones used, not the initial 0 and 1
        assert any(m.running_mean.abs().max() > 0 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    predictor = get_method("pix2pix").predictor(cfg, state, "cpu")
    g = torch.Generator().manual_seed(0)
    condition, mask = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, (torch.rand(4, 1, 32, 32, generator=g) > 0.5).float()
    together = predictor.predict(condition, mask)
    alone = torch.cat([predictor.predict(condition[i : i + 1], mask[i : i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("method", ["regression", "pix2pix"])
def test_channels_last_trains_the_same_networks_and_samples_in_that_layout(tmp_path, small, method):
    """train.channels_last is a memory layout, not a recipe: the same weights to float rounding, for every method."""
    from palette_bench.methods import get_method
    from palette_bench.run import load_run_config

    states = []
    for layout in ("false", "true"):
        res = run(tmp_path / layout, small, "inpainting", method, "--set", f"train.channels_last={layout}", "--stage", "train")
        assert res.exit_code == 0, res.output
        (run_dir,) = (tmp_path / layout / "runs").glob(f"small-builtin-inpainting-{method}-smoke*")
        rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
        states.append((load_run_config(run_dir), load_checkpoint(checkpoints(run_dir)[-1], "cpu"), rows))
    key = "loss" if method == "regression" else "generator_loss"
    first, second = ([r[key] for r in rows] for _, _, rows in states)
    # step 1 is the same network on the same batch; after it, Adam's normalised steps can turn float
    # rounding in near-zero gradients into differences of up to the learning rate per step
    assert first[0] == pytest.approx(second[0], rel=1e-5) and first == pytest.approx(second, rel=1e-3)
    bound = 2 * len(first) * states[0][0].train.lr
    for name, value in states[0][1]["model"].items():
        assert torch.allclose(value.float(), states[1][1]["model"][name].float(), atol=bound), name
    cfg, state, _ = states[1]
    net = get_method(method).predictor(cfg, state, "cpu").net
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
