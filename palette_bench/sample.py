"""The sampling stage: K outputs per evaluation input of any method, written as NNNNNN.png / NNNNNN_k.png.

A method is anything with predict(condition, mask, generator) -> images (Palette's sampler here,
the baselines in baselines/). Sample k of evaluation input `index` gets its own generator, seeded
by (seed, index, k), from which Palette draws its starting noise and every later draw: a sample is
the same for any batch size and any number of processes. Processes split the inputs by evaluation
index. Files are written atomically and existing ones are skipped, so an interrupted stage resumes.
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
from palette_bench.models.diffusion import NoiseSchedule
from palette_bench.models.samplers import SAMPLERS
from palette_bench.seeding import generator_for


class PaletteSampler:
    """Palette behind the method interface: predict(condition, mask, generator) -> one sample per generator.

    `generator` is a list with one torch.Generator per example: the starting noise y_T and every
    later draw of that example's chain come from it. `schedule` holds the steps (see
    models/samplers.py step_schedule); `parameterization` says what the network outputs.
    """

    def __init__(self, model, sampler: str, schedule: NoiseSchedule, device, eta: float = 0.0, parameterization: str = "eps", churn: float = 0.0):
        if torch.device(device).type == "cuda":
            # TF32 convolutions and matmuls round differently for different batch sizes; full fp32 keeps a
            # sample independent of the batch it shares, as the seeding promises.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.model, self.device = model, torch.device(device)
        self.schedule, self.fn = schedule, SAMPLERS[sampler]
        self.kwargs = {"eta": eta} if sampler == "ddim" else {"churn": churn} if sampler == "heun" else {}
        self.kwargs["parameterization"] = parameterization

    @torch.no_grad()
    def predict(self, condition: torch.Tensor, mask: torch.Tensor | None, generator: list[torch.Generator]) -> torch.Tensor:
        condition = condition.to(self.device)
        mask = None if mask is None else mask.to(self.device)
        y_t = draw_noise(condition.shape[1:], generator).to(self.device)
        extra = {"condition": condition, "mask": mask, "y0": condition if mask is not None else None}
        return self.fn(self.model, y_t, self.schedule, extra, generator, **self.kwargs).cpu()


def sample_evalset(method, evalset: EvalSet, out_dir: Path, seed: int, samples_per_input: int = 1, batch_size: int = 64, progress: bool = True, diversity_n: int = 0) -> int:
    """Write `samples_per_input` outputs of `method` per input of this process's share; returns the number written.

    With `diversity_n` > 0 only the first diversity_n inputs of the set get all samples (the diversity
    metrics need several); the others get sample 0, the output FID, IS, CA and PD are computed on.

    Output k of evaluation input `index` is method.predict(...) with the generator seeded by
    (seed, index, k), so it is the same for any batch size and any number of processes.
    Deterministic methods (one output per input) ignore the generator.
    """
    out_dir = Path(out_dir)
    def samples_of(k_pos: int) -> int:
        return samples_per_input if diversity_n <= 0 or k_pos < diversity_n else 1

    jobs = [(k_pos, index, k) for k_pos, index in dist.shard(list(enumerate(evalset.positions))) for k in range(samples_of(k_pos))]
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
        condition = torch.stack([it.degraded.condition for it in items])
        mask = None if items[0].degraded.mask is None else torch.stack([it.degraded.mask for it in items])
        gens = [generator_for("sample", seed, index, k) for _, index, k in chunk]
        out = method.predict(condition, mask, gens)
        for (_, index, k), image in zip(chunk, out):
            save_png(out_dir / sample_filename(index, k), image)
            written += 1
        bar.update(len(chunk))
    bar.close()
    return written
