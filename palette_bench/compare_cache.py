"""Where compare.py keeps what it computed: paired comparisons, and each evaluation's bootstrap replicates.

Both live under $PALETTE_BENCH_CACHE (compare/ and replicates/), never in run folders, and are
keyed by content: the sha256 of every file the numbers come from (metrics.json, eval_arrays.npz,
the reference statistics), the settings (metric, replicates, seed) and the source of the code that
computes them. A changed input file or a changed computation is a new key, so an entry is never
stale; entries are written atomically, so an interrupted write leaves none.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from palette_bench.io import atomic_write_json, atomic_write_npz
from palette_bench.metrics.reference import cache_root

# the modules whose code decides a comparison's numbers; of evaluate.py, only KID's subsets per
# replicate count, and key() takes that number rather than the whole file
CODE = ("compare.py", "compare_cache.py", "metrics/bootstrap.py", "metrics/fid.py", "metrics/kid.py", "metrics/inception_score.py", "metrics/resampled_is.py")


@lru_cache(maxsize=None)
def _sha256(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, hashed once per process while its inode, size and change times stay the same."""
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@lru_cache(maxsize=1)
def code_sha256() -> str:
    import palette_bench

    root = Path(palette_bench.__file__).parent
    return hashlib.sha256(b"".join((root / name).read_bytes() for name in CODE)).hexdigest()


def key(material: dict) -> str:
    from palette_bench.evaluate import KID_SUBSETS_PER_REPLICATE

    code = {"code": code_sha256(), "kid_subsets_per_replicate": KID_SUBSETS_PER_REPLICATE}
    return hashlib.sha256(json.dumps({**material, **code}, sort_keys=True).encode()).hexdigest()


def comparison_path(material: dict) -> Path:
    return cache_root() / "compare" / f"{key(material)}.json"


def load_comparison(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or unreadable: computed again
        return None


def save_comparison(path: Path, result: dict) -> None:
    atomic_write_json(path, result)


def replicates_path(material: dict) -> Path:
    return cache_root() / "replicates" / f"{key(material)}.npz"


def load_replicates(path: Path) -> tuple[float, np.ndarray] | None:
    """(full-sample value, replicates so far), or None."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return float(z["value"]), z["replicates"]
    except (OSError, ValueError, KeyError):
        return None


def save_replicates(path: Path, value: float, replicates: np.ndarray) -> None:
    atomic_write_npz(path, value=np.float64(value), replicates=np.asarray(replicates, np.float64))
