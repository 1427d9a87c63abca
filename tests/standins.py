"""Stand-in weights files made by the tests: the real architectures with random weights, so that no download is needed.

The InceptionV3 and ResNet-50 stand-ins have random convolutions, BatchNorm statistics calibrated on
natural images (so their features are spread out like real ones instead of collapsing to a point),
and a last layer fitted to those features so that their class predictions are confident and differ
from image to image, as a trained classifier's do: with a random last layer every image gets nearly
the same flat softmax, IS is close to 1 and CA is the same for any output, so a test of those
metrics could not tell a right implementation from a wrong one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


# Spread of each stand-in Inception logit over natural images: softmaxes peaked enough that IS of 24
# images (2-3 per split) is above 2, yet not one-hot (the top class gets ~0.4 on average), so IS still
# depends on the probabilities and not only on how many images a split holds.
INCEPTION_LOGIT_STD = 8.0
# The stand-in ResNet-50 scores only ImageNet's first three classes (the tests' synsets); every other
# class has logit 0, so an image whose three scores are all negative is classified as class 3.
RESNET_CLASSES = 3


def natural_images(n: int, size: int = 64, start: int = 0) -> torch.Tensor:
    """uint8 [n, 3, size, size] builtin renders: varied photographs and textures, no download."""
    from palette_bench.data.builtin import render

    return torch.stack([torch.from_numpy(render("train", start + i, size)[0]).permute(2, 0, 1) for i in range(n)])


def make_inception(path: Path, seed: int = 0) -> Path:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3 as Inception

    torch.manual_seed(seed)
    empty = path.parent / "empty.pth"
    torch.save({}, empty)
    original = Inception.load_state_dict
    Inception.load_state_dict = lambda self, state_dict, strict=True: None  # keep the random initialisation
    try:
        model = Inception("standin", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(empty))
    finally:
        Inception.load_state_dict = original
    _reset_batchnorm(model)
    with torch.no_grad():
        # 16 images x 299^2 positions: plenty of samples per channel. The pass normalises with its batch's
        # statistics; its pool features are within 1% of the eval-mode ones, close enough to fit the last layer.
        pool, _ = model(natural_images(16, 64))
        model.fc.weight.copy_(spread_logits(pool, 1008, INCEPTION_LOGIT_STD, seed))
        model.fc.bias.zero_()
    model.eval()
    torch.save(model.state_dict(), path)
    return path


def _reset_batchnorm(model: torch.nn.Module) -> None:
    """Train mode with fresh BatchNorm statistics that the next forward pass sets to its batch's."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()


def spread_logits(pool: torch.Tensor, classes: int, logit_std: float, seed: int = 0) -> torch.Tensor:
    """Last-layer weights [classes, D] that map varied images to varied, confident class scores.

    A Gaussian random mix of the whitened principal directions of `pool` (calibration features,
    [N, D]), so each logit varies across images with standard deviation `logit_std`. The
    directions are kept orthogonal to the mean feature: torch-fidelity's IS logits have no bias
    term, and without the mean every image would share one large offset and one predicted class.
    """
    x = pool.double()
    mean = x.mean(dim=0)
    u = mean / mean.norm()
    centred = x - mean
    centred = centred - (centred @ u)[:, None] * u[None]
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    k = int((s > s[0] * 1e-6).sum())
    whiten = vt[:k] / s[:k, None] * len(x) ** 0.5  # unit variance over the calibration images along each direction
    mix = torch.randn(classes, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) / k**0.5
    return (logit_std * mix @ whiten).float()


def resnet50_preprocess(images: torch.Tensor) -> torch.Tensor:
    """torchvision's IMAGENET1K_V1 evaluation transform for uint8 [B, 3, H, W]: bilinear antialiased resize to 256, centre crop 224, normalise."""
    from torchvision.transforms import v2

    transform = v2.Compose(
        [
            v2.ToDtype(torch.float32, scale=True),
            v2.Resize(256, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
            v2.CenterCrop(224),
            v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    return transform(images)


def make_resnet50(path: Path, seed: int = 0) -> Path:
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet50()
    fc, model.fc = model.fc, torch.nn.Identity()  # the calibration pass returns the pool features
    _reset_batchnorm(model)
    with torch.no_grad():
        pool = model(resnet50_preprocess(natural_images(16, 64)))  # 16 x 7^2 positions at the last stage
        fc.weight.zero_()
        fc.bias.zero_()
        fc.weight[:RESNET_CLASSES] = spread_logits(pool, RESNET_CLASSES, 1.0, seed)  # top-k ignores the scale
    model.fc = fc
    model.eval()
    torch.save(model.state_dict(), path)
    return path


def make_alexnet(path: Path, seed: int = 0) -> Path:
    import torchvision

    torch.manual_seed(seed)
    torch.save(torchvision.models.alexnet().state_dict(), path)
    return path


def write_pngs(folder: Path, images: torch.Tensor, names=None) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        name = names[i] if names else f"{i:06d}.png"
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / name)
    return folder


def perturb(images: torch.Tensor, amount: float, seed: int = 0) -> torch.Tensor:
    """Images with uniform noise added: a 'method' whose outputs are close to, but not equal to, the originals."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-amount, amount, images.shape)
    return torch.from_numpy(np.clip(images.numpy().astype(np.float64) + noise, 0, 255).round().astype(np.uint8))
