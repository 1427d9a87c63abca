"""EDM2's post-hoc EMA (Karras et al. 2024, "Analyzing and improving the training dynamics of diffusion models", Sec. 3):
choose the EMA length after training.

During training, `train.posthoc_ema` lists relative EMA lengths sigma_rel; each is tracked as a
power-function EMA, theta_hat_t = beta_t theta_hat_{t-1} + (1 - beta_t) theta_t with
beta_t = (1 - 1/t)^(gamma + 1), whose weight on the iterate of step tau <= t is the profile
p(tau) = (gamma + 1) tau^gamma / t^(gamma + 1): a fixed fraction of the run, however long it is.
gamma and sigma_rel (the profile's standard deviation over its length) are related by
sigma_rel = sqrt(gamma + 1) / ((gamma + 2) sqrt(gamma + 3)) (EDM2, Eq. 3).

At every checkpoint the tracked EMAs are kept as a snapshot (posthoc-ema/snapshot-<step>.pt).
Afterwards any EMA length at any snapshot step is reconstructed as a weighted sum of the snapshots:
the weights minimise the squared distance between the sum's profile and the wanted profile, with the
profiles' inner products in closed form (EDM2, Appendix C.3):

    <p_a, p_b> = (gamma_a + 1)(gamma_b + 1) min(t_a, t_b)^(gamma_a + gamma_b + 1) / ((gamma_a + gamma_b + 1) t_a^(gamma_a + 1) t_b^(gamma_b + 1)).

Written here because EDM2's reference code (posthoc_reconstruction.py) is a script over its own
pickles, not a library; the formulas are the paper's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

SNAPSHOTS = "posthoc-ema"


def sigma_rel_of(gamma: float) -> float:
    return math.sqrt(gamma + 1) / ((gamma + 2) * math.sqrt(gamma + 3))


def gamma_of(sigma_rel: float) -> float:
    """The exponent gamma >= 0 whose profile has relative standard deviation sigma_rel (bisection: on gamma >= 0,
    sigma_rel falls from 1/sqrt(12) as gamma grows; EDM2 takes the same root of its cubic)."""
    top = sigma_rel_of(0.0)
    if not 0 < sigma_rel <= top:
        raise ValueError(f"sigma_rel {sigma_rel} is outside (0, {top:.4f}]")
    lo, hi = 0.0, 1e8
    for _ in range(200):
        mid = math.sqrt((lo + 1) * (hi + 1)) - 1  # geometric in gamma + 1: the range spans many decades
        lo, hi = (mid, hi) if sigma_rel_of(mid) > sigma_rel else (lo, mid)
    return 0.5 * (lo + hi)


def beta(step: int, gamma: float) -> float:
    """The power-function EMA's decay at its `step`-th update (1-based): the first update copies the weights."""
    return (1.0 - 1.0 / step) ** (gamma + 1.0)


class PowerEMAs:
    """The power-function EMAs of one model, one per sigma_rel, updated after each optimizer step."""

    def __init__(self, model: torch.nn.Module, sigma_rels):
        self.sigma_rels = tuple(float(s) for s in sigma_rels)
        self.gammas = {s: gamma_of(s) for s in self.sigma_rels}
        self.averages = {s: [p.detach().clone() for p in model.parameters()] for s in self.sigma_rels}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """After the optimizer step that ends training step `step` (0-based): the (step + 1)-th update."""
        params = list(model.parameters())
        for s, avg in self.averages.items():
            w = 1.0 - beta(step + 1, self.gammas[s])
            for a, p in zip(avg, params):
                a.lerp_(p, w)

    def state_dicts(self, model: torch.nn.Module) -> dict[str, dict]:
        """{sigma_rel: a state dict of `model` with the averaged parameters} (buffers are the model's own)."""
        out = {}
        names = [n for n, _ in model.named_parameters()]
        base = model.state_dict()
        for s, avg in self.averages.items():
            sd = {k: v.clone() for k, v in base.items()}
            sd.update({n: a.clone() for n, a in zip(names, avg)})
            out[f"{s:g}"] = sd
        return out

    def load(self, model: torch.nn.Module, saved: dict[str, dict]) -> None:
        names = [n for n, _ in model.named_parameters()]
        for s in self.sigma_rels:
            sd = saved[f"{s:g}"]
            for a, n in zip(self.averages[s], names):
                a.copy_(sd[n])


def inner_products(ts_a, gammas_a, ts_b, gammas_b) -> np.ndarray:
    """<p_{t_a, gamma_a}, p_{t_b, gamma_b}> for every pair, in float64."""
    ta, ga = np.asarray(ts_a, np.float64)[:, None], np.asarray(gammas_a, np.float64)[:, None]
    tb, gb = np.asarray(ts_b, np.float64)[None, :], np.asarray(gammas_b, np.float64)[None, :]
    g = ga + gb + 1.0
    # in logs: t^(gamma + 1) overflows float64 for t ~ 1e5 and gamma ~ 20
    log = np.log(ga + 1) + np.log(gb + 1) + g * np.log(np.minimum(ta, tb)) - np.log(g) - (ga + 1) * np.log(ta) - (gb + 1) * np.log(tb)
    return np.exp(log)


def solve_weights(snapshot_ts, snapshot_gammas, target_t: float, target_gamma: float) -> np.ndarray:
    """The snapshot weights whose summed profile is closest (L2) to the target profile."""
    a = inner_products(snapshot_ts, snapshot_gammas, snapshot_ts, snapshot_gammas)
    b = inner_products(snapshot_ts, snapshot_gammas, [target_t], [target_gamma])[:, 0]
    return np.linalg.lstsq(a, b, rcond=None)[0]


def snapshots(run_dir: Path) -> list[tuple[int, Path]]:
    return sorted((int(p.stem.split("-")[1]), p) for p in (Path(run_dir) / SNAPSHOTS).glob("snapshot-*.pt"))


def reconstruct(run_dir: Path, sigma_rel: float, step: int | None = None) -> tuple[dict, dict]:
    """(state dict, info) of the EMA of length sigma_rel at snapshot step `step` (default: the last), from the snapshots up to it."""
    found = [(s, p) for s, p in snapshots(run_dir) if step is None or s <= step]
    if not found:
        raise FileNotFoundError(f"{Path(run_dir) / SNAPSHOTS}: no post-hoc EMA snapshots (train with --set train.posthoc_ema=[0.05,0.1])")
    step = found[-1][0] if step is None else step
    if found[-1][0] != step:
        raise FileNotFoundError(f"{Path(run_dir) / SNAPSHOTS}: no snapshot at step {step} (have {', '.join(str(s) for s, _ in found)})")
    states = [(s, torch.load(p, weights_only=True, map_location="cpu")) for s, p in found]
    by_step = dict(states)
    keys = [(s, k) for s, st in states for k in st["emas"]]
    ts = [s for s, _ in keys]
    gammas = [gamma_of(float(k)) for _, k in keys]
    w = solve_weights(ts, gammas, step, gamma_of(sigma_rel))
    out = None
    for weight, (s, k) in zip(w, keys):
        sd = by_step[s]["emas"][k]
        if out is None:
            out = {n: (v.double() * weight if v.is_floating_point() else v.clone()) for n, v in sd.items()}
        else:
            for n, v in sd.items():
                if v.is_floating_point():
                    out[n] += v.double() * weight
    last = states[-1][1]["emas"][keys[-1][1]]
    out = {n: v.to(last[n].dtype) for n, v in out.items()}
    # profile error: how far the weighted snapshots' profile is from the wanted one, relative to its norm
    a = inner_products(ts, gammas, ts, gammas)
    b = inner_products(ts, gammas, [step], [gamma_of(sigma_rel)])[:, 0]
    target_norm = inner_products([step], [gamma_of(sigma_rel)], [step], [gamma_of(sigma_rel)])[0, 0]
    residual = max(float(w @ a @ w - 2 * w @ b + target_norm), 0.0)
    info = {"sigma_rel": sigma_rel, "step": step, "snapshots": len(keys), "weights_sum": float(w.sum()), "profile_error": math.sqrt(residual / target_norm)}
    return out, info
