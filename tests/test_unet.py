"""The ADM U-Net of Palette: shapes, zero-init output, gamma conditioning, attention placement and Table 5 variants."""

import dataclasses
import json
import math
import time

import pytest
import torch
import torch.nn.functional as F

from palette_bench.models.unet import (
    ATTENTION_VARIANTS,
    REPLACEMENT_WIDTH,
    ResBlock,
    SelfAttention,
    UNet,
    UNetConfig,
    count_parameters,
    model_summary,
    noise_level_embedding,
)

PAPER = UNetConfig(  # ADM-256 widths (Palette does not publish its own): 256 ch, mults 1,1,2,2,4,4, heads of 64
    image_size=256,
    base_channels=256,
    channel_mults=(1, 1, 2, 2, 4, 4),
    num_res_blocks=2,
    attention_resolutions=(32, 16, 8),
    num_head_channels=64,
)


def small(image_size=32, **kw) -> UNetConfig:
    attn = (16, 8) if image_size == 32 else (16,)
    base = dict(image_size=image_size, base_channels=16, channel_mults=(1, 2, 2), num_res_blocks=1,
                attention_resolutions=attn, num_head_channels=8)
    return UNetConfig(**{**base, **kw})


def build(config: UNetConfig, seed=0) -> UNet:
    torch.manual_seed(seed)
    return UNet(config).eval()


@torch.no_grad()
def perturb_zero_layers(model: UNet, seed=1):
    """Give the zero-initialised layers random weights so every branch contributes."""
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if not p.any():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))


def record_attention_inputs(model: UNet, run) -> dict[str, tuple[int, int]]:
    """Run `run()` with forward hooks on every attention-like layer; return the (H, W) each one received."""
    seen, handles = {}, []
    modules = dict(model.named_modules())
    for name, _ in model.attention_layers():
        hook = (lambda n: lambda mod, args: seen.__setitem__(n, tuple(args[0].shape[-2:])))(name)
        handles.append(modules[name].register_forward_pre_hook(hook))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return seen


@pytest.mark.parametrize("attention", ATTENTION_VARIANTS)
@pytest.mark.parametrize("image_size", [32, 64])
def test_shape_zero_output_and_conditioning(attention, image_size):
    model = build(small(image_size, attention=attention))
    x = torch.randn(1, 6, image_size, image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(x.expand(2, -1, -1, -1), torch.tensor([0.3, 0.9]))
    assert out.shape == (2, 3, image_size, image_size)
    assert torch.equal(out, torch.zeros_like(out))  # zero-initialised output conv (ADM)

    perturb_zero_layers(model)
    x_noisy, x_cond = x.clone(), x.clone()
    x_noisy[:, :3] += 1.0  # the y_t half
    x_cond[:, 3:] += 1.0  # the condition half
    # One batch: reference, another gamma, changed y_t, changed condition (samples are independent).
    with torch.no_grad():
        out = model(torch.cat([x, x, x_noisy, x_cond]), torch.tensor([0.3, 0.05, 0.3, 0.3]))
    assert torch.isfinite(out).all() and out[0].abs().max() > 0
    assert (out[1:] - out[:1]).abs().amax(dim=(1, 2, 3)).min() > 1e-4  # gamma, y_t and condition all matter


def test_updown_convs_and_additive_embedding_variant():
    model = build(small(32, resblock_updown=False, use_scale_shift_norm=False, dropout=0.1))
    perturb_zero_layers(model)
    out = model(torch.randn(2, 6, 32, 32), torch.rand(2))
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()


@pytest.mark.parametrize("attention", ATTENTION_VARIANTS)
def test_attention_runs_where_configured(attention):
    config = UNetConfig(image_size=64, base_channels=16, channel_mults=(1, 2, 2, 2), num_res_blocks=2,
                        attention_resolutions=(16, 8), num_head_channels=8, attention=attention)
    model = build(config)
    declared = dict(model.attention_layers())
    sizes = list(declared.values())
    # 16: 2 encoder + 3 decoder blocks; 8 (the last level, so the middle block too): 2 + 3 + 1.
    assert sorted(set(sizes)) == [8, 16] and sizes.count(16) == 5 and sizes.count(8) == 6
    with torch.no_grad():
        seen = record_attention_inputs(model, lambda: model(torch.randn(1, 6, 64, 64), torch.rand(1)))
    assert seen == {name: (res, res) for name, res in declared.items()}


def test_paper_layout_at_256_attends_at_32_16_8():
    config = dataclasses.replace(PAPER, base_channels=8, num_head_channels=8)
    sizes = [res for _, res in build(config).attention_layers()]
    assert sorted(set(sizes)) == [8, 16, 32] and (sizes.count(32), sizes.count(16), sizes.count(8)) == (5, 5, 6)

    model = build(dataclasses.replace(config, num_res_blocks=1))
    declared = dict(model.attention_layers())
    start = time.perf_counter()
    with torch.no_grad():
        seen = record_attention_inputs(model, lambda: model(torch.randn(1, 6, 256, 256), torch.rand(1)))
    print(f"256x256 forward, base 8, 1 res block: {time.perf_counter() - start:.2f} s")
    assert seen == {name: (res, res) for name, res in declared.items()}
    assert sorted(set(declared.values())) == [8, 16, 32]


def test_unreachable_attention_resolution_is_an_error():
    with pytest.raises(ValueError, match="attention resolution 4 is never reached: feature maps are 64, 32, 16, 8"):
        UNetConfig(image_size=64, channel_mults=(1, 2, 2, 2), attention_resolutions=(16, 4)).validate()
    with pytest.raises(ValueError, match="not one of"):
        UNetConfig(attention="axial")


@pytest.mark.parametrize("grid", [2, 1])
def test_local_attention_stays_inside_its_block(grid):
    torch.manual_seed(0)
    layer = SelfAttention(16, 8, grid=grid)
    torch.nn.init.normal_(layer.proj.weight, std=0.2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 8, 8, generator=g)
    x2 = x.clone()
    x2[..., :4, :4] += torch.randn(2, 16, 4, 4, generator=g)
    with torch.no_grad():
        diff = (layer(x2) - layer(x)).abs()
    blocks = {(i, j): diff[..., 4 * i: 4 * i + 4, 4 * j: 4 * j + 4].max().item() for i in (0, 1) for j in (0, 1)}
    assert blocks[0, 0] > 0.1
    others = [blocks[0, 1], blocks[1, 0], blocks[1, 1]]
    if grid == 2:
        assert others == [0.0, 0.0, 0.0]  # local: the other three blocks are untouched
    else:
        assert min(others) > 1e-3  # global: every position sees the change


def test_convolutional_variants_have_no_attention(monkeypatch):
    calls = []
    sdpa = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting)
    counts = {}
    for attention in ATTENTION_VARIANTS:
        model = build(small(32, attention=attention))
        calls.clear()
        with torch.no_grad():
            model(torch.randn(1, 6, 32, 32), torch.rand(1))
        has_attention = any(isinstance(m, SelfAttention) for m in model.modules())
        if attention in ("global", "local"):
            assert len(calls) == len(model.attention_layers()) > 0 and has_attention
            blocks = 4 if attention == "local" else 1  # local attention runs on the 2x2 blocks as a batch
            assert all(shape[0] == blocks for shape in calls)
        else:
            assert calls == [] and not has_attention
            assert all(isinstance(dict(model.named_modules())[n], ResBlock) for n, _ in model.attention_layers())
        counts[attention] = count_parameters(model)
    print("small-model parameters:", counts)
    dilated = [m for m in build(small(32, attention="dilated")).modules() if hasattr(m, "attention_resolution")]
    assert dilated and all((m.in_conv.dilation, m.out_conv.dilation) == ((2, 2), (4, 4)) for m in dilated)
    assert counts["local"] == counts["global"]  # same weights, only the attention span differs
    # The stand-ins are residual blocks narrowed to REPLACEMENT_WIDTH between their convs: the dilated
    # one is the wider, as in Table 5, and both are larger than the attention they replace.
    assert counts["dilated"] > counts["more-resblocks"] > counts["global"]
    for name, module in model.named_modules():
        if hasattr(module, "attention_resolution"):  # the last variant built: dilated
            ch = module.out_conv.out_channels
            assert module.in_conv.out_channels == round(ch * REPLACEMENT_WIDTH["dilated"]) < ch, name


def test_model_summary_is_json_and_counts_match():
    config = small(32)
    summary = model_summary(config)
    assert json.loads(json.dumps(summary)) == summary
    model = build(config)
    assert summary["parameters"] == sum(p.numel() for p in model.parameters()) == count_parameters(model)
    assert summary["attention"] == "global" and summary["attention_at"] == [8, 16]
    assert summary["blocks_by_resolution"]["16"]["attention_layers"] == 3  # 1 encoder + 2 decoder blocks


def test_paper_sized_config_on_meta_device():
    counts = {}
    for attention in ATTENTION_VARIANTS:
        with torch.device("meta"):
            model = UNet(dataclasses.replace(PAPER, attention=attention))
        counts[attention] = count_parameters(model)
        assert all(p.is_meta for p in model.parameters())
    print("paper-sized parameters (Palette Table 5: 552M global/local, 603M more-resblocks, 624M dilated):", counts)
    assert model_summary(PAPER)["parameters"] == counts["global"]
    table5 = {"global": 552e6, "local": 552e6, "more-resblocks": 603e6, "dilated": 624e6}
    for attention, paper in table5.items():
        assert abs(counts[attention] / paper - 1) <= 0.02, (attention, counts[attention], paper)


def test_paper_preset_resolves_to_table5_sizes():
    """The `paper` preset itself (not only the test's PAPER config) gives Table 5's sizes through --set model.attention=..."""
    from palette_bench.runconfig import resolve

    table5 = {"global": 552e6, "local": 552e6, "more-resblocks": 603e6, "dilated": 624e6}
    for attention, paper in table5.items():
        cfg = resolve("inpainting", "paper", [f"model.attention={attention}"])
        n = model_summary(cfg.model)["parameters"]
        assert abs(n / paper - 1) <= 0.02, (attention, n, paper)


def test_construction_is_deterministic():
    a, b, c = build(small(32), seed=3), build(small(32), seed=3), build(small(32), seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_noise_level_embedding_scales_gamma_by_1000():
    emb = noise_level_embedding(torch.tensor([0.5]), 4)  # frequencies 1 and 10000**-0.5
    args = [500.0, 500.0 / 100.0]
    expected = [math.cos(a) for a in args] + [math.sin(a) for a in args]
    assert torch.allclose(emb[0], torch.tensor(expected), atol=1e-5)
    assert noise_level_embedding(torch.rand(3), 5).shape == (3, 5)


def test_channels_last_and_compile_agree():
    model = build(small(16, attention="local", channel_mults=(1, 2), attention_resolutions=(8,)))
    perturb_zero_layers(model)
    x, gamma = torch.randn(2, 6, 16, 16), torch.rand(2)
    with torch.no_grad():
        ref = model(x, gamma)
        cl = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last), gamma)
        torch._dynamo.reset()
        # fullgraph=True fails on any graph break (Python branching on tensor values, unsupported ops).
        compiled = torch.compile(model, fullgraph=True, backend="eager")(x, gamma)
    assert torch.allclose(cl, ref, atol=1e-5) and torch.allclose(compiled, ref, atol=1e-5)
