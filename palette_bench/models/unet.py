"""Palette's denoiser: the ADM U-Net (Dhariwal & Nichol 2021) without class conditioning, conditioned on gamma.

Palette (Saharia et al. 2022, Sec. 3) feeds the noisy image y_t concatenated with the condition image
and the continuous noise level gamma, and predicts eps. Attention is placed by the feature-map size the
layer actually runs at, so the configured resolutions are the ones that attend (the popular unofficial
implementation configures 32/16/8 but only attends in the middle block). `attention` selects Palette's
Table 5 ablation: global or local self-attention, more residual blocks, or dilated convolutions.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ATTENTION_VARIANTS = ("global", "local", "more-resblocks", "dilated")

# Table 5's fully convolutional variants put a residual block where each attention layer was. The
# paper gives their sizes (603M more-resblocks, 624M dilated, against 552M with attention) but not
# their widths. A full-width block (two 3x3 convs of c channels) where an attention layer (4c^2) was
# would make both 761M, so the block narrows to `inner` = ratio * c channels between its two convs:
# the ratios below put the paper preset at 599M and 631M, within 1.2% of Table 5 (tests/test_unet.py).
REPLACEMENT_WIDTH = {"more-resblocks": 3 / 8, "dilated": 1 / 2}
# Dilations of the two convs of a dilated block: the receptive field grows by 2 * (2 + 4) = 12 px per
# block instead of 4, "increasing dilation rates" in the paper's words.
REPLACEMENT_DILATION = {"more-resblocks": (1, 1), "dilated": (2, 4)}

# ADM's timestep embedding was designed for integer steps 0..999; gamma in (0, 1] is scaled by this so
# the sinusoids span the same range of phases (gamma = 1 -> "step" 1000).
GAMMA_SCALE = 1000.0


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """ADM U-Net settings; defaults are a small 64x64 model, the paper-like 256 model is in the tests and README."""

    image_size: int = 64
    in_channels: int = 6  # noisy image y_t (3) concatenated with the condition image (3)
    out_channels: int = 3  # predicted noise eps
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16,)  # feature-map sizes (pixels) where attention layers go
    attention: str = "global"  # "global" | "local" | "more-resblocks" | "dilated" (Palette Table 5)
    num_head_channels: int = 32  # channels per attention head (ADM-256 uses 64)
    dropout: float = 0.0
    resblock_updown: bool = True  # BigGAN-style up/down sampling inside residual blocks
    use_scale_shift_norm: bool = True

    def __post_init__(self):
        # Tuples keep the config hashable and JSON round trips (lists) equal to the original.
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))
        if self.attention not in ATTENTION_VARIANTS:
            raise ValueError(f"attention {self.attention!r} is not one of {list(ATTENTION_VARIANTS)}")
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"channel_mults must be positive integers, got {self.channel_mults}")
        if self.num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be at least 1, got {self.num_res_blocks}")

    def validate(self) -> None:
        """Check the settings against the image size; UNet() calls it, and so does run's preflight before any work.

        Kept out of __post_init__ so that a config whose image_size is overridden can be built (and
        named) first, and so that a method without a U-Net never has its model section checked.
        """
        levels = len(self.channel_mults)
        if self.image_size % 2 ** (levels - 1):
            raise ValueError(f"image_size {self.image_size} cannot be halved {levels - 1} times ({levels} levels)")
        sizes = feature_sizes(self)
        for res in self.attention_resolutions:
            if res not in sizes:
                raise ValueError(
                    f"attention resolution {res} is never reached: feature maps are {', '.join(map(str, sizes))}"
                )
            if self.attention == "local" and res % 2:
                raise ValueError(f"local attention splits maps into 2x2 blocks; resolution {res} is odd")


def feature_sizes(config: UNetConfig) -> list[int]:
    """Feature-map size at each encoder level: image_size / 2**level (the middle block runs at the last)."""
    return [config.image_size // 2**level for level in range(len(config.channel_mults))]


def group_norm(channels: int) -> nn.GroupNorm:
    """ADM's GroupNorm(32); narrow test models use the largest group count <= 32 that divides `channels`."""
    groups = max(g for g in range(1, min(32, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def zero_init(module: nn.Module) -> nn.Module:
    """Zero a layer's parameters so its residual branch (or the network output) starts at 0, as in ADM."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def noise_level_embedding(gamma: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of GAMMA_SCALE * gamma (ADM's timestep embedding applied to a continuous level)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=gamma.device, dtype=torch.float32) / half)
    args = (GAMMA_SCALE * gamma.float())[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))  # an odd width gets one zero column


class ResBlock(nn.Module):
    """ADM residual block: norm-SiLU-conv, noise-level FiLM (scale-shift norm), dropout, zero-init conv."""

    def __init__(self, in_ch, out_ch, emb_ch, dropout=0.0, scale_shift=True, resample=None, dilation=(1, 1), inner=None):
        super().__init__()
        assert resample in (None, "up", "down")
        inner = inner or out_ch  # channels between the two convs: narrower in Table 5's replacement blocks
        self.resample, self.scale_shift = resample, scale_shift
        self.in_norm = group_norm(in_ch)
        self.in_conv = nn.Conv2d(in_ch, inner, 3, padding=dilation[0], dilation=dilation[0])
        self.emb_proj = nn.Linear(emb_ch, 2 * inner if scale_shift else inner)
        self.out_norm = group_norm(inner)
        self.dropout = nn.Dropout(dropout)
        self.out_conv = zero_init(nn.Conv2d(inner, out_ch, 3, padding=dilation[1], dilation=dilation[1]))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def _resize(self, t: Tensor) -> Tensor:
        if self.resample == "down":
            return F.avg_pool2d(t, 2)
        if self.resample == "up":
            return F.interpolate(t, scale_factor=2.0, mode="nearest")
        return t

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = F.silu(self.in_norm(x))
        # BigGAN-style: resample after the activation and before the conv, on both branches (as ADM).
        h, x = self._resize(h), self._resize(x)
        h = self.in_conv(h)
        e = self.emb_proj(F.silu(emb))[:, :, None, None].to(h.dtype)
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_norm(h) * (1 + scale) + shift
        else:
            h = self.out_norm(h + e)
        h = self.out_conv(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over positions (ADM's AttentionBlock); grid=2 keeps it inside 2x2 blocks (local)."""

    def __init__(self, channels: int, head_channels: int, grid: int = 1):
        super().__init__()
        if channels % head_channels:
            raise ValueError(f"{channels} attention channels are not divisible by num_head_channels {head_channels}")
        self.heads, self.grid = channels // head_channels, grid
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = self.grid
        if g > 1:
            # Blocks become batch entries, so norm, qkv and attention cannot see other blocks.
            x = x.reshape(b, c, g, h // g, g, w // g).permute(0, 2, 4, 1, 3, 5).reshape(b * g * g, c, h // g, w // g)
        n, _, hb, wb = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, hb * wb)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each [n, heads, positions, head_channels]
        out = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(out.transpose(-1, -2).reshape(n, c, hb, wb))
        if g > 1:
            x = x.reshape(b, g, g, c, hb, wb).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)
        return x


class Downsample(nn.Module):
    """Strided 3x3 conv (ADM's downsampling when resblock_updown is off)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour upsampling then a 3x3 conv (ADM's upsampling when resblock_updown is off)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class EmbedSequential(nn.Sequential):
    """Runs layers in order, giving the noise-level embedding to the residual blocks."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class UNet(nn.Module):
    """eps_theta(x, gamma) of Palette (Sec. 3): ADM U-Net on [y_t, condition], FiLM-conditioned on gamma."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        config.validate()
        self.config = c = config
        base, mults, sizes = c.base_channels, c.channel_mults, feature_sizes(c)
        emb_ch = 4 * base
        self.embed = nn.Sequential(nn.Linear(base, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))

        def res(i, o, size, resample=None, dilation=(1, 1), inner=None):
            block = ResBlock(i, o, emb_ch, c.dropout, c.use_scale_shift_norm, resample, dilation, inner)
            block.resolution = size  # input feature-map size, for model_summary
            return block

        def attention(ch, size):
            if c.attention in ("global", "local"):
                layer = SelfAttention(ch, c.num_head_channels, grid=2 if c.attention == "local" else 1)
            else:  # Table 5's convolutional stand-ins take the attention layer's place
                inner = max(1, round(ch * REPLACEMENT_WIDTH[c.attention]))
                layer = res(ch, ch, size, dilation=REPLACEMENT_DILATION[c.attention], inner=inner)
            layer.resolution = layer.attention_resolution = size  # marks an attention-like layer
            return layer

        def with_attention(layers, ch, size):
            return layers + [attention(ch, size)] if size in c.attention_resolutions else layers

        ch = base * mults[0]
        self.input_conv = nn.Conv2d(c.in_channels, ch, 3, padding=1)
        skips = [ch]
        self.encoder = nn.ModuleList()
        for level, mult in enumerate(mults):
            size = sizes[level]
            for _ in range(c.num_res_blocks):
                self.encoder.append(EmbedSequential(*with_attention([res(ch, base * mult, size)], base * mult, size)))
                ch = base * mult
                skips.append(ch)
            if level < len(mults) - 1:
                down = res(ch, ch, size, "down") if c.resblock_updown else Downsample(ch)
                down.resolution = size
                self.encoder.append(EmbedSequential(down))
                skips.append(ch)

        self.middle = EmbedSequential(*with_attention([res(ch, ch, sizes[-1])], ch, sizes[-1]), res(ch, ch, sizes[-1]))

        self.decoder = nn.ModuleList()
        for level, mult in reversed(list(enumerate(mults))):
            size = sizes[level]
            for i in range(c.num_res_blocks + 1):
                layers = with_attention([res(ch + skips.pop(), base * mult, size)], base * mult, size)
                ch = base * mult
                if level > 0 and i == c.num_res_blocks:
                    up = res(ch, ch, size, "up") if c.resblock_updown else Upsample(ch)
                    up.resolution = size
                    layers.append(up)
                self.decoder.append(EmbedSequential(*layers))

        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), zero_init(nn.Conv2d(ch, c.out_channels, 3, padding=1)))

    def forward(self, x: Tensor, gamma: Tensor) -> Tensor:
        """x: [B, in_channels, H, W] = [y_t, condition]; gamma: [B] levels in (0, 1]. Returns eps [B, out, H, W]."""
        gamma = gamma.reshape(-1).expand(x.shape[0])  # a single level broadcasts over the batch
        emb = noise_level_embedding(gamma, self.config.base_channels).to(self.embed[0].weight.dtype)
        emb = self.embed(emb)
        h = self.input_conv(x)
        skips = [h]
        for block in self.encoder:
            h = block(h, emb)
            skips.append(h)
        h = self.middle(h, emb)
        for block in self.decoder:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)

    def attention_layers(self) -> list[tuple[str, int]]:
        """(module name, feature-map size it runs at) for every attention layer or its Table 5 stand-in."""
        return [(n, m.attention_resolution) for n, m in self.named_modules() if hasattr(m, "attention_resolution")]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (Palette Table 5: 552M global and local attention, 603M more-resblocks, 624M dilated)."""
    return sum(p.numel() for p in module.parameters())


def model_summary(config: UNetConfig) -> dict:
    """JSON-serialisable size and layout of the U-Net for `config`, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = UNet(config)
    by_res: dict[str, dict] = {}
    for module in model.modules():
        size = getattr(module, "resolution", None)
        if size is None:
            continue
        entry = by_res.setdefault(str(size), {"res_blocks": 0, "attention_layers": 0, "resamplers": 0})
        if hasattr(module, "attention_resolution"):
            entry["attention_layers"] += 1
        elif isinstance(module, ResBlock) and module.resample is None:
            entry["res_blocks"] += 1
        else:
            entry["resamplers"] += 1
    return {
        "parameters": count_parameters(model),
        "attention": config.attention,
        "attention_at": sorted({size for _, size in model.attention_layers()}),
        "blocks_by_resolution": dict(sorted(by_res.items(), key=lambda kv: -int(kv[0]))),
    }
