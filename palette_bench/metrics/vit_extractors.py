"""DINOv2 ViT-L/14 (for FD_DINOv2) and CLIP ViT-L/14@336 (for CMMD), built with timm from the publishers' own files.

The architecture is read off the state dict (width, depth, patch size, positional grid; 64-dim
attention heads, as both publishers use), so a small stand-in file in the same layout, made by
the tests, runs the same code as the real one.

Preprocessing follows the reference implementations, stated in each extractor's `info`:
- DINOv2 as EDM2's FD_DINOv2 detector: [0, 1], torch bicubic (antialiased) to 224x224, ImageNet
  mean and std; the feature is the final-norm CLS token (1024-d). The positional embedding,
  published for 518 px, is resampled to the 16x16 grid the way DINOv2's own
  interpolate_pos_encoding does it at 224 px (bicubic, scale (16 + 0.1) / 37, not antialiased).
  dgm-eval resizes with PIL's bicubic instead (a = -0.5 against torch's -0.75): a different number.
- CLIP as the CMMD reference (google-research/cmmd, embedding.py): [0, 1], torch bicubic (not
  antialiased) to 336x336, CLIP's mean and std; the embedding is the projected CLS token,
  L2-normalised. OpenAI's activation is QuickGELU, kept.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F

from palette_bench.weights import ResolvedWeights, WeightsError, load_state_dict

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
DINOV2_SIZE, CLIP_SIZE = 224, 336
HEAD_DIM = 64
DINOV2_INTERPOLATE_OFFSET = 0.1  # dinov2/models/vision_transformer.py, interpolate_pos_encoding


def _depth(state: dict, pattern: str) -> int:
    return 1 + max(int(m.group(1)) for k in state if (m := re.match(pattern, k)))


def _normalise(images: torch.Tensor, size: int, mean, std, antialias: bool, device) -> torch.Tensor:
    x = images.to(device).float() / 255
    x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=antialias, align_corners=False)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def _info(extractor: str, resize: str, weights: ResolvedWeights) -> dict:
    return {"extractor": extractor, "resize": resize, "weights_sha256": weights.sha256, "verified": weights.verified}


def _load(model: torch.nn.Module, state: dict, weights: ResolvedWeights, kind: str, device) -> torch.nn.Module:
    """`model` holding `state`, every key matched (a file of another architecture is a one-line error), in eval mode on `device`."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{weights.path}: does not fit a {kind} ViT (missing {missing[:2]}, unexpected {unexpected[:2]})")
    return model.eval().to(device)


class DINOv2:
    """DINOv2 ViT-L/14 CLS features from Meta's dinov2_vitl14_pretrain.pth."""

    def __init__(self, weights: ResolvedWeights, device: str = "cpu"):
        import timm
        from timm.models.vision_transformer import VisionTransformer

        state = load_state_dict(weights)
        if "cls_token" not in state or "mask_token" not in state:
            raise WeightsError(f"{weights.path}: not a DINOv2 backbone state dict (no cls_token/mask_token)")
        width = state["cls_token"].shape[-1]
        patch = state["patch_embed.proj.weight"].shape[-1]
        grid = DINOV2_SIZE // patch
        state = {k: v.float() for k, v in state.items() if k != "mask_token"}
        pos = state["pos_embed"]
        old = math.isqrt(pos.shape[1] - 1)
        if old != grid:
            scale = (grid + DINOV2_INTERPOLATE_OFFSET) / old
            patch_pos = pos[:, 1:].reshape(1, old, old, width).permute(0, 3, 1, 2)
            patch_pos = F.interpolate(patch_pos, scale_factor=(scale, scale), mode="bicubic", antialias=False)
            state["pos_embed"] = torch.cat([pos[:, :1], patch_pos.permute(0, 2, 3, 1).reshape(1, grid * grid, width)], dim=1)
        self.model = VisionTransformer(
            img_size=DINOV2_SIZE,
            patch_size=patch,
            embed_dim=width,
            depth=_depth(state, r"blocks\.(\d+)\."),
            num_heads=width // HEAD_DIM,
            mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / width,
            init_values=1e-5,  # LayerScale, present in the file
            num_classes=0,
            global_pool="token",
        )
        self.model = _load(self.model, state, weights, "DINOv2", device)
        self.device = device
        self.info = _info(
            f"dinov2-vitl14 (timm {timm.__version__}; CLS token after the final norm)",
            f"bicubic antialiased to {DINOV2_SIZE}x{DINOV2_SIZE} (torch), ImageNet mean/std, as EDM2's FD_DINOv2",
            weights,
        )

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = _normalise(images, DINOV2_SIZE, IMAGENET_MEAN, IMAGENET_STD, True, self.device)
        return {"pool": self.model(x).double().cpu()}


def _read_openai_clip(weights: ResolvedWeights) -> dict:
    """OpenAI's CLIP file is a TorchScript archive, which torch.load(weights_only=True) cannot read.

    It is opened with torch.jit.load only once its sha256 matches OpenAI's: TorchScript holds code,
    and only the published file is trusted to run it. Any other file must be a plain state dict
    (the tests' stand-ins; a state dict saved from OpenAI's model), read with weights_only=True.
    """
    import zipfile

    is_script = zipfile.is_zipfile(weights.path) and any(n.endswith("/constants.pkl") for n in zipfile.ZipFile(weights.path).namelist())
    if not is_script:
        return load_state_dict(weights)
    if not weights.verified:
        raise WeightsError(f"{weights.path}: a TorchScript archive whose sha256 is not OpenAI's is not opened (it can hold code); use the published file or a plain state dict")
    return torch.jit.load(str(weights.path), map_location="cpu").state_dict()


class CLIPImage:
    """CLIP ViT-L/14@336 image embeddings, L2-normalised, from OpenAI's ViT-L-14-336px.pt."""

    def __init__(self, weights: ResolvedWeights, device: str = "cpu"):
        import timm
        from timm.layers import QuickGELU
        from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

        raw = _read_openai_clip(weights)
        if "visual.class_embedding" not in raw:
            raise WeightsError(f"{weights.path}: not an OpenAI CLIP state dict (no visual.class_embedding)")
        raw = {k: v.float() for k, v in raw.items() if k.startswith("visual.")}
        width = raw["visual.class_embedding"].shape[0]
        patch = raw["visual.conv1.weight"].shape[-1]
        grid = math.isqrt(raw["visual.positional_embedding"].shape[0] - 1)
        from functools import partial

        self.model = VisionTransformer(
            img_size=grid * patch,
            patch_size=patch,
            embed_dim=width,
            depth=_depth(raw, r"visual\.transformer\.resblocks\.(\d+)\."),
            num_heads=width // HEAD_DIM,
            pre_norm=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-5),
            act_layer=QuickGELU,
            num_classes=raw["visual.proj"].shape[1],
            global_pool="token",
        )
        state = checkpoint_filter_fn(raw, self.model)  # timm's own renaming of OpenAI's keys
        self.model = _load(self.model, state, weights, "CLIP", device)
        self.size = grid * patch
        self.device = device
        self.info = _info(
            f"clip-vitl14-336 (timm {timm.__version__}; projected CLS token, L2-normalised)",
            f"bicubic to {self.size}x{self.size} (torch, not antialiased), CLIP mean/std, as the CMMD reference",
            weights,
        )

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = _normalise(images, self.size, CLIP_MEAN, CLIP_STD, False, self.device)
        emb = self.model(x)
        # normalised in float32, the network's precision, so that the float32 arrays a comparison reads are exact
        return {"pool": (emb / emb.norm(dim=1, keepdim=True)).double().cpu()}
