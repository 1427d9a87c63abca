"""Image sources behind one interface: `len(source)` and `source[i] -> Example` at the protocol's size."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from palette_bench.data import labels as L
from palette_bench.data.files import BadImageError, center_square, is_grayscale_file, list_images, open_rgb, read_file_list
from palette_bench.protocols import DataSpec


@dataclass(frozen=True)
class Example:
    """Image `index` of a source: uint8 [3, S, S], its class label (None when unknown) and its file name."""

    index: int
    image: torch.Tensor
    label: int | None
    key: str


class BuiltinImages:
    """The procedural builtin data set (palette_bench.data.builtin), rendered on demand."""

    def __init__(self, split: str, n: int, size: int, seed: int = 0):
        from palette_bench.data.builtin import SPLITS

        if split not in SPLITS:
            raise ValueError(f"builtin data set has no split '{split}' (choose from {', '.join(SPLITS)})")
        self.split, self.n, self.size, self.seed = split, n, size, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Example:
        from palette_bench.data.builtin import render

        if not 0 <= i < self.n:
            raise IndexError(i)
        array, label = render(self.split, i, self.size, self.seed)
        return Example(i, torch.from_numpy(array).permute(2, 0, 1).contiguous(), label, f"{self.split}_{i:06d}")

    def is_grayscale(self, i: int) -> bool:
        return False


class FileImages:
    """Images listed in a file list (or every image below `root`), labelled by folder, devkit or label file."""

    def __init__(self, root: str | os.PathLike, names: list[str], size: int, labels: str = "none"):
        self.root, self.size = Path(root), size
        self.paths = self._resolve(names)
        self.labels = self._labels(labels)

    def _resolve(self, names: list[str]) -> list[Path]:
        """Names may be paths relative to root or bare file names inside class subfolders (ctest10k's form)."""
        paths, index = [], None
        for name in names:
            p = self.root / name
            if not p.exists() and "/" not in name:
                if index is None:
                    index = {Path(r).name: self.root / r for r in list_images(self.root)}
                p = index.get(name, p)
            paths.append(p)
        return paths

    def _labels(self, how: str) -> list[int | None]:
        none = [None] * len(self.paths)
        if how == "none":
            return none
        in_folders = all(L.is_wnid(p.parent.name) for p in self.paths)
        if how == "folders" or (how == "auto" and in_folders):
            if not in_folders:
                bad = next(p for p in self.paths if not L.is_wnid(p.parent.name))
                raise ValueError(f"{bad}: labels = 'folders' but the parent folder is not a WordNet id")
            return [L.synset_index(p.parent.name) for p in self.paths]
        if how in ("devkit", "auto"):
            devkit = L.find_devkit(self.root)
            if devkit is None:
                if how == "auto":
                    return none
                raise FileNotFoundError(f"{self.root}: no ImageNet devkit ({L.GROUND_TRUTH} and meta.mat) in or beside this folder")
            by_number = L.devkit_labels(devkit)
            return [by_number.get(L.val_number(p.name)) for p in self.paths]
        by_name = L.read_label_file(self.root / how)
        return [by_name.get(p.name) for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Example:
        path = self.paths[i]
        return Example(i, center_square(open_rgb(path), self.size), self.labels[i], path.name)

    def is_grayscale(self, i: int) -> bool:
        return is_grayscale_file(self.paths[i])


def resolve_root(spec: DataSpec, root: str | None = None) -> Path:
    """The image folder: --root, else the protocol's root, else the environment variable it names."""
    chosen = root or os.path.expandvars(spec.root) if (root or spec.root) else os.environ.get(spec.root_env, "")
    if not chosen:
        raise FileNotFoundError(f"no image folder given: pass --root DIR or set {spec.root_env or 'root in the protocol'}")
    return Path(chosen).expanduser()


def open_source(spec: DataSpec, size: int, root: str | None = None) -> BuiltinImages | FileImages:
    """The images a DataSpec names, at `size` pixels."""
    if spec.kind == "builtin":
        return BuiltinImages(spec.split, spec.n, size, spec.seed)
    base = resolve_root(spec, root)
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: image folder not found")
    if spec.file_list:
        list_path = Path(spec.file_list) if os.path.isabs(spec.file_list) else base / spec.file_list
        names = read_file_list(list_path)
    else:
        names = list_images(base)
    if spec.n:
        names = names[: spec.n]
    return FileImages(base, names, size, spec.labels)


__all__ = ["BadImageError", "BuiltinImages", "Example", "FileImages", "open_source", "resolve_root"]
