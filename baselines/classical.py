"""The classical floors that every learned method must beat (no learning, no randomness).

Inpainting and uncropping: biharmonic inpainting (scikit-image), which fills the hole with the
smoothest continuation of the known pixels. Colorization: the grayscale input itself. JPEG
restoration: the decoded JPEG itself.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.restoration import inpaint_biharmonic


class Classical:
    """predict(condition, mask) -> outputs, all [B, 3, H, W] in model space; known pixels kept exactly."""

    name = "classical"

    def __init__(self, task: str):
        self.task = task

    def predict(self, condition: torch.Tensor, mask: torch.Tensor | None, generator=None) -> torch.Tensor:
        if mask is None:  # colorization and JPEG restoration: the input is the output
            return condition.clamp(-1, 1)
        out = []
        for image, hole in zip(condition, mask):
            known = image.permute(1, 2, 0).double().numpy()
            filled = inpaint_biharmonic(known, hole[0].bool().numpy(), channel_axis=-1)
            filled = torch.from_numpy(np.clip(filled, -1.0, 1.0)).permute(2, 0, 1).float()
            out.append(torch.where(hole.bool(), filled, image))  # the known pixels are copied, not re-estimated
        return torch.stack(out)
