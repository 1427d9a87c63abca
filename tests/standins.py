"""Stand-in weights files made by the tests: the real architectures with random weights, so that no download is needed.

The InceptionV3 stand-in has the architecture of torch-fidelity's TF-compatible network, random
convolutions, and BatchNorm statistics calibrated on natural images, so its features are spread out
like real ones instead of collapsing to a point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


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
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        model(natural_images(16, 64))  # 16 images x 299^2 positions: plenty of samples per channel
    model.eval()
    torch.save(model.state_dict(), path)
    return path


def make_resnet50(path: Path, seed: int = 0) -> Path:
    import torchvision

    torch.manual_seed(seed)
    torch.save(torchvision.models.resnet50().state_dict(), path)
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
