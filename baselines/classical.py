"""The classical floors that every learned method must beat (no learning, no randomness).

Inpainting and uncropping: biharmonic inpainting (scikit-image), the smoothest continuation of
the known pixels, or OpenCV's Telea fast-marching inpainting (`--set classical.inpaint=telea`),
which propagates the border's colours inward along the image's isophotes. Colorization: the
grayscale input itself. JPEG restoration: the decoded JPEG itself.
"""

from __future__ import annotations

import numpy as np
import torch

from palette_bench.images import from_uint8, to_uint8
from palette_bench.methods import Method, register

TELEA_RADIUS = 3  # pixels around a hole pixel that inform it (OpenCV's documented default use)


def _biharmonic(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    from skimage.restoration import inpaint_biharmonic

    known = image.permute(1, 2, 0).double().numpy()
    filled = inpaint_biharmonic(known, hole.numpy(), channel_axis=-1)
    return torch.from_numpy(np.clip(filled, -1.0, 1.0)).permute(2, 0, 1).float()


def _telea(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    import cv2

    # cv2.inpaint works on 8-bit images; the known pixels are 8-bit values already, so nothing is lost there
    rgb = np.ascontiguousarray(to_uint8(image).permute(1, 2, 0).numpy())
    filled = cv2.inpaint(rgb, hole.numpy().astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)
    return from_uint8(filled)


INPAINTERS = {"biharmonic": _biharmonic, "telea": _telea}  # classical.inpaint -> hole filler


class Classical:
    """predict(condition, mask, generator) -> outputs, all [B, 3, H, W] in model space; known pixels kept exactly."""

    name = "classical"

    def __init__(self, task: str, inpaint: str = "biharmonic"):
        if inpaint not in INPAINTERS:
            raise ValueError(f"classical.inpaint '{inpaint}' is not one of {', '.join(INPAINTERS)}")
        self.task, self.fill = task, INPAINTERS[inpaint]

    def predict(self, condition: torch.Tensor, mask: torch.Tensor | None, generator=None) -> torch.Tensor:
        if mask is None:  # colorization and JPEG restoration: the input is the output
            return condition.clamp(-1, 1)
        out = []
        for image, hole in zip(condition, mask):
            hole = hole[0].bool()
            filled = self.fill(image, hole)
            out.append(torch.where(hole, filled, image))  # the known pixels are copied, not re-estimated
        return torch.stack(out)


@register
class ClassicalMethod(Method):
    name = "classical"
    section = "classical"

    def predictor(self, cfg, state, device):
        return Classical(cfg.task, cfg.classical.inpaint)
