"""The builtin judge ranks known corruptions of the originals in the order of their strength (slow: the default judge).

A benchmark whose feature space cannot order blur, noise and wrong colours cannot order methods
either. The corruptions hit only the generated half of uncropping's `right` set at the `cpu`
preset's 32 px, as a method's errors would.
"""

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from palette_bench.data.evalset import EvalSet
from palette_bench.evaluate import EvalOptions, evaluate_protocol
from palette_bench.images import to_uint8
from palette_bench.metrics import judge
from palette_bench.protocols import load_protocol

# Read at import, before conftest's autouse fixture points PALETTE_BENCH_CACHE at a per-test folder:
# the default judge and the 32 px reference features are the ones the main job caches.
USER_CACHE = judge.default_cache_dir().parent
N = 200


def blur(x, sigma):
    k = int(2 * round(3 * sigma) + 1)
    return TF.gaussian_blur(x, [k, k], [sigma, sigma])


def noise(x, sigma):
    return (x + 2 * sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)


def hue(x, degrees):
    return TF.adjust_hue((x + 1) / 2, degrees / 360) * 2 - 1


@pytest.fixture(scope="module")
def uncropping_originals():
    protocol = load_protocol("builtin").with_size(32)
    items = [EvalSet(protocol, "uncropping", "right", n=N)[k] for k in range(N)]
    return protocol, [it.index for it in items], torch.stack([it.image for it in items]), torch.stack([it.degraded.mask for it in items]).bool()


def scores(tmp_path, uncropping_originals, corrupt, level) -> dict:
    protocol, idx, orig, mask = uncropping_originals
    out = to_uint8(torch.where(mask, corrupt(orig, level), orig) if level else orig)
    folder = tmp_path / f"{corrupt.__name__}{level}"
    folder.mkdir()
    for i, image in zip(idx, out):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:06d}.png")
    m = evaluate_protocol(protocol, "uncropping", "right", folder, EvalOptions(metrics=("fid", "pd", "ca"), bootstrap=0, progress=False), n=N)["metrics"]
    return {"fid": m["fid"]["value"], "pd": m["pd"]["value"], "ca": m["ca_top1"]["value"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "corrupt,levels,ordered",
    [
        # sigma in pixels at 32 px; sigma = 1 is not separated from the originals by FID at 200 inputs
        (blur, [0, 2, 4], ("fid", "pd", "ca")),
        (noise, [0, 0.1, 0.2, 0.4], ("fid", "pd", "ca")),
        # Past about 36 degrees every shape wears another class's hue (classes are 36 degrees apart), so CA and
        # PD bottom out there; FID keeps rising as the whole hue distribution moves away from the reference's.
        (hue, [0, 30, 60], ("fid", "pd", "ca")),
        (hue, [60, 120, 180], ("fid",)),
    ],
)
def test_judge_orders_corruptions_by_strength(tmp_path, monkeypatch, uncropping_originals, corrupt, levels, ordered):
    monkeypatch.setenv("PALETTE_BENCH_CACHE", str(USER_CACHE))
    rows = [scores(tmp_path, uncropping_originals, corrupt, level) for level in levels]
    for key in ordered:
        values = [r[key] for r in rows]
        steps = np.diff(values) * (1 if key in ("fid", "pd") else -1)  # worse = larger FID and PD, smaller CA
        assert (steps > 0).all(), (corrupt.__name__, key, list(zip(levels, values)))
