"""Reference-set features for FID/KID (and originals for PD), computed once and cached under a key that cannot go stale.

The key is a sha256 of: the reference set's fingerprint (every file's relative path, size and
modification time, or for the builtin set the source code of its renderer and its split, seed and
count), the image size, the preprocessing, and the extractor with its weights' sha256. Change any
of these and a new entry is computed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from palette_bench.data.sources import BuiltinImages
from palette_bench.io import atomic_write_npz

PREPROCESSING = "largest centred square, PIL bicubic resize (antialiased), uint8"


def cache_root() -> Path:
    return Path(os.environ.get("PALETTE_BENCH_CACHE", Path.home() / ".cache" / "palette_bench"))


def fingerprint(source) -> dict:
    """What identifies the reference images' content."""
    if isinstance(source, BuiltinImages):
        from palette_bench.data import backgrounds, builtin, shapes

        code = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in (builtin, shapes, backgrounds))).hexdigest()
        return {"kind": "builtin", "split": source.split, "seed": source.seed, "n": len(source), "renderer_sha256": code}
    h = hashlib.sha256()
    for path in source.paths:
        st = path.stat()  # a missing reference file is an error here, naming it
        h.update(f"{path.relative_to(source.root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return {"kind": "files", "n": len(source.paths), "files_sha256": h.hexdigest()}


def cache_key(source, size: int, extractor_info: dict) -> str:
    material = {"reference": fingerprint(source), "size": size, "preprocessing": PREPROCESSING, "extractor": extractor_info["extractor"], "weights_sha256": extractor_info["weights_sha256"]}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@dataclass
class ReferenceFeatures:
    """Pool features of the reference set (rows in set order) with their image keys, and their Gaussian statistics."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None  # needed for KID and for PD lookups; a stats-only .npz has none
    keys: list[str] | None = None
    cache_key: str = ""
    source: str = ""

    def rows_for(self, keys: list[str]) -> np.ndarray | None:
        """Feature rows of the given image keys, or None when any is not in the reference set."""
        if self.features is None or self.keys is None:
            return None
        where = {k: i for i, k in enumerate(self.keys)}
        if not all(k in where for k in keys):
            return None
        return self.features[[where[k] for k in keys]]


def _save(path: Path, ref: ReferenceFeatures) -> None:
    atomic_write_npz(path, mu=ref.mu, sigma=ref.sigma, features=ref.features, keys=np.array(ref.keys))


def load_npz(path: str | os.PathLike) -> ReferenceFeatures:
    """Precomputed statistics: an .npz with `mu` and `sigma` (and optionally `features` and `keys`)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "mu" not in z or "sigma" not in z:
                raise ValueError(f"{path}: reference statistics need arrays 'mu' and 'sigma' (found: {', '.join(z.files)})")
            features = z["features"] if "features" in z else None
            keys = [str(k) for k in z["keys"]] if "keys" in z else None
            return ReferenceFeatures(z["mu"], z["sigma"], features, keys, source=str(path))
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None


def reference_features(source, size: int, extractor, batch_size: int = 64, progress: bool = True) -> ReferenceFeatures:
    """Cached reference features of `source` under `extractor`; computed in one streaming pass on a miss."""
    from palette_bench.metrics.fid import statistics

    key = cache_key(source, size, extractor.info)
    path = cache_root() / "reference" / f"{key}.npz"
    if path.is_file():
        ref = load_npz(path)
        ref.cache_key, ref.source = key, str(path)
        return ref
    chunks, keys = [], []
    for start in tqdm(range(0, len(source), batch_size), desc="reference features", disable=None if progress else True, unit="batch"):
        examples = [source[i] for i in range(start, min(start + batch_size, len(source)))]
        chunks.append(extractor(torch.stack([e.image for e in examples]))["pool"].numpy())
        keys += [e.key for e in examples]
    features = np.concatenate(chunks).astype(np.float32)
    mu, sigma = statistics(features)
    ref = ReferenceFeatures(mu, sigma, features, keys, key, str(path))
    _save(path, ref)
    return ref
