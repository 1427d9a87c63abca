"""Background bank of the builtin data set: photographs and textures inside the scikit-image wheel."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

# Only images whose files ship in the scikit-image wheel, so the bank loads
# offline; synthetic or tiny ones (chessboard, horse, logo, ...) are left out.
COLOUR = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "rocket")
GRAY = ("brick", "camera", "cell", "clock", "coins", "grass", "gravel", "moon", "page", "text")
BANK_NAMES = COLOUR + ("motorcycle_left",) + GRAY

MAX_SIDE = 512  # a larger source adds load time and memory but no detail at 256 px


def _load(name: str) -> np.ndarray:
    """One bank image as scikit-image returns it."""
    import skimage.data  # deferred: importing scikit-image is slow and only the bank needs it

    if name == "motorcycle_left":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


@functools.cache
def bank() -> tuple[Image.Image, ...]:
    """The bank as PIL images, mode "RGB" or "L", longest side at most MAX_SIDE; loaded once per process."""
    images = []
    for name in BANK_NAMES:
        image = Image.fromarray(np.ascontiguousarray(_load(name)))
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)  # keeps aspect, only shrinks
        images.append(image)
    return tuple(images)


def background(
    which: int, scale: float, u: float, v: float, flip: bool, tint: np.ndarray, size: int
) -> np.ndarray:
    """A square crop of bank image ``which`` resampled to size x size, float32 RGB in [0, 1].

    ``scale`` is the crop side as a fraction of the image's shorter side, ``u, v``
    in [0, 1] place the crop, and ``tint`` (an RGB multiplier) colours grayscale
    images only.  Everything but ``size`` is in source-image units, so the crop is
    the same scene at every output size.
    """
    image = bank()[which]
    width, height = image.size
    side = scale * min(width, height)
    left, top = u * (width - side), v * (height - side)
    # A float box crops and resamples in one antialiased step, without rounding the crop to whole source pixels.
    crop = image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))
    pixels = np.asarray(crop, dtype=np.float32) / 255.0
    if flip:
        pixels = pixels[:, ::-1]
    if pixels.ndim == 2:
        pixels = pixels[..., None] * tint.astype(np.float32)
    return pixels
