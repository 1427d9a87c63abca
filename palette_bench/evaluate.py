"""The evaluation core: one streaming pass over a method's outputs computes every metric of the Palette protocol.

Per batch: one pass of the feature network (InceptionV3, or the builtin judge) gives the features
and logits behind FID, IS, KID and PD; one classifier pass gives CA (the judge's own logits in
judge mode); LPIPS, PSNR, SSIM and the diversity metrics are computed per input. Only feature
matrices and per-input values are kept, so memory does not grow with the images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from palette_bench import distributed as dist
from palette_bench import modern_metrics as mm
from palette_bench.metrics import bootstrap as bs
from palette_bench.metrics.classification import topk_correct
from palette_bench.metrics.fid import FrechetToReference, statistics
from palette_bench.metrics.inception_score import inception_score
from palette_bench.metrics.kid import kid
from palette_bench.metrics.perceptual_distance import perceptual_distance

PAPER_METRICS = ("fid", "is", "kid", "pd", "ca", "lpips", "psnr", "ssim", "diversity")
ALL_METRICS = PAPER_METRICS + mm.MODERN
FEATURE_METRICS = ("fid", "is", "kid", "pd")
KID_SUBSETS_PER_REPLICATE = 10  # a bootstrap replicate of KID averages fewer subsets: 100 would cost 100x


def needs_pool(metrics) -> bool:
    """Whether the protocol's feature network must run: the paper's feature metrics, or PRDC without DINOv2 features."""
    return bool(set(metrics) & set(FEATURE_METRICS)) or (bool(set(metrics) & set(mm.PRDC)) and "fd_dinov2" not in metrics)


@dataclass
class EvalOptions:
    metrics: tuple[str, ...] = PAPER_METRICS
    batch_size: int = 64
    bootstrap: int = bs.REPLICATES
    device: str | None = None
    weights_dir: str | None = None
    allow_unverified: bool = False
    feature_space: str = "auto"  # "auto" (the protocol's), "inception" or "judge"
    judge_config: object = None  # a JudgeConfig; None = the default judge
    ref_stats: str | None = None  # a precomputed reference .npz instead of the cached reference pass
    progress: bool = True
    workers: int | None = None  # DataLoader workers loading the originals and conditions; None = default_workers()

    def __post_init__(self):
        unknown = set(self.metrics) - set(ALL_METRICS)
        if unknown:
            raise ValueError(f"unknown metric '{sorted(unknown)[0]}' (choose from {', '.join(ALL_METRICS)})")
        if self.feature_space not in ("auto", "inception", "judge"):
            raise ValueError(f"unknown feature space '{self.feature_space}' (choose from auto, inception, judge)")
        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Networks:
    """The networks a set of metrics needs, each loaded once."""

    features: object = None  # InceptionV3 or Judge: "pool" and "logits"
    classifier: object = None  # ResNet50 ("logits"), or the judge itself
    lpips: object = None  # callable (a, b) -> [B] distances, with .info
    judge_mode: bool = False

    @classmethod
    def load(cls, feature_space: str, metrics: tuple[str, ...], opts: EvalOptions) -> "Networks":
        from palette_bench.metrics import extractors as ex
        from palette_bench.weights import resolve

        nets = cls(judge_mode=feature_space == "judge")
        if not (needs_pool(metrics) or set(metrics) & {"ca", "lpips", "diversity"}):
            return nets  # pixel metrics only: no network to load (nor a judge to train)
        if nets.judge_mode:
            from palette_bench.metrics.judge import JudgeConfig, load_judge

            model, sha = load_judge(opts.judge_config or JudgeConfig(), progress=opts.progress)
            judge = ex.Judge(model, sha, opts.device)
            nets.features = judge if needs_pool(metrics) else None
            nets.classifier = judge if "ca" in metrics else None
            if set(metrics) & {"lpips", "diversity"}:
                nets.lpips = _JudgeLPIPS(judge)
            return nets
        get = lambda name: resolve(name, opts.weights_dir, opts.allow_unverified)  # noqa: E731
        if needs_pool(metrics):
            nets.features = ex.InceptionV3(get("inception-v3"), opts.device)
        if "ca" in metrics:
            nets.classifier = ex.ResNet50(get("resnet50"), opts.device)
        if set(metrics) & {"lpips", "diversity"}:
            nets.lpips = ex.LPIPSAlex(get("alexnet"), opts.device)
        return nets


class _JudgeLPIPS:
    def __init__(self, judge):
        self.judge = judge
        self.info = {**judge.info, "extractor": "judge-lpips (LPIPS formula, unit weights, on " + judge.info["extractor"] + ")"}

    def __call__(self, a, b, maps_a=None):
        return self.judge.lpips(a, b, maps_a)


NONE_INFO = {"extractor": "none (pixels)", "resize": "none", "weights_sha256": None, "verified": True}


def _entry(value: float, ci, n: int, info: dict, **extra) -> dict:
    return {
        "value": float(value),
        "ci95": None if ci is None else [float(ci[0]), float(ci[1])],
        "n": int(n),
        "extractor": info["extractor"],
        "weights_sha256": info["weights_sha256"],
        "verified": bool(info["verified"]),
        **extra,
    }


def _mean_entry(values: np.ndarray, info: dict, opts: EvalOptions, **extra) -> dict:
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    return _entry(finite.mean() if len(finite) else float("nan"), bs.mean_ci(finite, opts.bootstrap), len(finite), info, **extra)


@dataclass
class _Accumulator:
    """What the streaming pass keeps: feature matrices and per-input values, with their evaluation indices."""

    pool: list = field(default_factory=list)
    logits: list = field(default_factory=list)
    pool_orig: list = field(default_factory=list)
    index: list = field(default_factory=list)  # evaluation indices of the feature rows, batch by batch
    per_input: dict = field(default_factory=dict)  # name -> list of (indices, values)
    rows: dict = field(default_factory=dict)  # name -> list of (indices, [B, ...] arrays): the modern metrics' features

    def add(self, name: str, values, indices) -> None:
        self.per_input.setdefault(name, []).append((np.asarray(indices), np.asarray(values, np.float64)))

    def add_rows(self, name: str, values, indices) -> None:
        self.rows.setdefault(name, []).append((np.asarray(indices), np.asarray(values)))

    def rows_values(self, name: str) -> np.ndarray:
        idx = np.concatenate([i for i, _ in self.rows[name]])
        return np.concatenate([v for _, v in self.rows[name]])[np.argsort(idx, kind="stable")]

    def values(self, name: str) -> np.ndarray:
        if name not in self.per_input:
            return np.zeros(0)
        idx = np.concatenate([i for i, _ in self.per_input[name]])
        return np.concatenate([v for _, v in self.per_input[name]])[np.argsort(idx, kind="stable")]

    def arrays(self) -> dict[str, np.ndarray]:
        """What a paired comparison needs (palette_bench/compare.py), rows in evaluation-index order.

        `index` holds the evaluation indices; `pool` (float32) and `logits` the features of sample 0,
        from which FID, KID and IS are recomputed on resampled inputs; every per-input metric's values
        (CA as 0/1, PD, LPIPS, PSNR, SSIM, diversity) are aligned to `index`.
        """
        names = sorted(self.per_input)
        if self.index:
            index = np.concatenate(self.index)
        else:  # pixel metrics only: no feature rows, the per-input values carry the indices
            index = np.concatenate([i for i, _ in self.per_input[names[0]]]) if names else np.zeros(0, np.int64)
        order = np.argsort(index, kind="stable")
        out = {"index": index[order].astype(np.int64)}
        if self.pool:
            pool = np.concatenate(self.pool)[order]
            out["pool"] = pool.astype(np.float32, copy=False)
            out["logits"] = np.concatenate(self.logits)[order]
        for name in names:
            if not np.array_equal(np.sort(np.concatenate([i for i, _ in self.per_input[name]])), out["index"]):
                raise RuntimeError(f"per-input values of {name} do not cover the evaluated inputs")
            out[name] = self.values(name)
        return out

    def merge(self, others: list["_Accumulator"]) -> "_Accumulator":
        """One accumulator from the shards of all processes, rows in evaluation-index order as in a single process."""
        out = _Accumulator()
        index = np.concatenate([np.concatenate(a.index) for a in others if a.index]) if any(a.index for a in others) else np.zeros(0, int)
        order = np.argsort(index, kind="stable")
        for name in ("pool", "logits", "pool_orig"):
            chunks = [c for a in others for c in getattr(a, name)]
            if chunks:
                getattr(out, name).append(np.concatenate(chunks)[order])
        out.index = [index[order]]
        for a in others:
            for name, parts in a.per_input.items():
                out.per_input.setdefault(name, []).extend(parts)
            for name, parts in a.rows.items():
                out.rows.setdefault(name, []).extend(parts)
        return out


def _main_first(fn):
    """Run `fn` on rank 0 first (it may train the judge or fill a cache), then on the other ranks."""
    from palette_bench import distributed as dist

    if dist.is_main():
        result = fn()
        dist.barrier()
    else:
        dist.barrier()
        result = fn()
    return result


def set_metrics(acc: _Accumulator, nets: Networks, ref, metrics, opts: EvalOptions, skipped: dict) -> dict:
    """FID, IS, KID, PD and CA from the accumulated features, with bootstrap intervals over inputs."""
    out = {}
    if nets.features is None:
        return out
    info = nets.features.info
    pool = np.concatenate(acc.pool) if acc.pool else np.zeros((0, 1))
    n = len(pool)
    if "fid" in metrics and ref is not None:
        fid = FrechetToReference(ref.mu, ref.sigma)
        value = fid(pool)
        ci = bs.statistic_ci(n, lambda i: fid.fast(pool[i]), value, opts.bootstrap)
        ci = None if ci is None else (max(ci[0], 0.0), ci[1])  # a distance: the shifted interval may cross 0
        out["fid"] = _entry(value, ci, n, info, reference_n=int(len(ref.features)) if ref.features is not None else None)
    if "is" in metrics:
        logits = np.concatenate(acc.logits)
        if n >= 10:
            value = inception_score(logits)
            ci = bs.statistic_ci(n, lambda i: inception_score(logits[i]), value, opts.bootstrap)
            out["is"] = _entry(value, ci, n, info, splits=10)
        else:
            skipped["is"] = "needs at least 10 inputs (10 splits)"
    if "kid" in metrics and ref is not None:
        if ref.features is None:
            skipped["kid"] = "the reference statistics file has no features"
        else:
            m = min(1000, n, len(ref.features))
            value = kid(pool, ref.features)
            ci = bs.statistic_ci(n, lambda i: kid(pool[i], ref.features, subsets=KID_SUBSETS_PER_REPLICATE), value, opts.bootstrap)
            out["kid"] = _entry(value, ci, n, info, subsets=100, subset_size=m)
    if "pd" in metrics:
        if acc.pool_orig:
            d = perceptual_distance(pool, np.concatenate(acc.pool_orig))
            out["pd"] = _mean_entry(d, info, opts)
            # kept per input, like CA and LPIPS, for the arrays a paired comparison reads
            acc.add("pd", d, np.concatenate(acc.index) if acc.index else np.arange(n))
        else:
            skipped["pd"] = "no originals paired with the outputs"
    return out


def protocol_reference(protocol, nets: Networks, opts: EvalOptions, root=None):
    """The protocol's FID reference features (cached), or a user's precomputed .npz."""
    from palette_bench.data.sources import open_source
    from palette_bench.metrics.reference import load_npz, reference_features

    if nets.features is None:
        return None
    if opts.ref_stats:
        return load_npz(opts.ref_stats)
    source = open_source(protocol.reference, protocol.image_size, root)
    return reference_features(source, protocol.image_size, nets.features, opts.batch_size, opts.progress)


def evaluate_protocol(protocol, task: str, eval_set: str, pred_dir, opts: EvalOptions | None = None, root=None, n: int | None = None, skip_bad: bool = False, arrays_out=None) -> dict:
    """Evaluate the outputs in `pred_dir` of `task`/`eval_set` under `protocol` (under torchrun: rank 0 returns the result, others None).

    With `arrays_out`, the features and per-input values behind the metrics are also written to that
    .npz (see _Accumulator.arrays), meant to lie beside the metrics.json, whose "arrays" names it.
    """
    from palette_bench.data.evalset import EvalSet, iterate
    from palette_bench.data.predictions import Predictions
    from palette_bench.data.workers import default_workers
    from palette_bench.images import to_uint8
    from palette_bench.metrics import diversity, pixel

    opts = opts or EvalOptions()
    evalset = EvalSet(protocol, task, eval_set, n=n, root=root, skip_bad=skip_bad)
    preds = Predictions(pred_dir, evalset.positions, protocol.image_size)
    # Every file decoded and its size checked now: a bad one fails in seconds, not after the reference pass.
    preds.validate(progress=opts.progress and dist.is_main())
    space = opts.feature_space if opts.feature_space != "auto" else ("judge" if protocol.dataset.kind == "builtin" else "inception")
    metrics = tuple(m for m in opts.metrics if not (m == "diversity" and preds.samples < 2))
    diverse = set(preds.diverse)
    skipped = {} if len(metrics) == len(opts.metrics) else {"diversity": "one sample per input (diversity needs files NNNNNN_k.png)"}
    nets = _main_first(lambda: Networks.load(space, metrics, opts))
    vits = _main_first(lambda: mm.ModernNetworks.load(metrics, opts))
    ref = _main_first(lambda: protocol_reference(protocol, nets, opts, root)) if set(metrics) & {"fid", "kid", "pd"} or (needs_pool(metrics) and set(metrics) & set(mm.PRDC)) else None
    vit_refs = _main_first(lambda: mm.references(protocol, vits, opts, root))
    acc, bad = _Accumulator(), []
    # In judge mode the judge's pass over the outputs also yields the maps its LPIPS needs.
    reuse_maps = nets.judge_mode and nets.features is not None and "lpips" in metrics
    # Under torchrun each process evaluates every world_size-th input; rank 0 gathers and computes the metrics.
    shard = torch.utils.data.Subset(evalset, dist.shard(list(range(len(evalset)))))
    workers = default_workers() if opts.workers is None else opts.workers
    for batch in tqdm(iterate(shard, opts.batch_size, workers), total=-(-len(shard) // opts.batch_size), desc="evaluating", disable=None if (opts.progress and dist.is_main()) else True, unit="batch"):
        bad += batch["bad"]
        if not len(batch["index"]):
            continue
        indices = batch["index"].tolist()
        out = preds.batch(indices)
        orig = to_uint8(batch["image"])
        mask = batch["mask"]
        if nets.features is not None:
            f = nets.features(out, maps=True) if reuse_maps else nets.features(out)
            acc.index.append(np.asarray(indices))
            acc.pool.append(f["pool"].numpy())
            acc.logits.append(f["logits"].numpy())
            if "pd" in metrics:
                rows = ref.rows_for(batch["key"]) if ref is not None else None
                acc.pool_orig.append(rows if rows is not None else nets.features(orig)["pool"].numpy())
            if nets.classifier is nets.features and "ca" in metrics:
                logits = f["logits"].numpy()
        if "ca" in metrics and (labels := batch["label"].numpy()).min() >= 0:
            if nets.classifier is not nets.features:
                logits = nets.classifier(out)["logits"].numpy()
            acc.add("ca_top1", topk_correct(logits, labels, 1), indices)
            acc.add("ca_top5", topk_correct(logits, labels, 5), indices)
        if "lpips" in metrics:
            lp = nets.lpips(out, orig, maps_a=f["maps"]) if reuse_maps else nets.lpips(out, orig)
            acc.add("lpips", lp.numpy(), indices)
        if "psnr" in metrics:
            acc.add("psnr", pixel.psnr(out, orig).numpy(), indices)
            if mask is not None:
                acc.add("psnr_mask", pixel.psnr(out, orig, mask).numpy(), indices)
        if "ssim" in metrics:
            acc.add("ssim", pixel.ssim(out, orig).numpy(), indices)
            if mask is not None:
                acc.add("ssim_mask", pixel.ssim(out, orig, mask).numpy(), indices)
        mm.add_batch(acc, vits, metrics, out, orig, indices)
        if "diversity" in metrics:
            # inputs with one sample carry NaN: means and intervals leave them out, and the rows stay
            # aligned to the evaluation indices for paired comparisons
            div = {"div_msssim": np.full(len(indices), np.nan), "div_lpips": np.full(len(indices), np.nan)}
            rows = [r for r, i in enumerate(indices) if i in diverse]
            if rows:
                samples = torch.stack([preds.batch([indices[r] for r in rows], k) for k in range(preds.samples)], dim=1)
                div["div_msssim"][rows] = diversity.msssim_diversity(samples).numpy()
                div["div_lpips"][rows] = diversity.lpips_diversity(samples, nets.lpips).numpy()
            for name, values in div.items():
                acc.add(name, values, indices)
    if dist.world_size() > 1:
        gathered = [None] * dist.world_size()
        torch.distributed.all_gather_object(gathered, (acc, bad))
        if not dist.is_main():
            return None
        acc, bad = _Accumulator().merge([a for a, _ in gathered]), [m for _, b in gathered for m in b]
    results = set_metrics(acc, nets, ref, metrics, opts, skipped)
    results.update(per_input_metrics(acc, nets, metrics, opts, skipped, protocol.image_size))
    results.update(mm.compute(acc, vits, ref, vit_refs, metrics, opts, skipped, nets.features.info if nets.features is not None else None))
    if "ca" in metrics and "ca_top1" not in acc.per_input:
        skipped["ca"] = "the originals have no class labels"
    if arrays_out is not None:
        from palette_bench.io import atomic_write_npz

        atomic_write_npz(arrays_out, **acc.arrays(), **mm.kept_arrays(acc, metrics, vits))
    return {
        "mode": "protocol",
        "protocol": protocol.name,
        "task": task,
        "eval_set": eval_set,
        "image_size": protocol.image_size,
        "n": len(evalset) - len(bad),
        "samples_per_input": preds.samples,
        "diversity_inputs": len(preds.diverse),
        "feature_space": space,
        "reference": None if ref is None else {"source": ref.source, "cache_key": ref.cache_key, "n": None if ref.features is None else int(len(ref.features))},
        # the reference features in each ViT space, for compare.py's paired FD_DINOv2, CMMD and PRDC
        **({"references": {k: {"source": r.source, "cache_key": r.cache_key, "n": int(len(r.features))} for k, r in vit_refs.items()}} if vit_refs else {}),
        "metrics": results,
        "skipped": skipped,
        "skipped_bad_files": bad,
        "verified": all(m["verified"] for m in results.values()),
        **({} if arrays_out is None else {"arrays": Path(arrays_out).name}),
    }


def per_input_metrics(acc: _Accumulator, nets: Networks, metrics, opts: EvalOptions, skipped: dict, size: int) -> dict:
    """Means and intervals of the per-input metrics (CA, LPIPS, PSNR, SSIM, diversity)."""
    from palette_bench.metrics.msssim import ms_ssim_scales

    out = {}
    cls_info = nets.classifier.info if nets.classifier is not None else None
    for name, info, extra in (
        ("ca_top1", cls_info, {}),
        ("ca_top5", cls_info, {}),
        ("lpips", nets.lpips.info if nets.lpips else None, {}),
        ("psnr", NONE_INFO, {"unit": "dB"}),
        ("psnr_mask", NONE_INFO, {"unit": "dB", "region": "mask"}),
        ("ssim", NONE_INFO, {}),
        ("ssim_mask", NONE_INFO, {"region": "mask"}),
        ("div_msssim", NONE_INFO, {"ms_ssim_scales": ms_ssim_scales(size)}),
        ("div_lpips", nets.lpips.info if nets.lpips else None, {}),
    ):
        if name in acc.per_input:
            out[name] = _mean_entry(acc.values(name), info, opts, **extra)
    return out


def _read_folder(folder: Path) -> tuple[list[str], torch.Tensor]:
    """Every .png/.jpg/.jpeg directly in `folder` (sorted, as torch-fidelity lists them) as one uint8 tensor."""
    from palette_bench.data.files import open_rgb

    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder not found")
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.is_file())
    if not names:
        raise ValueError(f"{folder}: no .png, .jpg or .jpeg images")
    images = []
    for name in names:
        img = torch.from_numpy(np.asarray(open_rgb(folder / name)).copy()).permute(2, 0, 1)
        if images and img.shape != images[0].shape:
            raise ValueError(f"{folder / name}: image is {img.shape[2]}x{img.shape[1]}, the folder's first image is {images[0].shape[2]}x{images[0].shape[1]}")
        images.append(img)
    return names, torch.stack(images)


FOLDER_METRICS = ("fid", "is", "kid", "pd", "lpips") + mm.MODERN  # the rest need a protocol's labels, masks or extra samples


def evaluate_folders(pred_dir, ref_dir, opts: EvalOptions | None = None) -> dict:
    """Two-folder mode, like torch-fidelity's command line: FID, IS, KID and the set metrics beyond the
    paper's; PD and LPIPS when the file names pair up. SWD needs two sets of the same size (ProGAN's
    rule); it is paired by file name when the names pair up, by sorted position otherwise."""
    from palette_bench.metrics.reference import ReferenceFeatures

    opts = opts or EvalOptions(metrics=("fid", "is", "kid", "pd", "lpips"))
    pred_names, pred = _read_folder(Path(pred_dir))
    ref_names, refs = _read_folder(Path(ref_dir))
    paired = pred_names == ref_names
    skipped = {m: "needs a protocol (labels, masks or several samples per input): use --task and --eval-set" for m in opts.metrics if m not in FOLDER_METRICS}
    metrics = tuple(m for m in opts.metrics if m in FOLDER_METRICS)
    if not paired:
        for m in ("pd", "lpips"):
            if m in metrics:
                skipped[m] = "file names of the two folders do not pair up"
        metrics = tuple(m for m in metrics if m not in ("pd", "lpips"))
    if "swd" in metrics and len(pred) != len(refs):
        skipped["swd"] = f"the folders hold {len(pred)} and {len(refs)} images; SWD compares sets of the same size"
        metrics = tuple(m for m in metrics if m != "swd")
    nets = Networks.load("judge" if opts.feature_space == "judge" else "inception", metrics, opts)
    vits = mm.ModernNetworks.load(metrics, opts)
    acc = _Accumulator()
    ref_chunks = []
    for start in tqdm(range(0, len(pred), opts.batch_size), desc="evaluating", disable=None if opts.progress else True, unit="batch"):
        out = pred[start : start + opts.batch_size]
        indices = range(start, start + len(out))
        if nets.features is not None:
            f = nets.features(out)
            acc.pool.append(f["pool"].numpy())
            acc.logits.append(f["logits"].numpy())
        if paired and "lpips" in metrics:
            acc.add("lpips", nets.lpips(out, refs[start : start + opts.batch_size]).numpy(), indices)
        mm.add_batch(acc, vits, metrics, out, refs[start : start + len(out)], indices)
    if nets.features is not None:
        for start in range(0, len(refs), opts.batch_size):
            ref_chunks.append(nets.features(refs[start : start + opts.batch_size])["pool"].numpy())
    ref = None
    if ref_chunks:
        ref_features = np.concatenate(ref_chunks).astype(np.float32)
        ref = ReferenceFeatures(*statistics(ref_features), ref_features, ref_names, source=str(ref_dir))
        if paired:
            acc.pool_orig = [ref_features]
    vit_refs = {}
    for name, net in vits.spaces().items():
        f = np.concatenate([net(refs[s : s + opts.batch_size])["pool"].numpy() for s in range(0, len(refs), opts.batch_size)]).astype(np.float32)
        vit_refs[name] = ReferenceFeatures(*statistics(f), f, ref_names, source=str(ref_dir))
    results = set_metrics(acc, nets, ref, metrics, opts, skipped)
    results.update(per_input_metrics(acc, nets, metrics, opts, skipped, int(pred.shape[-1])))
    results.update(mm.compute(acc, vits, ref, vit_refs, metrics, opts, skipped, nets.features.info if nets.features is not None else None))
    return {
        "mode": "folders",
        "pred": str(pred_dir),
        "ref": str(ref_dir),
        "n": len(pred_names),
        "reference": {"source": str(ref_dir), "n": len(ref_names)},
        "feature_space": "judge" if nets.judge_mode else "inception",
        "metrics": results,
        "skipped": skipped,
        "verified": all(m["verified"] for m in results.values()),
    }


def metric_table(result: dict) -> str:
    """A human-readable summary: value, interval, n and the extractor of each metric."""
    lines = []
    for name, m in result["metrics"].items():
        ci = "" if m["ci95"] is None else f"  [{m['ci95'][0]:.4g}, {m['ci95'][1]:.4g}]"
        flag = "" if m["verified"] else "  UNVERIFIED WEIGHTS"
        lines.append(f"{name:>10}: {m['value']:.6g}{ci}  n={m['n']}  ({m['extractor']}){flag}")
    for name, why in result.get("skipped", {}).items():
        lines.append(f"{name:>10}: skipped: {why}")
    return "\n".join(lines)


__all__ = ["ALL_METRICS", "EvalOptions", "evaluate_folders", "evaluate_protocol", "metric_table"]
