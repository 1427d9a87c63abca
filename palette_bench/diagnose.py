"""`palette-bench diagnose`: how good a trained Palette network's one-call predictions are at each noise level.

For each gamma of a fixed grid the originals of n evaluation inputs are noised,
y_t = sqrt(gamma) y0 + sqrt(1 - gamma) eps (eps seeded per input), the network is called once, and
its output is read as (eps_hat, y0_hat) through its parameterization. Reported per gamma, inside
the mask (the whole image for tasks without one), averaged over inputs:

    eps_mse          |eps_hat - eps|^2
    x0_mse           |clip(y0_hat, -1, 1) - y0|^2, the clean-image estimate as the samplers use it
    grey_mse         |0 - y0|^2: predicting mid-grey, the floor any useful y0_hat must beat
    mean_colour_mse  |m - y0|^2 with m each hole's true per-channel mean colour (an oracle reference)

The samplers start at the noisiest gamma, so an x0_mse above grey_mse there means they start from a
wrong colour. The two references do not depend on gamma; they are repeated in each row for reading.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import torch

from palette_bench.io import atomic_write_bytes, atomic_write_json
from palette_bench.models.diffusion import draw_noise, eps_and_y0, logit, masked_error, network_input, q_sample
from palette_bench.seeding import generator_for

GAMMAS = (0.9, 0.5, 0.2, 0.05, 0.01, 1e-3, 1e-4)  # the training schedule's smallest gamma is added to these
COLUMNS = ("eps_mse", "x0_mse", "grey_mse", "mean_colour_mse")


def mean_colour(y0: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Each example's per-channel mean colour inside its mask (of the whole image without one), as an image [B, C, H, W]."""
    dims = (2, 3)
    if mask is None:
        return y0.mean(dim=dims, keepdim=True).expand_as(y0)
    total = (mask * y0).sum(dim=dims, keepdim=True)
    return (total / mask.sum(dim=dims, keepdim=True).clamp_min(1e-12)).expand_as(y0)


@torch.no_grad()
def errors_at(model, y0, condition, mask, eps, gamma: float, parameterization: str = "eps") -> dict[str, torch.Tensor]:
    """Per-example squared errors [B] (see the module docstring) of one network call at noise level `gamma`.

    `gamma` is used as given everywhere (noise, network input, conversion); pass a float32-representable
    value so that the network, which takes gamma in float32, sees exactly the level the input was noised at.
    """
    b = y0.shape[0]
    y_t = q_sample(y0, torch.full((b,), gamma, dtype=torch.float64), eps)
    output = model(network_input(condition, y_t, y0, mask, gamma, parameterization), torch.full((b,), gamma, dtype=torch.float32, device=y0.device))
    eps_hat, y0_hat = eps_and_y0(output.to(y0.dtype), y_t, gamma, parameterization)
    return {
        "eps_mse": masked_error(eps_hat, eps, mask),
        "x0_mse": masked_error(y0_hat.clamp(-1.0, 1.0), y0, mask),
        "grey_mse": masked_error(torch.zeros_like(y0), y0, mask),
        "mean_colour_mse": masked_error(mean_colour(y0, mask), y0, mask),
    }


def grid(gamma_min: float) -> list[float]:
    """GAMMAS and the training schedule's smallest gamma, rounded to float32 (what the network is given), noisiest last."""
    values = {float(torch.tensor(g, dtype=torch.float32)) for g in (*GAMMAS, gamma_min)}
    return sorted(values, reverse=True)


@torch.no_grad()
def diagnose(model, evalset, gammas, parameterization: str, seed: int, batch_size: int = 64, device="cpu") -> list[dict]:
    """One row per gamma: the mean over the evaluation inputs of each column, with log-SNR = log(gamma / (1 - gamma))."""
    sums = {g: {c: 0.0 for c in COLUMNS} for g in gammas}
    n = len(evalset)
    for start in range(0, n, batch_size):
        items = [evalset[k] for k in range(start, min(n, start + batch_size))]
        y0 = torch.stack([it.image for it in items]).to(device)
        condition = torch.stack([it.degraded.condition for it in items]).to(device)
        mask = None if items[0].degraded.mask is None else torch.stack([it.degraded.mask for it in items]).to(device)
        # one eps per input for every gamma, keyed to the input, so a row does not depend on the batch
        eps = draw_noise(y0.shape[1:], [generator_for("diagnose", seed, it.index) for it in items]).to(device)
        for g in gammas:
            for c, v in errors_at(model, y0, condition, mask, eps, g, parameterization).items():
                sums[g][c] += v.double().sum().item()
    return [{"gamma": g, "log_snr": logit(g), **{c: sums[g][c] / n for c in COLUMNS}} for g in gammas]


def diagnose_run(run_dir, n: int = 64, out=None, root=None, device=None, batch_size: int = 64) -> dict:
    """Diagnose the last checkpoint (EMA weights) of a Palette run on the first n inputs of its evaluation set.

    Writes diagnose.json and diagnose.png into `out` (default: the run folder) and returns the result.
    The default n and batch size make it one batch: eight network calls in all.
    """
    from palette_bench.data.evalset import EvalSet
    from palette_bench.methods import get_method
    from palette_bench.methods.palette import schedules
    from palette_bench.protocols import load_protocol
    from palette_bench.run import finalize, load_run_config
    from palette_bench.train import checkpoints, load_checkpoint, network_from_state

    run_dir = Path(run_dir)
    cfg = finalize(load_run_config(run_dir))
    if not get_method(cfg.method).stochastic:
        raise ValueError(f"{run_dir}: diagnose needs a diffusion run (method palette), not '{cfg.method}'")
    found = checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"{run_dir / 'checkpoints'}: no checkpoint to diagnose (run --stage train first)")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    state = load_checkpoint(found[-1], device)
    model = network_from_state(replace(cfg, sample=replace(cfg.sample, use_ema=True)), state, device)
    protocol = load_protocol(cfg.protocol).with_size(cfg.image_size)
    evalset = EvalSet(protocol, cfg.task, cfg.eval_set, n=min(n, protocol.eval_set(cfg.task, cfg.eval_set).n), root=root)
    gamma_min = schedules(cfg)[0].gammas[-1].item()
    rows = diagnose(model, evalset, grid(gamma_min), cfg.diffusion.parameterization, cfg.seed, batch_size, device)
    result = {
        "run": str(run_dir),
        "checkpoint": found[-1].name,
        "step": state["step"],
        "task": cfg.task,
        "eval_set": cfg.eval_set,
        "n": len(evalset),
        "masked": evalset[0].degraded.mask is not None if len(evalset) else False,
        "parameterization": cfg.diffusion.parameterization,
        "train_gamma_min": gamma_min,
        "rows": rows,
    }
    out = Path(out) if out else run_dir
    atomic_write_json(out / "diagnose.json", result)
    title = f"{run_dir.name} step {state['step']} ({cfg.diffusion.parameterization}, n={len(evalset)})"
    atomic_write_bytes(out / "diagnose.png", plot(rows, title))
    return result


def table(result: dict) -> str:
    """The rows as a fixed-width text table."""
    head = f"{'gamma':>9} {'log-SNR':>8} {'eps MSE':>10} {'x0_hat MSE':>11} {'grey MSE':>10} {'mean-colour MSE':>16}"
    lines = [head]
    for r in result["rows"]:
        lines.append(f"{r['gamma']:>9.3g} {r['log_snr']:>8.2f} {r['eps_mse']:>10.4g} {r['x0_mse']:>11.4g} {r['grey_mse']:>10.4g} {r['mean_colour_mse']:>16.4g}")
    where = "inside the mask" if result.get("masked") else "over the whole image"
    return "\n".join([f"{result['run']} ({result['checkpoint']}, {result['parameterization']}, n={result['n']}, MSE {where}):", *lines])


# Drawn with PIL, a dependency already: matplotlib is not installed with palette-bench, and one
# log-log line chart does not justify adding it.
PLOT_COLOURS = {"eps_mse": (31, 119, 180), "x0_mse": (214, 39, 40), "grey_mse": (127, 127, 127), "mean_colour_mse": (44, 160, 44)}
PLOT_LABELS = {"eps_mse": "eps MSE", "x0_mse": "x0_hat MSE", "grey_mse": "grey MSE", "mean_colour_mse": "mean-colour MSE"}


def plot(rows: list[dict], title: str = "", size=(720, 460)) -> bytes:
    """PNG bytes of the four MSE columns against gamma, both axes logarithmic (MSEs floored at 1e-6)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    left, right, top, bottom = 70, 190, 34, 48
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    lx = [math.log10(r["gamma"]) for r in rows]
    ly = {c: [math.log10(max(r[c], 1e-6)) for r in rows] for c in COLUMNS}
    x0, x1 = math.floor(min(lx)), 0
    y0, y1 = math.floor(min(min(v) for v in ly.values())), math.ceil(max(max(v) for v in ly.values()))
    y1 = max(y1, y0 + 1)

    def px(x, y):
        return left + (x - x0) / (x1 - x0) * (w - left - right), top + (y1 - y) / (y1 - y0) * (h - top - bottom)

    for e in range(x0, x1 + 1):  # decades of gamma
        (gx, _), (_, gy) = px(e, y0), px(x0, y0)
        d.line([(gx, top), (gx, gy)], fill=(225, 225, 225))
        d.text((gx - 12, gy + 6), f"1e{e}", fill="black", font=font)
    for e in range(y0, y1 + 1):  # decades of MSE
        (_, gy), (gx, _) = px(x0, e), px(x1, e)
        d.line([(left, gy), (gx, gy)], fill=(225, 225, 225))
        d.text((8, gy - 6), f"1e{e}", fill="black", font=font)
    d.rectangle([px(x0, y1), px(x1, y0)], outline="black")
    d.text((left + (w - left - right) / 2 - 60, h - 20), "gamma (log; noisier to the left)", fill="black", font=font)
    d.text((left, 10), title, fill="black", font=font)
    for i, c in enumerate(COLUMNS):
        points = [px(x, y) for x, y in zip(lx, ly[c])]
        d.line(points, fill=PLOT_COLOURS[c], width=2)
        for x, y in points:
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=PLOT_COLOURS[c])
        ky = top + 10 + 18 * i
        d.line([(w - right + 14, ky), (w - right + 36, ky)], fill=PLOT_COLOURS[c], width=2)
        d.text((w - right + 42, ky - 6), PLOT_LABELS[c], fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


__all__ = ["COLUMNS", "GAMMAS", "diagnose", "diagnose_run", "errors_at", "grid", "mean_colour", "plot", "table"]
