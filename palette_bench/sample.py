"""The sampling stage: K samples per evaluation input, written as NNNNNN.png / NNNNNN_k.png.

Sample k of evaluation input `index` starts from noise drawn from its own generator, seeded by
(seed, index, k), and every later draw comes from that generator too: a sample is the same for any
batch size and any number of processes. Processes split the inputs by evaluation index. Files are
written atomically and existing ones are skipped, so an interrupted stage resumes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from palette_bench import distributed as dist
from palette_bench.data.evalset import EvalSet
from palette_bench.data.predictions import sample_filename
from palette_bench.images import save_png
from palette_bench.models.diffusion import draw_noise
from palette_bench.models.samplers import SAMPLERS, sampling_schedule
from palette_bench.seeding import generator_for


def sample_evalset(model, evalset: EvalSet, out_dir: Path, seed: int, samples_per_input: int, sampler: str, steps: int, batch_size: int, device, eta: float = 0.0, progress: bool = True) -> int:
    """Sample this process's share of the evaluation set into `out_dir`; returns the number of files written."""
    out_dir = Path(out_dir)
    if device.type == "cuda":
        # TF32 convolutions and matmuls round differently for different batch sizes; full fp32 keeps a
        # sample independent of the batch it shares, as the seeding promises.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    schedule = sampling_schedule(steps)
    fn = SAMPLERS[sampler]
    kwargs = {"eta": eta} if sampler == "ddim" else {}
    jobs = [(k_pos, index, k) for k_pos, index in dist.shard(list(enumerate(evalset.positions))) for k in range(samples_per_input)]
    jobs = [j for j in jobs if not (out_dir / sample_filename(j[1], j[2])).exists()]
    written = 0
    bar = tqdm(total=len(jobs), desc="sampling", unit="img", disable=None if (progress and dist.is_main()) else True)
    cache: dict[int, object] = {}
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        items = []
        for k_pos, _, _ in chunk:
            if k_pos not in cache:
                if len(cache) > 4 * batch_size:  # inputs come in index order: earlier ones are not needed again
                    cache.clear()
                cache[k_pos] = evalset[k_pos]
            items.append(cache[k_pos])
        condition = torch.stack([it.degraded.condition for it in items]).to(device)
        mask = None if items[0].degraded.mask is None else torch.stack([it.degraded.mask for it in items]).to(device)
        gens = [generator_for("sample", seed, index, k) for _, index, k in chunk]
        y_t = draw_noise(condition.shape[1:], gens).to(device)
        extra = {"condition": condition, "mask": mask, "y0": condition if mask is not None else None}
        out = fn(model, y_t, schedule, extra, gens, **kwargs).cpu()
        for (_, index, k), image in zip(chunk, out):
            save_png(out_dir / sample_filename(index, k), image)
            written += 1
        bar.update(len(chunk))
    bar.close()
    return written


def predict_evalset(method, evalset: EvalSet, out_dir: Path, batch_size: int = 64, progress: bool = True) -> int:
    """Outputs of a deterministic method (one per input) for this process's share of the evaluation set."""
    out_dir = Path(out_dir)
    todo = [k for k in dist.shard(list(range(len(evalset)))) if not (out_dir / sample_filename(evalset.positions[k])).exists()]
    for start in tqdm(range(0, len(todo), batch_size), desc="predicting", unit="batch", disable=None if (progress and dist.is_main()) else True):
        items = [evalset[k] for k in todo[start : start + batch_size]]
        mask = None if items[0].degraded.mask is None else torch.stack([it.degraded.mask for it in items])
        out = method.predict(torch.stack([it.degraded.condition for it in items]), mask)
        for it, image in zip(items, out):
            save_png(out_dir / sample_filename(it.index), image)
    return len(todo)
