"""Signed-distance functions of the ten object shapes of the builtin data set.

Every function takes local coordinates ``x, y`` (numpy arrays, the object's
own frame) and returns the signed distance to the shape's outline: negative
inside, positive outside, in the same units.  Each shape fits inside the unit
circle, so a renderer can scale it by one radius and bound it by one box.
The distances are exact outside every shape (what antialiasing and the soft
shadow read) and within a small error inside the non-convex ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SDF = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _segment_distance(x, y, ax, ay, bx, by):
    """Distance from the points (x, y) to the segment from (ax, ay) to (bx, by)."""
    ex, ey = bx - ax, by - ay
    t = np.clip(((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return np.hypot(x - ax - t * ex, y - ay - t * ey)


def _box(x, y, half_w, half_h):
    """Axis-aligned rectangle centred on the origin."""
    qx, qy = np.abs(x) - half_w, np.abs(y) - half_h
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _star_polygon(x, y, n: int, inner: float):
    """Polygon with n tips on the unit circle and n inner corners at radius ``inner``.

    The shape has n mirror axes, so folding every point into the wedge between
    a tip (angle 0) and the next inner corner (angle pi/n) leaves one edge to
    measure against; inner = cos(pi/n) gives the regular n-gon.
    """
    wedge = 2 * np.pi / n
    angle = np.mod(np.arctan2(y, x), wedge)
    angle = np.minimum(angle, wedge - angle)
    radius = np.hypot(x, y)
    qx, qy = radius * np.cos(angle), radius * np.sin(angle)
    bx, by = inner * np.cos(np.pi / n), inner * np.sin(np.pi / n)
    dist = _segment_distance(qx, qy, 1.0, 0.0, bx, by)
    # The origin lies on the left of the edge from the tip to the inner corner.
    inside = (bx - 1.0) * qy - by * (qx - 1.0) > 0
    return np.where(inside, -dist, dist)


def _polygon(x, y, vertices: np.ndarray):
    """Any simple polygon: distance to the nearest edge, sign by even-odd crossings."""
    dist = np.full(np.shape(x), np.inf)
    inside = np.zeros(np.shape(x), dtype=bool)
    for (ax, ay), (bx, by) in zip(vertices, np.roll(vertices, -1, axis=0)):
        dist = np.minimum(dist, _segment_distance(x, y, ax, ay, bx, by))
        if ay != by:  # a horizontal edge never crosses a horizontal ray
            crosses = ((ay > y) != (by > y)) & (x < ax + (y - ay) * (bx - ax) / (by - ay))
            inside ^= crosses
    return np.where(inside, -dist, dist)


def disk(x, y):
    """Filled circle."""
    return np.hypot(x, y) - 1.0


def ring(x, y):
    """Annulus, hole radius 0.44: unlike the disk, background shows through."""
    return np.abs(np.hypot(x, y) - 0.72) - 0.28


def square(x, y):
    """Square with corners on the unit circle."""
    return _star_polygon(x, y, 4, np.cos(np.pi / 4))


def triangle(x, y):
    """Equilateral triangle."""
    return _star_polygon(x, y, 3, np.cos(np.pi / 3))


def hexagon(x, y):
    """Regular hexagon."""
    return _star_polygon(x, y, 6, np.cos(np.pi / 6))


def star(x, y):
    """Five-pointed star with deep notches so it stays unlike the hexagon when small."""
    return _star_polygon(x, y, 5, 0.45)


def cross(x, y):
    """Plus sign: union of two bars."""
    return np.minimum(_box(x, y, 0.95, 0.3), _box(x, y, 0.3, 0.95))


def crescent(x, y):
    """Unit disk minus a disk of radius 0.85 centred at (0.5, 0)."""
    # max(outer, -cut) would overestimate the shape near its sharp tips, so
    # measure to each arc where the point projects onto it, else to the tips.
    # Both circles meet at x = tip_x, and a point on either circle belongs to
    # the outline exactly when its x is below tip_x.
    cut_c, cut_r = 0.5, 0.85
    tip_x = (1.0 - cut_r**2 + cut_c**2) / (2 * cut_c)
    tip_y = np.sqrt(1.0 - tip_x**2)
    r_out = np.maximum(np.hypot(x, y), 1e-12)
    r_cut = np.maximum(np.hypot(x - cut_c, y), 1e-12)
    to_outer = np.where(x / r_out < tip_x, np.abs(r_out - 1.0), np.inf)
    to_inner = np.where(cut_c + cut_r * (x - cut_c) / r_cut < tip_x, np.abs(r_cut - cut_r), np.inf)
    to_tips = np.hypot(x - tip_x, np.abs(y) - tip_y)
    dist = np.minimum(np.minimum(to_outer, to_inner), to_tips)
    return np.where((r_out < 1.0) & (r_cut > cut_r), -dist, dist)


_ARROW = np.array(
    [(1.0, 0.0), (0.25, 0.62), (0.25, 0.2), (-0.95, 0.2), (-0.95, -0.2), (0.25, -0.2), (0.25, -0.62)]
)


def arrow(x, y):
    """Arrow: a bar with a triangular head."""
    return _polygon(x, y, _ARROW)


def heart(x, y):
    """Heart: a square standing on its corner with a half-disk on each upper edge."""
    h, drop = 0.52, 0.076  # half side and downward shift that centre it in the unit circle
    y = y + drop
    u, v = (x + y) / np.sqrt(2), (y - x) / np.sqrt(2)  # the square's own axes
    lobe = h / np.sqrt(2)  # the upper edges' midpoints sit at (+-lobe, lobe)
    lobes = np.hypot(np.abs(x) - lobe, y - lobe) - h
    return np.minimum(_box(u, v, h, h), lobes)


SHAPES: dict[str, SDF] = {
    "disk": disk,
    "ring": ring,
    "square": square,
    "triangle": triangle,
    "hexagon": hexagon,
    "star": star,
    "cross": cross,
    "crescent": crescent,
    "arrow": arrow,
    "heart": heart,
}
