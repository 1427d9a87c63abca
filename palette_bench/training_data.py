"""Training batches: example j of step s is a pure function of (seed, s, j), whatever the process count.

The image, its degradation (mask, JPEG quality, noise in the hole), the noise level gamma and the
noise eps of every training example are drawn from generators keyed by (seed, step, j). A process
of a `torchrun` job takes its contiguous share of j, so a global batch split over N processes holds
exactly the examples of the single-process batch, and training resumes mid-run without replaying
any data loader state.
"""

from __future__ import annotations

import torch

from palette_bench.data.sources import open_source
from palette_bench.images import from_uint8
from palette_bench.protocols import DataSpec, Protocol
from palette_bench.seeding import generator_for, stable_seed
from palette_bench.tasks import TRAIN, get_task


def training_spec(protocol: Protocol) -> DataSpec:
    """The training images of a protocol: the builtin train split, or the protocol's [train] data set."""
    if protocol.train is not None:
        return protocol.train
    if protocol.dataset.kind == "builtin":
        return DataSpec(kind="builtin", split="train", seed=protocol.dataset.seed, n=100_000)
    raise ValueError(f"{protocol.path}: protocol '{protocol.name}' names no [train] data set to train on")


class TrainingBatches(torch.utils.data.IterableDataset):
    """Yields this process's part of each global batch, from `start_step` on: dicts of y0, condition, mask, index."""

    def __init__(self, protocol: Protocol, task: str, seed: int, global_batch: int, start_step: int, steps: int, rank: int = 0, world: int = 1, root=None):
        if global_batch % world:
            raise ValueError(f"train.batch_size {global_batch} does not split evenly over {world} processes")
        self.protocol, self.task, self.seed = protocol, get_task(task), seed
        self.source = open_source(training_spec(protocol), protocol.image_size, root)
        self.local = global_batch // world
        self.first_j = rank * self.local
        self.start_step, self.steps = start_step, steps

    def example(self, step: int, j: int) -> dict:
        index = stable_seed("train-image", self.seed, step, j) % len(self.source)
        y0 = from_uint8(self.source[index].image)
        d = self.task.degrade(y0, TRAIN, generator_for("train-degrade", self.protocol.name, self.task.name, self.seed, step, j))
        return {"y0": y0, "condition": d.condition, "mask": d.mask}

    def batch(self, step: int) -> dict:
        examples = [self.example(step, j) for j in range(self.first_j, self.first_j + self.local)]
        out = {k: torch.stack([e[k] for e in examples]) for k in ("y0", "condition")}
        out["mask"] = None if examples[0]["mask"] is None else torch.stack([e["mask"] for e in examples])
        out["step"] = step
        out["j"] = list(range(self.first_j, self.first_j + self.local))
        return out

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for step in range(self.start_step + wid, self.steps, nw):
            yield self.batch(step)


def loader(dataset: TrainingBatches, workers: int):
    """Batches in step order; with several workers each renders every workers-th step, interleaved back in order."""
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=_identity)


def _identity(batch):
    return batch
