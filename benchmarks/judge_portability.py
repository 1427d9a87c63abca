"""How far builtin-protocol results move when the judge is retrained on another machine instead of shipped.

Usage: python benchmarks/judge_portability.py EVAL_DIR [EVAL_DIR ...] [--out FILE.json]

Another CPU rounds differently, and training amplifies the last bit into other weights. This script
makes such a judge here: the default judge's exact recipe (`palette-bench judge train`) with
PyTorch's oneDNN convolutions switched off, so that the plain CPU kernels, which sum in another
order, stand in for another machine's. It then evaluates each given evaluation folder's outputs
(a run's eval/<name>/samples) with the packaged judge and with that one, on the same inputs, and
prints each metric under both and their difference, and for every pair of folders the FID and CA
difference under each judge: the numbers a user on another machine would get, had they retrained.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from pathlib import Path

import torch

from palette_bench.evaluate import EvalOptions, evaluate_protocol
from palette_bench.metrics import judge
from palette_bench.protocols import load_protocol

METRICS = ("fid", "is", "ca", "pd")


def retrained_elsewhere() -> tuple[judge.JudgeNet, str, float]:
    """The default judge's recipe trained with oneDNN off: (model, sha256 of its file, training seconds)."""
    start = time.perf_counter()
    with torch.backends.mkldnn.flags(enabled=False):
        data, _ = judge.judge_bytes()
    seconds = time.perf_counter() - start
    model = judge.JudgeNet()
    model.load_state_dict(torch.load(io.BytesIO(data), weights_only=True)["state_dict"])
    return model.eval(), hashlib.sha256(data).hexdigest(), seconds


def evaluate(folder: Path, model=None) -> dict:
    """The folder's metrics with the packaged judge, or with `model` in its place."""
    result = json.loads((folder / "metrics.json").read_text())
    protocol = load_protocol(result["protocol"]).with_size(result["image_size"])
    original = judge.load_packaged
    if model is not None:
        judge.load_packaged = lambda path=None: (model, "retrained-" + judge.PACKAGED_SHA256[:8])
    try:
        # the reference features are cached under the judge's digest, so each judge gets its own
        m = evaluate_protocol(protocol, result["task"], result["eval_set"], folder / "samples", EvalOptions(metrics=METRICS, bootstrap=0, progress=False), n=result["n"])["metrics"]
    finally:
        judge.load_packaged = original
    return {"fid": m["fid"]["value"], "is": m["is"]["value"], "ca": m["ca_top1"]["value"], "pd": m["pd"]["value"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evals", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    model, sha, seconds = retrained_elsewhere()
    print(f"retrained judge (oneDNN off): sha256 {sha[:12]}… ({'the packaged file' if sha == judge.PACKAGED_SHA256 else 'not the packaged file'}), {seconds:.0f} s")
    print(f"test top-1: packaged {judge.judge_accuracy(judge.load_packaged()[0]):.4f}, retrained {judge.judge_accuracy(model):.4f}")
    rows = {}
    for folder in args.evals:
        rows[str(folder)] = {"packaged": evaluate(folder), "retrained": evaluate(folder, model)}
        p, r = rows[str(folder)]["packaged"], rows[str(folder)]["retrained"]
        print(f"{folder}: " + ", ".join(f"{k} {p[k]:.4g} -> {r[k]:.4g} ({r[k] - p[k]:+.3g})" for k in p))
    names = list(rows)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            d = {j: {k: rows[a][j][k] - rows[b][j][k] for k in ("fid", "ca")} for j in ("packaged", "retrained")}
            print(f"{Path(a).parent.parent.name}/{Path(a).name} - {Path(b).parent.parent.name}/{Path(b).name}: "
                  f"FID {d['packaged']['fid']:+.3f} (packaged) vs {d['retrained']['fid']:+.3f} (retrained); CA {d['packaged']['ca']:+.4f} vs {d['retrained']['ca']:+.4f}")
    if args.out:
        args.out.write_text(json.dumps({"retrained_sha256": sha, "train_seconds": seconds, "evaluations": rows}, indent=2))


if __name__ == "__main__":
    main()
