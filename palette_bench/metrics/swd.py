"""Sliced Wasserstein distance between Laplacian-pyramid patch sets (Karras et al. 2018, ProGAN, section 5).

Each image is decomposed into a Laplacian pyramid (5x5 binomial filter, as cv2.pyrDown/pyrUp)
down to 16 px; at every level, 7x7 neighbourhoods are taken at random positions. A level's
descriptor set is normalised per colour channel by its own mean and standard deviation, and the
distance between two sets is the sliced Wasserstein distance: the mean, over random unit
directions, of the 1-D Wasserstein-1 distance between the sorted projections. The level
distances are reported x 1000, and `swd` is their mean. Fine levels see edges, noise and blur;
coarse levels see colour layout. No network is involved, so it runs on every protocol offline.

The set it is measured against is the originals of the evaluated inputs (both sets have as many
images, as in ProGAN), so a paired bootstrap resamples each output together with its original.

Written here because no maintained package computes it (ProGAN's TensorFlow-era numpy script is
the reference; its constants are kept: 7x7 neighbourhoods, 128 per image, 4 x 128 directions,
levels down to 16 px). Random positions and directions come from seeded generators: a position
from the input's evaluation index, so an output's descriptors do not depend on the batch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NHOOD = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS, DIRS_PER_REPEAT = 4, 128
MIN_RESOLUTION = 16
SEED = 2018
# Bootstrap replicates use fewer neighbourhoods and directions, as KID's replicates use fewer subsets:
# at n = 1000 a full SWD is ~2 s on 2 cores, a replicate ~0.03 s (ResampledSWD).
REPLICATE_NHOODS, REPLICATE_DIRS = 16, 64

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64) / 16


def levels(size: int) -> int:
    """How many pyramid levels an image of `size` px has, down to MIN_RESOLUTION (ProGAN's rule)."""
    count = 0
    while size >= MIN_RESOLUTION:
        count, size = count + 1, size // 2
    return max(count, 1)


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """5x5 binomial filter with mirror padding (scipy's 'mirror', cv2's BORDER_REFLECT_101)."""
    c = x.shape[1]
    k = (_BINOMIAL[:, None] * _BINOMIAL[None] * gain).to(x.dtype)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(x, k.expand(c, 1, 5, 5).contiguous(), groups=c)


def laplacian_pyramid(images: torch.Tensor, count: int) -> list[torch.Tensor]:
    """Levels of a Laplacian pyramid of uint8 [B, 3, H, W] images, finest first, in float64 pixel units."""
    pyramid = [images.double()]
    for _ in range(1, count):
        down = _blur(pyramid[-1])[..., ::2, ::2]
        up = torch.zeros_like(pyramid[-1])
        up[..., ::2, ::2] = down
        pyramid[-1] = pyramid[-1] - _blur(up, 4.0)
        pyramid.append(down)
    return pyramid


def descriptors(images: torch.Tensor, indices, nhoods: int = NHOODS_PER_IMAGE, seed: int = SEED) -> np.ndarray:
    """[B, levels, nhoods, 3 * 7 * 7] float32 neighbourhoods of each image, at positions drawn from its evaluation index."""
    size = images.shape[-1]
    pyramid = laplacian_pyramid(images, levels(size))
    h = NHOOD // 2
    out = np.empty((len(images), len(pyramid), nhoods, 3 * NHOOD * NHOOD), np.float32)
    for b, index in enumerate(indices):
        rng = np.random.default_rng([seed, int(index)])
        for lv, level in enumerate(pyramid):
            s = level.shape[-1]
            ys = rng.integers(h, s - h, nhoods)
            xs = rng.integers(h, s - h, nhoods)
            patches = level[b].unfold(1, NHOOD, 1).unfold(2, NHOOD, 1)  # [3, s-6, s-6, 7, 7]
            out[b, lv] = patches[:, ys - h, xs - h].permute(1, 0, 2, 3).reshape(nhoods, -1).numpy()
    return out


def _normalise(desc: np.ndarray) -> np.ndarray:
    """A level's descriptor set, [N, 147], centred and scaled per colour channel over the whole set (ProGAN's finalize)."""
    d = desc.reshape(len(desc), 3, -1).astype(np.float64)
    d = (d - d.mean(axis=(0, 2), keepdims=True)) / (d.std(axis=(0, 2), keepdims=True) + 1e-12)
    return d.reshape(len(desc), -1)


def directions(dim: int, count: int, seed: int = SEED) -> np.ndarray:
    dirs = np.random.default_rng(seed).standard_normal((dim, count))
    return dirs / np.linalg.norm(dirs, axis=0, keepdims=True)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, dirs: np.ndarray) -> float:
    """Mean over directions of the W1 distance between the projections of two equally sized sets."""
    pa = np.sort(a @ dirs, axis=0)
    pb = np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean())


def swd_levels(desc_a: np.ndarray, desc_b: np.ndarray, dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT, seed: int = SEED) -> np.ndarray:
    """SWD x 1000 at every pyramid level between descriptor arrays [N, levels, nhoods, 147] of two image sets."""
    out = []
    for lv in range(desc_a.shape[1]):
        a = _normalise(desc_a[:, lv].reshape(-1, desc_a.shape[-1]))
        b = _normalise(desc_b[:, lv].reshape(-1, desc_b.shape[-1]))
        dirs = directions(a.shape[1], dir_repeats * dirs_per_repeat, seed + lv)
        out.append(1e3 * np.mean([sliced_wasserstein(a, b, d) for d in np.split(dirs, dir_repeats, axis=1)]))
    return np.array(out)


def swd(desc_a: np.ndarray, desc_b: np.ndarray) -> float:
    """The mean over levels of SWD x 1000."""
    return float(swd_levels(desc_a, desc_b).mean())


class ResampledSWD:
    """SWD of resampled (output, original) pairs, on REPLICATE_NHOODS neighbourhoods per image and REPLICATE_DIRS directions.

    Its replicates estimate the spread of the full metric, not its value: the interval is centred
    on the full SWD by bootstrap.percentile_interval, as KID's fewer-subset replicates are.

    A replicate equals swd_levels(a[idx], b[idx], 1, REPLICATE_DIRS) but costs a gather and a sort:
    the per-channel normalisation is affine, so the projection of a normalised descriptor is
    sum_c (x_c . d_c) / s_c - sum_c m_c (sum_j d_cj) / s_c, and the per-image channel projections
    x_c . d_c and channel sums are computed once here; m_c and s_c of a resample come from the sums.
    Projections are kept in float32 (a replicate agrees with swd_levels to ~1e-7 relative), which
    halves the gather and sort.
    """

    def __init__(self, desc_out: np.ndarray, desc_orig: np.ndarray):
        self.sets = [self._prepare(d[:, :, :REPLICATE_NHOODS]) for d in (desc_out, desc_orig)]
        self.dim = desc_out.shape[-1]
        self.levels = desc_out.shape[1]

    def _prepare(self, desc: np.ndarray) -> list[tuple]:
        """Per level: channel projections [3, dirs, N, nhoods], channel sums and sums of squares [N, 3], direction sums [3, dirs]."""
        out = []
        for lv in range(desc.shape[1]):
            x = desc[:, lv].astype(np.float64).reshape(len(desc), desc.shape[2], 3, -1)
            dirs = directions(desc.shape[-1], REPLICATE_DIRS, SEED + lv).reshape(3, -1, REPLICATE_DIRS)
            proj = np.ascontiguousarray(np.einsum("nkcj,cjd->cdnk", x, dirs), dtype=np.float32)
            out.append((proj, x.sum(axis=(1, 3)), (x * x).sum(axis=(1, 3)), dirs.sum(axis=1)))
        return out

    def __call__(self, idx: np.ndarray) -> float:
        out = []
        for lv in range(self.levels):
            # each direction's projections contiguous: sorting along the last axis is several times faster
            pa, pb = (np.sort(self._project(s[lv], idx), axis=1) for s in self.sets)
            out.append(1e3 * np.abs(pa - pb).mean())
        return float(np.mean(out))

    def _project(self, level: tuple, idx: np.ndarray) -> np.ndarray:
        """[dirs, n * nhoods] projections of the resampled set's normalised descriptors."""
        proj, sums, squares, dir_sums = level
        count = len(idx) * proj.shape[-1] * (self.dim // 3)  # values per channel in the resampled set
        mean = sums[idx].sum(axis=0) / count
        std = np.sqrt(np.maximum(squares[idx].sum(axis=0) / count - mean * mean, 0.0)) + 1e-12
        p = (np.take(proj, idx, axis=2) / std[:, None, None, None].astype(np.float32)).sum(axis=0)  # np.take: far faster than fancy indexing here
        return p.reshape(len(p), -1) - ((mean / std) @ dir_sums).astype(np.float32)[:, None]
