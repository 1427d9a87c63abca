"""A method's outputs on disk: `{index:06d}.png` per evaluation input, `{index:06d}_{k}.png` for extra samples k >= 1."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from palette_bench.data.files import open_rgb

_NAME = re.compile(r"^(\d+)(?:_(\d+))?\.png$")


def sample_filename(index: int, k: int = 0) -> str:
    """File name of sample k of evaluation input `index` (k = 0 is the output that FID, CA, PD... use)."""
    return f"{index:06d}.png" if k == 0 else f"{index:06d}_{k}.png"


class Predictions:
    """The outputs of one method on one evaluation set, checked against the set before anything is computed."""

    def __init__(self, folder: str | Path, indices: list[int], size: int):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: predictions folder not found")
        found: dict[int, set[int]] = {}
        for p in sorted(self.folder.iterdir()):
            if p.name.startswith(".") or p.is_dir():
                continue
            m = _NAME.match(p.name)
            if not m:
                raise ValueError(f"{p}: unexpected file in the predictions folder (expected names like {sample_filename(indices[0] if indices else 0)} or {sample_filename(indices[0] if indices else 0, 1)})")
            found.setdefault(int(m.group(1)), set()).add(int(m.group(2) or 0))
        wanted = set(indices)
        for index in sorted(set(found) - wanted):
            raise ValueError(f"{self.folder / sample_filename(index)}: extra file, index {index} is not in this evaluation set")
        for index in indices:
            if 0 not in found.get(index, set()):
                raise ValueError(f"{self.folder / sample_filename(index)}: missing output for evaluation index {index}")
        # Samples per input: an input has either sample 0 only, or the same samples 0..K-1 as every other
        # input with more than one (a preset may draw K samples for the first inputs only, for diversity).
        self.samples = max(len(found[i]) for i in indices) if indices else 1
        for index in indices:
            if len(found[index]) == 1:
                continue
            for k in range(self.samples):
                if k not in found[index]:
                    raise ValueError(f"{self.folder / sample_filename(index, k)}: missing sample {k} (other inputs have {self.samples} samples)")
            if len(found[index]) != self.samples:
                extra = max(found[index])
                raise ValueError(f"{self.folder / sample_filename(index, extra)}: unexpected sample {extra} (samples must be numbered 0..{self.samples - 1})")
        # the inputs with all K samples, in evaluation order: the diversity metrics use these
        self.diverse = [i for i in indices if len(found[i]) == self.samples] if self.samples > 1 else []
        self.indices, self.size = list(indices), size

    def _open(self, index: int, k: int):
        path = self.folder / sample_filename(index, k)
        rgb = open_rgb(path)  # BadImageError for an empty, truncated or undecodable file
        if rgb.size != (self.size, self.size):
            raise ValueError(f"{path}: image is {rgb.size[0]}x{rgb.size[1]}, the protocol needs {self.size}x{self.size}")
        return rgb

    def load(self, index: int, k: int = 0) -> torch.Tensor:
        """uint8 [3, S, S] of one output; a wrongly sized or unreadable file is an error naming it."""
        return torch.from_numpy(np.asarray(self._open(index, k)).copy()).permute(2, 0, 1)

    def validate(self, progress: bool = True) -> None:
        """Decode every file, extra samples included, and check its size: a bad file stops an evaluation before it spends anything."""
        diverse = set(self.diverse)
        files = [(index, k) for index in self.indices for k in range(self.samples if index in diverse else 1)]
        for index, k in tqdm(files, desc="checking outputs", unit="file", disable=None if progress else True):
            self._open(index, k)

    def batch(self, indices: list[int], k: int = 0) -> torch.Tensor:
        return torch.stack([self.load(i, k) for i in indices])
