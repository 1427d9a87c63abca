"""Mask generators for inpainting and uncropping. A mask is a bool [H, W] tensor, True = to generate.

Geometry is drawn in units of the image side so that the same draw gives the same shape, and the
same coverage statistics, at 32, 64 and 256 pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from palette_bench.seeding import normal, randint, uniform


def coverage(mask: torch.Tensor) -> float:
    """Fraction of pixels to generate."""
    return float(mask.float().mean())


def _paint_capsule(mask: np.ndarray, p0, p1, radius: float) -> None:
    """Set pixels whose centre lies within `radius` of the segment p0-p1 (a line with round caps).

    Equivalent to the line plus end-circle strokes that DeepFillv2 draws with PIL, but evaluated at
    pixel centres in continuous coordinates, so it does not depend on integer brush widths.
    """
    size = mask.shape[0]
    (x0, y0), (x1, y1) = p0, p1
    c0 = max(int(math.floor(min(x0, x1) - radius)), 0)
    c1 = min(int(math.ceil(max(x0, x1) + radius)) + 1, size)
    r0 = max(int(math.floor(min(y0, y1) - radius)), 0)
    r1 = min(int(math.ceil(max(y0, y1) + radius)) + 1, size)
    if c0 >= c1 or r0 >= r1:
        return
    ys, xs = np.mgrid[r0:r1, c0:c1].astype(np.float64) + 0.5
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = np.zeros_like(xs) if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
    dist2 = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2
    mask[r0:r1, c0:c1] |= dist2 <= radius * radius


def free_form(size: int, g: torch.Generator) -> torch.Tensor:
    """Free-form brush strokes of DeepFillv2 (Yu et al. 2019, Algorithm 1, as in its released generator).

    The released generator is written for 256x256: 1-3 strokes of 4-11 vertices, turning angles
    around 2*pi/5, segment lengths ~ N(r, r/2) clipped to [0, 2r] with r = diagonal / 8, brush
    widths 12-40 px, random flips. Widths scale with size/256 and lengths with the diagonal.
    """
    mask = np.zeros((size, size), dtype=bool)
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    average_radius = math.sqrt(2) * size / 8
    for _ in range(randint(g, 1, 3)):
        num_vertex = randint(g, 4, 11)
        angle_min = mean_angle - uniform(g, 0, angle_range)
        angle_max = mean_angle + uniform(g, 0, angle_range)
        vertices = [(uniform(g, 0, size), uniform(g, 0, size))]
        for i in range(num_vertex):
            angle = uniform(g, angle_min, angle_max)
            if i % 2 == 0:  # alternate turning direction so strokes zig-zag instead of circling
                angle = 2 * math.pi - angle
            length = min(max(normal(g, average_radius, average_radius / 2), 0.0), 2 * average_radius)
            x, y = vertices[-1]
            vertices.append((min(max(x + length * math.cos(angle), 0.0), size), min(max(y + length * math.sin(angle), 0.0), size)))
        radius = uniform(g, 12, 40) * size / 256 / 2
        for p0, p1 in zip(vertices[:-1], vertices[1:]):
            _paint_capsule(mask, p0, p1, radius)
    out = torch.from_numpy(mask)
    if uniform(g) < 0.5:
        out = out.flip(1)
    if uniform(g) < 0.5:
        out = out.flip(0)
    return out


def free_form_in_bin(size: int, g: torch.Generator, low: float, high: float, max_tries: int = 10_000) -> torch.Tensor:
    """A free-form mask whose coverage lies in [low, high), by rejection (Palette's ff10-20/20-30/30-40 sets)."""
    for _ in range(max_tries):
        mask = free_form(size, g)
        if low <= coverage(mask) < high:
            return mask
    raise RuntimeError(f"no free-form mask with coverage in [{low}, {high}) after {max_tries} draws at size {size}")


def boxes(size: int, g: torch.Generator, low: float = 0.10, high: float = 0.40, max_tries: int = 10_000) -> torch.Tensor:
    """1-5 axis-aligned rectangles whose union covers between `low` and `high` of the image (Palette's training boxes)."""
    for _ in range(max_tries):
        mask = torch.zeros(size, size, dtype=torch.bool)
        for _ in range(randint(g, 1, 5)):
            h = max(1, round(uniform(g, 0.1, 0.6) * size))
            w = max(1, round(uniform(g, 0.1, 0.6) * size))
            top, left = randint(g, 0, size - h), randint(g, 0, size - w)
            mask[top : top + h, left : left + w] = True
        if low <= coverage(mask) <= high:
            return mask
    raise RuntimeError(f"no box mask with coverage in [{low}, {high}] after {max_tries} draws at size {size}")


def center(size: int) -> torch.Tensor:
    """The centred square of half the side (128x128 at 256): coverage 0.25."""
    mask = torch.zeros(size, size, dtype=torch.bool)
    side = size // 2
    start = (size - side) // 2
    mask[start : start + side, start : start + side] = True
    return mask


SIDES = ("left", "right", "top", "bottom", "frame")


def uncrop(size: int, side: str) -> torch.Tensor:
    """Half of the image masked along one side, or a border frame of half the area (Palette's uncropping).

    At odd sizes a half cannot be exact; the masked part is floor(size / 2) rows or columns. The
    frame keeps a centred h x w window with h*w as close as possible to size^2 / 2.
    """
    mask = torch.zeros(size, size, dtype=torch.bool)
    half = size // 2
    if side == "left":
        mask[:, :half] = True
    elif side == "right":
        mask[:, size - half :] = True
    elif side == "top":
        mask[:half, :] = True
    elif side == "bottom":
        mask[size - half :, :] = True
    elif side == "frame":
        target = size * size / 2
        h = math.floor(math.sqrt(target))
        w = min((h, h + 1), key=lambda w: abs(h * w - target))
        mask[:] = True
        top, left = (size - h) // 2, (size - w) // 2
        mask[top : top + h, left : left + w] = False
    else:
        raise ValueError(f"unknown uncropping side '{side}' (choose from {', '.join(SIDES)})")
    return mask
