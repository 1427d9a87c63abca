"""torch.distributed, as `torchrun` sets it up: NCCL on GPUs, gloo on CPU; a plain single process otherwise."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init() -> torch.device:
    """Join the process group when launched by torchrun (WORLD_SIZE set) and return this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shard(items: list, r: int | None = None, w: int | None = None) -> list:
    """This process's share of `items`: every world_size-th item from position rank (by evaluation index, not batch)."""
    r = rank() if r is None else r
    w = world_size() if w is None else w
    return items[r::w]


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        value = value.clone()
        dist.all_reduce(value)
        value /= world_size()
    return value


def all_gather_stacked(value: torch.Tensor) -> torch.Tensor:
    """[world_size, *value.shape]: every process's `value`, in rank order (one row in a single process)."""
    if not dist.is_initialized():
        return value.unsqueeze(0)
    rows = [torch.empty_like(value) for _ in range(world_size())]
    dist.all_gather(rows, value.contiguous())
    return torch.stack(rows)
