"""Reading image files: one clear error per bad file, and the protocol's crop and resize."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class BadImageError(ValueError):
    """An image file that is missing, empty, truncated or not an image."""


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode `path` fully and convert it to RGB (CMYK, grayscale and palette files included)."""
    path = Path(path)
    if not path.is_file():
        raise BadImageError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: file is empty (0 bytes)")
    try:
        with Image.open(path) as img:
            img.load()  # decode now: a truncated file fails here, not later inside a batch
            return img.convert("RGB")
    except UnidentifiedImageError:
        raise BadImageError(f"{path}: not a readable image file") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImageError(f"{path}: cannot decode image ({e})") from None


def is_grayscale_file(path: str | os.PathLike) -> bool:
    """Whether the file stores one luminance channel (read from the header only)."""
    try:
        with Image.open(path) as img:
            return img.mode in ("1", "L", "LA", "I", "I;16", "F")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise BadImageError(f"{path}: not a readable image file ({e})") from None


def center_square(img: Image.Image, size: int) -> torch.Tensor:
    """Largest centred square crop resized to `size` (PIL bicubic, which antialiases when shrinking) -> uint8 [3, S, S]."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


def list_images(root: str | os.PathLike) -> list[str]:
    """Every image file below `root`, as sorted paths relative to it."""
    root = Path(root)
    found = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(found)


def read_file_list(path: str | os.PathLike) -> list[str]:
    """A file list: one relative path (or bare file name) per line; blank lines and '#' comments ignored.

    Extra whitespace-separated columns (such as a label) are ignored here.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file list not found")
    names = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line.split()[0])
    if not names:
        raise ValueError(f"{path}: file list is empty")
    return names
