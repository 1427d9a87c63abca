"""ImageNet labels as indices into the sorted list of the 1000 synsets (torchvision's and timm's order)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_DIRS = ("ILSVRC2012_devkit_t12/data", "devkit/data", "data", ".")
_VAL_NUMBER = re.compile(r"ILSVRC2012_val_(\d{8})")
_WNID = re.compile(r"^n\d{8}$")


@lru_cache(maxsize=1)
def synsets() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet ids in sorted order (shipped inside timm, so no download)."""
    from timm.data import ImageNetInfo

    return tuple(ImageNetInfo().label_names())


def synset_index(wnid: str) -> int:
    return synsets().index(wnid)


def is_wnid(name: str) -> bool:
    return bool(_WNID.match(name))


def find_devkit(root: Path) -> Path | None:
    """The devkit data folder holding the validation ground truth, searched in and beside `root`."""
    for base in (root, root.parent):
        for sub in DEVKIT_DIRS:
            if (base / sub / GROUND_TRUTH).is_file() and (base / sub / "meta.mat").is_file():
                return base / sub
    return None


def devkit_labels(devkit: Path) -> dict[int, int]:
    """Validation image number (1-based, from the file name) -> sorted-synset index, from the devkit's ground truth and meta.mat.

    The ground truth file holds ILSVRC2012 ids, whose order differs from the sorted synsets;
    meta.mat maps each id to its WordNet id.
    """
    from scipy.io import loadmat

    meta = loadmat(devkit / "meta.mat", squeeze_me=True)["synsets"]
    id_to_wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in meta if int(s["num_children"]) == 0}
    lines = (devkit / GROUND_TRUTH).read_text().split()
    return {k + 1: synset_index(id_to_wnid[int(v)]) for k, v in enumerate(lines)}


def val_number(name: str) -> int | None:
    """The number in an ILSVRC2012_val_XXXXXXXX file name."""
    m = _VAL_NUMBER.search(name)
    return int(m.group(1)) if m else None


def read_label_file(path: Path) -> dict[str, int]:
    """A "name label" file (Places365's places365_val.txt, or a user's own): file name -> integer label."""
    labels = {}
    for k, line in enumerate(path.read_text().splitlines()):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2 or not parts[-1].lstrip("-").isdigit():
            raise ValueError(f"{path}:{k + 1}: expected 'name label', got {line!r}")
        labels[Path(parts[0]).name] = int(parts[-1])
    return labels
