"""What every sampler does at its edges: read extra_args, paste the known pixels back, hand the network its level."""

from __future__ import annotations

import torch


def unpack(extra_args: dict, y_T: torch.Tensor):
    """(condition, mask, y0) from extra_args, checked."""
    condition = extra_args["condition"]
    mask = extra_args.get("mask")
    y0 = extra_args.get("y0")
    if mask is not None and y0 is None:
        raise ValueError("sampling with a mask needs extra_args['y0'], the image holding the known pixels")
    if condition.shape != y_T.shape:
        raise ValueError(f"condition {tuple(condition.shape)} and y_T {tuple(y_T.shape)} differ in shape")
    return condition, mask, y0


def keep_known(y, mask, y0):
    """Paste the known pixels back (inpainting/uncropping): mask * y + (1 - mask) * y0, bit-exact."""
    return y if mask is None else torch.where(mask.bool(), y, y0)


def gamma_batch(gamma: float, y: torch.Tensor) -> torch.Tensor:
    """gamma_t expanded over the batch as the float32 [B] tensor the network takes."""
    return torch.full((y.shape[0],), gamma, dtype=torch.float32, device=y.device)
