"""Evaluation sets: which images, and the deterministic condition of each.

The condition of evaluation image `index` is a pure function of (protocol, task, evaluation set,
index, seed): its generator is seeded from exactly those, so any run, batch size or number of
processes produces the same conditions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from palette_bench.data.files import BadImageError
from palette_bench.data.sources import open_source
from palette_bench.images import from_uint8
from palette_bench.protocols import Protocol
from palette_bench.seeding import generator_for
from palette_bench.tasks import TRAIN, Degraded, get_task


@dataclass(frozen=True)
class EvalItem:
    """One evaluation input: the original (model space), its label, and its degraded condition."""

    index: int
    image: torch.Tensor
    label: int | None
    degraded: Degraded
    key: str = ""  # the image's name in its source (file name, or builtin split_index)


def condition_generator(protocol: str, task: str, eval_set: str, index: int, seed: int) -> torch.Generator:
    """The generator of one evaluation condition."""
    return generator_for("condition", protocol, task, eval_set, index, seed)


class EvalSet(torch.utils.data.Dataset):
    """The inputs of one evaluation set, indexable for any DataLoader (any batch size, any worker count).

    `positions[k]` is the data set index of the k-th input; it is also the input's evaluation index,
    used in file names and seeds. Colorization leaves grayscale originals out (ctest10k already does).
    With `skip_bad`, an unreadable file yields a BadItem that `collate` sets aside in batch["bad"],
    so skipped files are reported even when workers read them. Without it, indexing raises
    BadImageError, and `iterate` raises it in the main process even when a worker read the file.
    """

    def __init__(self, protocol: Protocol, task: str, eval_set: str, n: int | None = None, root: str | None = None, skip_bad: bool = False):
        # a multi-task model is evaluated on its member's inputs: the member's protocol spec, condition
        # seeds and image selection, so that they are exactly those the task-specific model gets
        self.protocol, self.task, self.eval_set = protocol, get_task(task).for_setting(eval_set), eval_set
        self.task.check_setting(eval_set)
        spec = protocol.eval_set(self.task.name, eval_set)
        data_spec = protocol.dataset
        if eval_set == TRAIN and data_spec.kind == "builtin":
            data_spec = type(data_spec)(**{**data_spec.__dict__, "split": "train"})
        self.source = open_source(data_spec, protocol.image_size, root)
        self.seed, self.skip_bad = spec.seed, skip_bad
        want = min(spec.n if n is None else n, len(self.source))
        self.positions = self._select(want)

    def _select(self, want: int) -> list[int]:
        if self.task.name != "colorization" or self.protocol.dataset.kind == "builtin":
            return list(range(want))
        positions = []
        for i in range(len(self.source)):
            if len(positions) == want:
                break
            try:
                gray = self.source.is_grayscale(i)
            except BadImageError:
                gray = False  # reported when the image itself is read
            if not gray:
                positions.append(i)
        return positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, k: int) -> "EvalItem | BadItem":
        index = self.positions[k]
        try:
            example = self.source[index]
        except BadImageError as e:
            # Raised in a worker, the DataLoader would re-raise it wrapped in a multi-line traceback:
            # the main process raises it instead (see iterate), as the one line it is.
            if not self.skip_bad and torch.utils.data.get_worker_info() is None:
                raise
            return BadItem(index, str(e), skipped=self.skip_bad)
        y0 = from_uint8(example.image)
        g = condition_generator(self.protocol.name, self.task.name, self.eval_set, index, self.seed)
        return EvalItem(index, y0, example.label, self.task.degrade(y0, self.eval_set, g), example.key)


@dataclass(frozen=True)
class BadItem:
    """An unreadable input: its index and the one-line reason; skipped under --skip-bad, else an error to raise."""

    index: int
    message: str
    skipped: bool = True


def collate(items: list) -> dict:
    """Stack a batch of EvalItems into tensors; skipped files go to batch["bad"], errors to batch["errors"]."""
    bad = [it.message for it in items if isinstance(it, BadItem) and it.skipped]
    errors = [it.message for it in items if isinstance(it, BadItem) and not it.skipped]
    items = [it for it in items if isinstance(it, EvalItem)]
    if not items:
        return {"index": torch.zeros(0, dtype=torch.long), "bad": bad, "errors": errors}
    masks = [it.degraded.mask for it in items]
    return {
        "index": torch.tensor([it.index for it in items]),
        "image": torch.stack([it.image for it in items]),
        "label": torch.tensor([-1 if it.label is None else it.label for it in items]),
        "condition": torch.stack([it.degraded.condition for it in items]),
        "mask": None if masks[0] is None else torch.stack(masks),
        "meta": [it.degraded.meta for it in items],
        "key": [it.key for it in items],
        "bad": bad,
        "errors": errors,
    }


def iterate(evalset: EvalSet, batch_size: int = 32, workers: int = 0):
    """Batches of an evaluation set in evaluation-index order (batches may be empty when every file was skipped).

    The first unreadable file (without skip_bad) raises BadImageError here, with or without workers.
    """
    loader = torch.utils.data.DataLoader(evalset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate)
    for batch in loader:
        errors = batch.pop("errors")
        if errors:
            raise BadImageError(errors[0])
        yield batch


class ConditionDigest:
    """sha256 over evaluation conditions in index order: equal digests mean identical conditions."""

    def __init__(self):
        self._h = hashlib.sha256()

    def update(self, batch: dict) -> None:
        if not len(batch["index"]):
            return
        for j, index in enumerate(batch["index"].tolist()):
            self._h.update(index.to_bytes(8, "little"))
            self._h.update(batch["condition"][j].contiguous().numpy().tobytes())
            if batch["mask"] is not None:
                self._h.update(batch["mask"][j].to(torch.uint8).numpy().tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()
