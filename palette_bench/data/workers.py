"""How many DataLoader worker processes input loading may use without oversubscribing the CPUs."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask (taskset, cgroups, SLURM) where the OS has one."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers(cap: int = 4) -> int:
    """Workers beside the main process: the CPUs left after it, shared among torchrun's local processes, at most `cap`.

    Never more than PyTorch's own suggestion (the available CPUs), so the DataLoader does not warn.
    """
    per_process = available_cpus() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(cap, per_process - 1))
