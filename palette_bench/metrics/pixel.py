"""PSNR and SSIM per image, over the whole image or inside the generated region (mask == 1).

Inputs are uint8 tensors [B, 3, H, W] (what is stored and evaluated), computed in float64 with
data range 255. Masks are [B, 1, H, W], bool or float, binarised at 0.5. Every function returns
a float64 tensor [B] of per-image values so callers can bootstrap confidence intervals.
"""

from __future__ import annotations

import torch

from .msssim import ssim_map

DATA_RANGE = 255.0
WIN_SIZE = 11  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5.


def _check(x, y, mask):
    """Return x, y as float64 and the mask as float64 {0, 1}, after checking dtypes and shapes."""
    if x.dtype != torch.uint8 or y.dtype != torch.uint8:
        # Model-space [-1, 1] floats with data range 255 would give silently wrong values.
        raise TypeError(f"pixel metrics take uint8 images, got {x.dtype} and {y.dtype}")
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"need two [B, C, H, W] tensors of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if mask is not None:
        b, _, h, w = x.shape
        if tuple(mask.shape) != (b, 1, h, w):
            raise ValueError(f"mask must be [{b}, 1, {h}, {w}], got {tuple(mask.shape)}")
        mask = (mask.to(torch.float64) > 0.5).to(torch.float64)
    return x.to(torch.float64), y.to(torch.float64), mask


def psnr(x, y, mask=None) -> torch.Tensor:
    """PSNR in dB, 10 log10(255^2 / MSE), per image [B] float64.

    With a mask, the MSE is taken over the masked pixels only (all channels). Identical images
    (MSE 0) give +inf; an empty mask gives nan.
    """
    x, y, mask = _check(x, y, mask)
    err = (x - y) ** 2
    if mask is None:
        mse = err.mean(dim=(1, 2, 3))
    else:
        mse = (err * mask).sum(dim=(1, 2, 3)) / (mask.sum(dim=(1, 2, 3)) * x.shape[1])
    return 10 * torch.log10(DATA_RANGE**2 / mse)


def ssim(x, y, mask=None) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) per image [B] float64, as skimage's structural_similarity with
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis.

    Without a mask: the mean of the SSIM map over channels and the valid area (pixels at least
    5 px from the border). With a mask: the mean of the map over the valid pixels whose window
    centre lies in the mask. Windows centred near the hole's edge also see up to 5 px outside
    it, so pixels that far from the hole still count. nan if no valid pixel lies in the mask.
    """
    x, y, mask = _check(x, y, mask)
    s, _ = ssim_map(x, y, data_range=DATA_RANGE, win_size=WIN_SIZE)
    if mask is None:
        return s.mean(dim=(1, 2, 3))
    pad = (WIN_SIZE - 1) // 2
    # Map pixel (i, j) is the window centred at image pixel (i + pad, j + pad): crop the mask alike.
    m = mask[:, :, pad : mask.shape[2] - pad, pad : mask.shape[3] - pad]
    return (s * m).sum(dim=(1, 2, 3)) / (m.sum(dim=(1, 2, 3)) * s.shape[1])
