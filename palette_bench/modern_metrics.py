"""The metrics beyond the paper's: FD_DINOv2, CMMD, precision/recall/density/coverage and SWD.

The paper's FID/IS/CA/PD (2018-era) are kept first everywhere; these form a second block. Each is a
set-level metric with a bootstrap interval over inputs and a paired comparison (compare.py), built
from arrays the evaluation keeps:
- `dinov2` and `clip`: per-output DINOv2 features and CLIP embeddings, against the protocol's
  reference set in the same space (cached like the FID reference, under their own keys);
- PRDC in one feature space: DINOv2 when fd_dinov2 is computed too (as dgm-eval does), otherwise
  the protocol's own feature network (InceptionV3, or the builtin judge), against a fixed subset
  of the reference as large as the evaluated set (metrics/prdc.py);
- `swd_out` and `swd_orig`: Laplacian-pyramid neighbourhoods of each output and of its original
  (metrics/swd.py), the first REPLICATE_NHOODS per image, in float16; the full metric uses 128.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from palette_bench.metrics import prdc as prdc_lib
from palette_bench.metrics import swd as swd_lib

MODERN = ("fd_dinov2", "cmmd", "precision", "recall", "density", "coverage", "swd")
PRDC = prdc_lib.METRICS
LOWER_IS_BETTER = ("fd_dinov2", "cmmd", "swd")
HIGHER_IS_BETTER = PRDC
SWD_INFO = {"extractor": "none (Laplacian pyramid of pixels)", "resize": "none", "weights_sha256": None, "verified": True}


@dataclass
class ModernNetworks:
    dinov2: object = None
    clip: object = None

    @classmethod
    def load(cls, metrics, opts) -> "ModernNetworks":
        """The ViTs the asked metrics need; a missing weights file is a one-line WeightsError naming it."""
        from palette_bench.metrics.vit_extractors import CLIPImage, DINOv2
        from palette_bench.weights import resolve

        nets = cls()
        if "fd_dinov2" in metrics:
            nets.dinov2 = DINOv2(resolve("dinov2-vitl14", opts.weights_dir, opts.allow_unverified), opts.device)
        if "cmmd" in metrics:
            nets.clip = CLIPImage(resolve("clip-vitl14-336", opts.weights_dir, opts.allow_unverified), opts.device)
        return nets

    def spaces(self) -> dict:
        return {name: net for name, net in (("dinov2", self.dinov2), ("clip", self.clip)) if net is not None}


def prdc_space(nets: ModernNetworks) -> str:
    """The feature array PRDC is computed on: DINOv2 when its features are computed, else the protocol's own."""
    return "dinov2" if nets.dinov2 is not None else "pool"


def add_batch(acc, nets: ModernNetworks, metrics, out, orig, indices) -> None:
    """The rows this batch contributes: ViT features of the outputs, SWD neighbourhoods of outputs and originals."""
    for name, net in nets.spaces().items():
        acc.add_rows(name, net(out)["pool"].numpy(), indices)
    if "swd" in metrics:
        a = swd_lib.descriptors(out, indices)
        b = swd_lib.descriptors(orig, indices)
        acc.add_rows("swd_full_out", a, indices)
        acc.add_rows("swd_full_orig", b, indices)


def references(protocol, nets: ModernNetworks, opts, root=None) -> dict:
    """The reference set's features in each ViT space (cached per extractor, as the FID reference)."""
    from palette_bench.data.sources import open_source
    from palette_bench.metrics.reference import reference_features

    spaces = nets.spaces()
    if not spaces:
        return {}
    source = open_source(protocol.reference, protocol.image_size, root)
    return {name: reference_features(source, protocol.image_size, net, opts.batch_size, opts.progress) for name, net in spaces.items()}


def statistic(name: str, arrays: dict, ref_features: np.ndarray | None, value: float | None = None):
    """(value on all inputs, statistic on resampled input indices) of one modern metric, from an evaluation's arrays.

    For SWD the replicates use fewer neighbourhoods and directions than the value (metrics/swd.py),
    so the value must come from the evaluation (metrics.json) when only the arrays are at hand.
    """
    from palette_bench.metrics.cmmd import ResampledCMMD
    from palette_bench.metrics.fid import FrechetToReference, statistics

    if name == "fd_dinov2":
        fd = FrechetToReference(*statistics(ref_features))
        x = arrays["dinov2"]
        return fd(x), lambda i: fd.fast(x[i])
    if name == "cmmd":
        stat = ResampledCMMD(arrays["clip"], ref_features)
        return stat(np.arange(len(arrays["clip"]))), stat
    if name in PRDC:
        stat = _SharedPRDC(arrays, ref_features)
        return stat(np.arange(stat.n))[name], lambda i: stat(i)[name]
    if name == "swd":
        stat = swd_lib.ResampledSWD(arrays["swd_out"].astype(np.float32), arrays["swd_orig"].astype(np.float32))
        return value, stat
    raise KeyError(name)


class _SharedPRDC:
    """All four PRDC metrics of resampled rows, each resample computed once however many of the four ask for it."""

    def __init__(self, arrays: dict, ref_features: np.ndarray):
        x = arrays[arrays_space(arrays)]
        self.n = len(x)
        self.stat = prdc_lib.ResampledPRDC(ref_features[prdc_lib.real_subset(len(ref_features), self.n)], x)
        self.done: dict[bytes, dict] = {}

    def __call__(self, idx: np.ndarray) -> dict[str, float]:
        key = np.asarray(idx).tobytes()
        if key not in self.done:
            self.done[key] = self.stat(idx)
        return self.done[key]


def arrays_space(arrays: dict) -> str:
    return str(arrays["prdc_space"]) if "prdc_space" in arrays else "pool"


def compute(acc, nets: ModernNetworks, base_ref, refs: dict, metrics, opts, skipped: dict, base_info: dict | None) -> dict:
    """Each asked modern metric's entry (value, 95% interval, n, extractor), from the accumulated rows."""
    from palette_bench.evaluate import _entry
    from palette_bench.metrics import bootstrap as bs

    out = {}
    rows = {name: acc.rows_values(name) for name in acc.rows}
    arrays = dict(rows)
    if set(metrics) & set(PRDC):
        space = prdc_space(nets)
        arrays["prdc_space"] = np.array(space)
        if space == "pool":
            arrays["pool"] = np.concatenate(acc.pool) if acc.pool else None
    spaces = nets.spaces()
    shared_prdc = None  # one set of distances and replicates for the four PRDC metrics
    for name in metrics:
        if name not in MODERN:
            continue
        if name == "swd":
            full = swd_lib.swd_levels(rows["swd_full_out"], rows["swd_full_orig"])
            # the replicates read what compare.py will read: the first neighbourhoods, in float16
            arrays["swd_out"] = rows["swd_full_out"][:, :, : swd_lib.REPLICATE_NHOODS].astype(np.float16)
            arrays["swd_orig"] = rows["swd_full_orig"][:, :, : swd_lib.REPLICATE_NHOODS].astype(np.float16)
            n = len(rows["swd_full_out"])
            value, stat = statistic("swd", arrays, None, float(full.mean()))
            ci = bs.statistic_ci(n, stat, value, opts.bootstrap)
            out["swd"] = _entry(value, _nonnegative(ci), n, SWD_INFO, levels=[float(v) for v in full], nhoods_per_image=swd_lib.NHOODS_PER_IMAGE)
            continue
        if name in PRDC:
            space = arrays_space(arrays)
            if space == "pool":
                if base_ref is None or base_ref.features is None or arrays.get("pool") is None:
                    skipped[name] = "needs the reference set's features (a statistics-only --ref-stats file has none)"
                    continue
                ref_features, info = base_ref.features, base_info
            else:
                ref_features, info = refs[space].features, spaces[space].info
            too_few = min(len(ref_features), len(arrays[space])) <= max(prdc_lib.K_PRECISION_RECALL, prdc_lib.K_DENSITY_COVERAGE)
            if too_few:  # k-nearest-neighbour balls need more than k points a side
                skipped[name] = f"needs more than {prdc_lib.K_DENSITY_COVERAGE} inputs and reference images, got {len(arrays[space])} and {len(ref_features)}"
                continue
            shared_prdc = shared_prdc or _SharedPRDC(arrays, ref_features)
            value, stat = shared_prdc(np.arange(shared_prdc.n))[name], lambda i, m=name: shared_prdc(i)[m]
            n = shared_prdc.n
            k = prdc_lib.K_PRECISION_RECALL if name in ("precision", "recall") else prdc_lib.K_DENSITY_COVERAGE
            ci = _within(bs.statistic_ci(n, stat, value, opts.bootstrap), None if name == "density" else 1.0)
            out[name] = _entry(value, ci, n, info, k=k, features=space, real_n=int(min(len(ref_features), n)))
            continue
        space = "dinov2" if name == "fd_dinov2" else "clip"
        value, stat = statistic(name, arrays, refs[space].features)
        n = len(arrays[space])
        ci = bs.statistic_ci(n, stat, value, opts.bootstrap)
        out[name] = _entry(value, _nonnegative(ci), n, spaces[space].info, features=space, reference_n=int(len(refs[space].features)))
    return out


def _nonnegative(ci):
    return None if ci is None else (max(ci[0], 0.0), ci[1])  # a distance: the shifted interval may cross 0


def _within(ci, top: float | None):
    """A fraction's interval kept inside [0, 1] (density only >= 0): the median-shifted percentile interval may leave it."""
    if ci is None:
        return None
    lo, hi = _nonnegative(ci)
    return (lo, hi if top is None else min(hi, top))


def kept_arrays(acc, metrics, nets: ModernNetworks) -> dict:
    """What a paired comparison needs beyond the paper's arrays, rows in evaluation-index order."""
    out = {}
    for name in nets.spaces():
        out[name] = acc.rows_values(name).astype(np.float32)
    if "swd" in metrics and "swd_full_out" in acc.rows:
        out["swd_out"] = acc.rows_values("swd_full_out")[:, :, : swd_lib.REPLICATE_NHOODS].astype(np.float16)
        out["swd_orig"] = acc.rows_values("swd_full_orig")[:, :, : swd_lib.REPLICATE_NHOODS].astype(np.float16)
    if set(metrics) & set(PRDC):
        out["prdc_space"] = np.array(prdc_space(nets))
    return out
