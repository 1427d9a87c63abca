"""The networks behind the metrics, each loaded once from a verified weights file.

Every extractor takes uint8 [B, 3, H, W] batches (what is stored on disk) and says in `info` what
it is, how it resizes, and the sha256 of its weights, so that every number can name its source.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from palette_bench.weights import ResolvedWeights, load_state_dict


def _info(extractor: str, resize: str, sha256: str, verified: bool) -> dict:
    return {"extractor": extractor, "resize": resize, "weights_sha256": sha256, "verified": verified}


class InceptionV3:
    """torch-fidelity's TF-compatible InceptionV3: pool_3 features (2048) and unbiased logits (1008) in one pass."""

    def __init__(self, weights: ResolvedWeights, device: str = "cpu"):
        import torch_fidelity
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if not weights.verified:
            load_state_dict(weights)  # an unknown file is first opened with weights_only=True: it cannot run code
        # A verified file is the published one, which torch-fidelity loads itself.
        self.model = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(weights.path)
        ).to(device)
        self.device = device
        self.info = _info(
            f"inception-v3-tf (torch-fidelity {torch_fidelity.__version__})",
            "bilinear to 299x299, TensorFlow 1.x compatible (torch-fidelity)",
            weights.sha256,
            weights.verified,
        )

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pool, logits = self.model(images.to(self.device))
        return {"pool": pool.double().cpu(), "logits": logits.double().cpu()}


class ResNet50:
    """torchvision's ResNet-50 (IMAGENET1K_V1) with its own preprocessing: resize to 256, centre crop 224, normalise."""

    MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

    def __init__(self, weights: ResolvedWeights, device: str = "cpu"):
        import torchvision

        self.model = torchvision.models.resnet50()
        self.model.load_state_dict(load_state_dict(weights))
        self.model.eval().to(device)
        self.device = device
        self.info = _info("resnet50 (torchvision IMAGENET1K_V1)", "bilinear antialiased to 256, centre crop 224", weights.sha256, weights.verified)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images.to(self.device).float() / 255
        x = F.interpolate(x, size=(256, 256), mode="bilinear", antialias=True, align_corners=False)
        x = x[..., 16:240, 16:240]
        mean = torch.tensor(self.MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.STD, device=x.device).view(1, 3, 1, 1)
        return {"logits": self.model((x - mean) / std).double().cpu()}


class LPIPSAlex:
    """LPIPS v0.1 with AlexNet (Zhang et al. 2018), from the lpips package.

    lpips would download the AlexNet trunk itself; it is built untrained here and given the
    verified torchvision file instead. Its linear calibration layers ship inside the package.
    """

    # torchvision's alexnet.features index -> lpips slice holding it
    SLICES = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}

    def __init__(self, weights: ResolvedWeights, device: str = "cpu"):
        import lpips

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated `pretrained` argument
            self.model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        trunk = {}
        for key, value in load_state_dict(weights).items():
            part, index, param = key.split(".")
            if part == "features":
                trunk[f"net.slice{self.SLICES[int(index)]}.{index}.{param}"] = value
        missing = self.model.load_state_dict(trunk, strict=False)
        if any(k.startswith("net.") for k in missing.missing_keys):
            raise ValueError(f"{weights.path}: not an AlexNet state dict (missing {missing.missing_keys[:3]})")
        self.model.eval().to(device)
        self.device = device
        self.info = _info("lpips-alex v0.1 (lpips package)", "none (native resolution)", weights.sha256, weights.verified)

    @torch.no_grad()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-pair LPIPS distance of two uint8 batches."""
        scale = lambda x: x.to(self.device).float() / 127.5 - 1  # noqa: E731 - lpips expects [-1, 1]
        return self.model(scale(a), scale(b)).flatten().double().cpu()


class Judge:
    """The builtin protocol's judge classifier in the role of InceptionV3: penultimate features, logits, feature maps."""

    def __init__(self, model, sha256: str, device: str = "cpu"):
        from palette_bench.metrics.judge import JUDGE_SIZE

        self.model = model.eval().to(device)
        self.device = device
        self.info = _info(
            f"judge-builtin-{JUDGE_SIZE}px (palette-bench; not Inception: numbers are not comparable with Inception FID/IS)",
            f"bilinear antialiased to {JUDGE_SIZE}x{JUDGE_SIZE}",
            sha256,
            True,
        )

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, maps: bool = False) -> dict:
        out = self.model(images.to(self.device))
        result = {"pool": out["features"].double().cpu(), "logits": out["logits"].double().cpu()}
        if maps:
            result["maps"] = out["maps"]
        return result

    @torch.no_grad()
    def lpips(self, a: torch.Tensor, b: torch.Tensor, maps_a: list | None = None) -> torch.Tensor:
        """LPIPS's formula on the judge's stage maps, with unit layer weights (LPIPS's uncalibrated 'baseline').

        Written here because the lpips package only runs its own AlexNet/VGG/SqueezeNet trunks.
        `maps_a`: the maps of `a` from a judge pass already made, so the judge does not run on `a` twice.
        """
        if maps_a is None:
            maps_a = self.model(a.to(self.device))["maps"]
        maps_b = self.model(b.to(self.device))["maps"]
        total = 0
        for fa, fb in zip(maps_a, maps_b):
            na = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
            nb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
            total = total + ((na - nb) ** 2).sum(dim=1).mean(dim=(1, 2))
        return total.double().cpu()
