"""Sample figures: for the same evaluation inputs, the input, each method's outputs, then the original.

Looking at samples is the check that numbers cannot replace: a model that has not learned its task
can still score a plausible FID. Every evaluation folder named must hold outputs of the same
evaluation set (same protocol, task, set and image size); the rows are its first `n` inputs.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import numpy as np

from palette_bench.io import atomic_write_bytes


def _eval_config(eval_dir: Path) -> dict:
    path = Path(eval_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not an evaluation folder of a run (no config.json)")
    return json.loads(path.read_text())


def _label(eval_dir: Path, cfg: dict) -> str:
    label = cfg["method"]
    if cfg["method"] == "palette":
        label += f" ({cfg['diffusion']['parameterization']}, {Path(eval_dir).name[len(cfg['eval_set']) + 1:]})"
    return label


def _inputs(cfg: dict) -> dict:
    """What names an evaluation's inputs; a multi-task model's set is its member task's, as the task-specific model's is."""
    from palette_bench.tasks import get_task

    task = get_task(cfg["task"]).for_setting(cfg["eval_set"]).name
    return {"protocol": cfg["protocol"], "task": task, "eval_set": cfg["eval_set"], "image_size": cfg["image_size"]}


def figure_tiles(eval_dirs: list[str | Path], n: int = 8, samples: int = 3, labels: list[str] | None = None, root=None):
    """(column titles, rows of uint8 CHW tiles or None, title): input | each folder's first `samples` outputs | original."""
    from palette_bench.data.evalset import EvalSet
    from palette_bench.data.predictions import Predictions
    from palette_bench.images import to_uint8
    from palette_bench.protocols import load_protocol

    dirs = [Path(d) for d in eval_dirs]
    cfgs = [_eval_config(d) for d in dirs]
    shown = [_inputs(c) for c in cfgs]
    for d, c in zip(dirs[1:], shown[1:]):
        for key, value in c.items():
            if value != shown[0][key]:
                raise ValueError(f"{d}: evaluated on {key} {value!r}, {dirs[0]} on {shown[0][key]!r}; a figure shows one evaluation set")
    c0 = cfgs[0]
    protocol = load_protocol(c0["protocol"]).with_size(c0["image_size"])
    evalset = EvalSet(protocol, c0["task"], c0["eval_set"], n=n, root=root)
    columns = [("input", None, None)]
    preds = []
    for i, (d, c) in enumerate(zip(dirs, cfgs)):
        p = Predictions(d / "samples", EvalSet(protocol, c["task"], c["eval_set"], n=c["sample"]["n"] or None, root=root).positions, c["image_size"])
        preds.append(p)
        name = labels[i] if labels and i < len(labels) else _label(d, c)
        k_max = min(samples, p.samples)
        columns += [(f"{name}" + (f" #{k + 1}" if k_max > 1 else ""), i, k) for k in range(k_max)]
    columns.append(("original", None, None))
    rows = []
    for pos, index in enumerate(evalset.positions):
        item = evalset[pos]
        tiles = []
        for _, i, k in columns[:1]:
            tiles.append(to_uint8(item.degraded.condition.clamp(-1, 1)))
        for _, i, k in columns[1:-1]:
            p = preds[i]
            if index not in p.indices or (k > 0 and index not in p.diverse):
                tiles.append(None)
            else:
                tiles.append(p.load(index, k))
        tiles.append(to_uint8(item.image))
        rows.append(tiles)
    title = f"{c0['task']} / {c0['eval_set']} of {protocol.name}, {c0['image_size']} px: first {len(rows)} inputs"
    return [c[0] for c in columns], rows, title


def samples_figure(eval_dirs: list[str | Path], out: str | Path, n: int = 8, samples: int = 3, labels: list[str] | None = None, root=None) -> Path:
    """Write a PNG: one row per input (the first `n` of the set), columns input | outputs... | original."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns, rows, title = figure_tiles(eval_dirs, n, samples, labels, root)
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.1 * len(columns), 1.1 * len(rows) + 0.6), dpi=110, squeeze=False)
    for r, tiles in enumerate(rows):
        for c, tile in enumerate(tiles):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if tile is not None:
                ax.imshow(np.asarray(tile.permute(1, 2, 0)), interpolation="nearest")
            if r == 0:
                # wrapped: a column is 1.1 inch wide, and "palette (v, ddim20-logsnr) #1" would run into its neighbour
                ax.set_title("\n".join(textwrap.wrap(columns[c], 16)), fontsize=6)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return Path(out)
