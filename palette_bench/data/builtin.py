"""The builtin data set: procedural labelled RGB images that need no download.

Image ``index`` of a split shows one object of one of ten shape classes over a
crop of a natural photograph or texture from scikit-image.  Each class has its
own hue range, so colour carries class information as in natural images, and
the shape carries it too.  The scene is a function of (split, index, seed)
alone and ``size`` only sets the pixel grid: objects are analytic signed
distance functions sampled at pixel centres with a one-pixel antialiasing
ramp, so a 32 px image looks like a downscaled 256 px one.  The label is drawn
uniformly from the image's own random stream, so classes are balanced in
expectation rather than exactly.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass

import numpy as np

from palette_bench.data import backgrounds
from palette_bench.data.shapes import SHAPES

CLASS_NAMES: tuple[str, ...] = tuple(SHAPES)
SPLITS = ("train", "test")
MIN_SIZE, MAX_SIZE = 32, 256

HUE_HALF_WIDTH = 0.035  # class k draws its hue from k/10 +- this, so hue alone separates classes
OUTLINE = 0.07  # outline width as a fraction of the object radius
OUTLINE_SHADE = 0.45  # outline brightness relative to the fill
SECOND_TONE = 0.65  # brightness of the pattern's darker bands relative to the fill
LIGHTING = 0.25  # the lighting gradient changes brightness by +- this across the object


@dataclass(frozen=True)
class Scene:
    """Everything drawn from an image's random stream; no field depends on the pixel size."""

    label: int
    radius: float  # circumscribed radius, fraction of the image side
    angle: float
    centre: tuple[float, float]  # (x, y) in [0, 1], y downwards
    colour: np.ndarray  # RGB of the fill before shading
    light: tuple[float, float]  # unit direction, in the object's frame, of the brightening
    pattern: int  # 0 plain, 1 parallel stripes, 2 concentric bands
    pattern_angle: float
    pattern_period: float  # in object radii
    shadow_offset: tuple[float, float]  # in image sides
    shadow_strength: float
    shadow_blur: float  # width of the shadow's edge, in image sides
    background: int
    crop: tuple[float, float, float]  # scale, u, v as backgrounds.background takes them
    flip: bool
    tint: np.ndarray  # RGB multiplier for grayscale backgrounds


def _rng(split: str, index: int, seed: int) -> np.random.Generator:
    """The image's own random stream, from a hash that is stable across processes and platforms."""
    digest = hashlib.sha256(f"builtin/{split}/{index}/{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _scene(rng: np.random.Generator) -> Scene:
    """Draw a scene; every value is always drawn, in a fixed order, so the stream is easy to follow."""
    label = int(rng.integers(len(CLASS_NAMES)))
    radius = rng.uniform(0.22, 0.42)
    angle = rng.uniform(0.0, 2 * np.pi)
    # The centre keeps 80% of the circumscribed radius inside the frame: the object may touch the border but stays mostly visible.
    centre = tuple(rng.uniform(0.8 * radius, 1.0 - 0.8 * radius, size=2))
    hue = (label / len(CLASS_NAMES) + rng.uniform(-HUE_HALF_WIDTH, HUE_HALF_WIDTH)) % 1.0
    colour = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.55, 1.0), rng.uniform(0.55, 1.0)))
    light_angle = rng.uniform(0.0, 2 * np.pi)
    pattern = int(rng.integers(3))
    pattern_angle = rng.uniform(0.0, np.pi)
    pattern_period = rng.uniform(0.15, 0.35)
    shadow_angle = rng.uniform(0.0, 2 * np.pi)
    shadow_distance = rng.uniform(0.015, 0.05)
    shadow_strength = rng.uniform(0.25, 0.6)
    which = int(rng.integers(len(backgrounds.BANK_NAMES)))
    crop = (rng.uniform(0.3, 1.0), rng.uniform(), rng.uniform())
    flip = bool(rng.integers(2))
    # Low saturation keeps tinted gray backgrounds from competing with the object's class colour.
    tint = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.3), 1.0))
    return Scene(
        label=label,
        radius=radius,
        angle=angle,
        centre=centre,
        colour=colour,
        light=(np.cos(light_angle), np.sin(light_angle)),
        pattern=pattern,
        pattern_angle=pattern_angle,
        pattern_period=pattern_period,
        shadow_offset=(shadow_distance * np.cos(shadow_angle), shadow_distance * np.sin(shadow_angle)),
        shadow_strength=shadow_strength,
        shadow_blur=0.03,
        background=which,
        crop=crop,
        flip=flip,
        tint=tint,
    )


def _coverage(distance: np.ndarray, width: float) -> np.ndarray:
    """Area fraction inside a boundary, from signed distance, with a linear ramp ``width`` wide."""
    return np.clip(0.5 - distance / width, 0.0, 1.0)


def _draw_object(image: np.ndarray, scene: Scene) -> None:
    """Composite the shadow and the shaded, outlined, patterned object onto ``image`` in place."""
    size = image.shape[0]
    pixel = 1.0 / size
    sdf = SHAPES[CLASS_NAMES[scene.label]]
    cx, cy = scene.centre
    sx, sy = scene.shadow_offset
    # Only the box around the object and its shadow can change; skipping the rest keeps 256 px cheap.
    reach = scene.radius + max(abs(sx), abs(sy)) + scene.shadow_blur + pixel
    x0, x1 = max(0, int((cx - reach) * size)), min(size, int(np.ceil((cx + reach) * size)))
    y0, y1 = max(0, int((cy - reach) * size)), min(size, int(np.ceil((cy + reach) * size)))
    if x0 >= x1 or y0 >= y1:
        return
    xs = (np.arange(x0, x1) + 0.5) * pixel - cx  # pixel centres relative to the object
    ys = (np.arange(y0, y1) + 0.5) * pixel - cy
    cos, sin = np.cos(scene.angle), np.sin(scene.angle)

    def local(dx, dy):
        """Rotate and scale image offsets into the shape's unit frame."""
        return (cos * dx + sin * dy) / scene.radius, (cos * dy - sin * dx) / scene.radius

    region = image[y0:y1, x0:x1]
    shadow = sdf(*local(xs[None, :] - sx, ys[:, None] - sy)) * scene.radius
    region *= 1.0 - scene.shadow_strength * _coverage(shadow, max(scene.shadow_blur, pixel))[..., None]

    lx, ly = local(xs[None, :], ys[:, None])
    distance = sdf(lx, ly) * scene.radius  # back to image units, where the pixel size is known
    alpha = _coverage(distance, pixel)
    shade = 1.0 + LIGHTING * (lx * scene.light[0] + ly * scene.light[1])
    # A darker band just inside the outline; at small sizes it blends into the edge pixels as a downscale would.
    shade *= OUTLINE_SHADE + (1.0 - OUTLINE_SHADE) * _coverage(distance + OUTLINE * scene.radius, pixel)
    if scene.pattern:
        if scene.pattern == 1:
            u = lx * np.cos(scene.pattern_angle) + ly * np.sin(scene.pattern_angle)
        else:
            u = np.hypot(lx, ly)
        # Signed distance to the nearest dark band, each half a period wide, antialiased like the outline.
        band = (np.abs(np.mod(u / scene.pattern_period, 1.0) - 0.5) - 0.25) * scene.pattern_period
        shade *= 1.0 - (1.0 - SECOND_TONE) * _coverage(band * scene.radius, pixel)
    # Capping the brightening at full value scales all channels together, so the hue stays the class hue.
    shade = np.minimum(shade, 1.0 / scene.colour.max())
    fill = shade[..., None] * scene.colour.astype(np.float32)
    region += alpha[..., None] * (fill - region)


def render(split: str, index: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, int]:
    """Image `index` of `split`: (uint8 array of shape (size, size, 3), class label in 0..9)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be in [{MIN_SIZE}, {MAX_SIZE}], got {size}")
    if index < 0:
        raise ValueError(f"index must be non-negative, got {index}")
    scene = _scene(_rng(split, int(index), int(seed)))
    image = backgrounds.background(scene.background, *scene.crop, scene.flip, scene.tint, size).copy()
    _draw_object(image, scene)
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8), scene.label
