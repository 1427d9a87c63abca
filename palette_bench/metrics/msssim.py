"""SSIM maps (Wang et al. 2004) and multi-scale SSIM (Wang, Simoncelli & Bovik 2003) in torch.

Written by hand because none of the project's core libraries (torch-fidelity, clean-fid, lpips,
torchvision, scikit-image) provides MS-SSIM, and scikit-image's SSIM runs per image in numpy.

SSIM: 11x11 Gaussian window (sigma 1.5, the same normalised taps as scipy.ndimage with
scikit-image's truncate=3.5), population statistics, computed on the 'valid' region only. The
mean of this map equals the mean of ``skimage.metrics.structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``: scikit-image filters with
reflect padding and then crops (win_size-1)//2 pixels from every border before averaging, and
the windows centred on the kept pixels never touch the padding.

MS-SSIM, deviations from the 5-scale original, documented:
  * Scales. The original uses M = 5 scales, which needs images of at least 11 * 2**4 = 176 px
    for the coarsest scale to hold one full 11x11 window (pytorch_msssim asserts > 160 px).
    This project also evaluates 32 and 64 px images, so M is the largest number <= 5 for which
    the coarsest scale is still >= win_size px (``ms_ssim_scales``: 32 px -> 2, 64 -> 3,
    128 -> 4, 256 -> 5), and the first M weights are renormalised to sum to 1. Results at
    different M are not comparable with each other; callers report M.
  * Negative terms. cs_j and SSIM_M are clamped at 0 (a relu) before the fractional power, as
    pytorch_msssim and torchmetrics do; otherwise the power of a negative mean is undefined.
  * Colour. Per scale, cs and SSIM are averaged over the channels and the valid area first
    (as scikit-image averages SSIM over channels), then combined across scales.
  * Downsampling: 2x2 average pooling; an odd last row/column is dropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, Sec. 3.


def _gaussian_taps(win_size: int, sigma: float, device) -> torch.Tensor:
    """Normalised 1-D Gaussian taps, as scipy.ndimage builds them (exp(-x^2 / 2 sigma^2) / sum)."""
    r = (win_size - 1) // 2
    x = torch.arange(-r, r + 1, dtype=torch.float64, device=device)
    g = torch.exp(-0.5 / (sigma * sigma) * x * x)
    return g / g.sum()


def _valid_filter_matrix(n: int, taps: torch.Tensor) -> torch.Tensor:
    """[n - k + 1, n] banded matrix whose row i holds the taps at columns i..i+k-1: a 'valid' 1-D filter."""
    k = taps.numel()
    cols = torch.arange(n - k + 1, device=taps.device)[:, None] + torch.arange(k, device=taps.device)
    return torch.zeros(n - k + 1, n, dtype=taps.dtype, device=taps.device).scatter_(1, cols, taps.expand(n - k + 1, k))


def ssim_map(x, y, data_range=255.0, win_size=11, sigma=1.5, k1=0.01, k2=0.03):
    """SSIM and contrast-structure maps (Wang et al. 2004, Eqs. 13 and 9-10 with C3 = C2/2) on the valid region.

    x, y: [B, C, H, W] of any real dtype (computed in float64). Returns (ssim, cs), each
    [B, C, H - win_size + 1, W - win_size + 1].
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim_map needs two [B, C, H, W] tensors of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if win_size % 2 != 1 or min(x.shape[-2:]) < win_size:
        raise ValueError(f"win_size must be odd and fit the image: win_size={win_size}, image {tuple(x.shape[-2:])}")
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    c, h, w = x.shape[1:]
    g = _gaussian_taps(win_size, sigma, x.device)
    # Separable, unpadded ('valid') Gaussian filtering of all five local moments at once, as two
    # banded matrix products: several times faster than a grouped float64 conv2d on CPU.
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    stack = _valid_filter_matrix(h, g) @ stack @ _valid_filter_matrix(w, g).T
    ux, uy, uxx, uyy, uxy = stack.split(c, dim=1)
    # Population (biased) moments, as in the paper and use_sample_covariance=False.
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    cs = (2 * vxy + c2) / (vx + vy + c2)
    luminance = (2 * ux * uy + c1) / (ux * ux + uy * uy + c1)
    return luminance * cs, cs


def ms_ssim_scales(size: int, win_size: int = 11, max_scales: int = 5) -> int:
    """Number of MS-SSIM scales used for images whose smaller side is `size` px (see module docstring)."""
    if size < win_size:
        raise ValueError(
            f"MS-SSIM needs images of at least {win_size} px (one {win_size}x{win_size} SSIM window); got {size} px"
        )
    m = 1
    # Repeated floor-halving equals floor division by 2**(m); keep the coarsest scale >= win_size.
    while m < max_scales and size // 2**m >= win_size:
        m += 1
    return m


def ms_ssim(x, y, data_range=255.0, weights=MS_SSIM_WEIGHTS):
    """Multi-scale SSIM per image (Wang, Simoncelli & Bovik 2003, Eq. 7): prod_j cs_j^w_j * ssim_M^w_M -> [B] float64."""
    m = ms_ssim_scales(min(x.shape[-2:]), max_scales=len(weights))
    w = torch.tensor(weights[:m], dtype=torch.float64, device=x.device)
    w = w / w.sum()
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    terms = []
    for j in range(m):
        if j > 0:
            x = F.avg_pool2d(x, 2)
            y = F.avg_pool2d(y, 2)
        s, cs = ssim_map(x, y, data_range=data_range)
        terms.append((s if j == m - 1 else cs).mean(dim=(1, 2, 3)))
    terms = torch.stack(terms, dim=1).clamp_min(0)  # relu, as pytorch_msssim/torchmetrics
    return torch.prod(terms ** w, dim=1)
