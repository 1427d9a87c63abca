"""EDM2's post-hoc EMA: sigma_rel <-> gamma, the least-squares reconstruction, and a run's snapshots (resume, CLI)."""

import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from palette_bench.cli import main
from palette_bench.posthoc_ema import PowerEMAs, beta, gamma_of, sigma_rel_of, snapshots, solve_weights


def test_gamma_of_sigma_rel_matches_edm2():
    """EDM2 (Sec. 3) quotes gamma 16.97 for sigma_rel 0.05 and 6.94 for 0.10."""
    assert gamma_of(0.05) == pytest.approx(16.97, abs=0.01) and gamma_of(0.10) == pytest.approx(6.94, abs=0.01)
    for s in (0.01, 0.05, 0.2, 0.28):
        assert sigma_rel_of(gamma_of(s)) == pytest.approx(s, rel=1e-10)
    with pytest.raises(ValueError, match="outside"):
        gamma_of(0.3)


def _power_ema_path(theta, gamma):
    out, a = [], None
    for t in range(1, len(theta) + 1):
        a = theta[0] if t == 1 else beta(t, gamma) * a + (1 - beta(t, gamma)) * theta[t - 1]
        out.append(a)
    return np.array(out)


def test_reconstruction_recovers_tracked_lengths_exactly_and_interpolates_others():
    """On a scalar 'parameter' trajectory: the snapshots of sigma_rel 0.05 and 0.10 every 50 of 600 steps give back each
    tracked EMA exactly and an EMA of length 0.07 (not tracked) to 1e-3 of the trajectory's range."""
    steps = np.arange(1, 601)
    theta = np.sin(steps / 40.0) + steps / 300.0
    tracked = {s: _power_ema_path(theta, gamma_of(s)) for s in (0.05, 0.10)}
    ts, gs, values = [], [], []
    for t in range(50, 601, 50):
        for s, path in tracked.items():
            ts.append(t), gs.append(gamma_of(s)), values.append(path[t - 1])
    for s in (0.05, 0.10):
        w = solve_weights(ts, gs, 600, gamma_of(s))
        assert float(np.dot(w, values)) == pytest.approx(tracked[s][-1], abs=1e-9)
    direct = _power_ema_path(theta, gamma_of(0.07))[-1]
    assert abs(float(np.dot(solve_weights(ts, gs, 600, gamma_of(0.07)), values)) - direct) < 1e-3 * np.ptp(theta)
    assert abs(direct - tracked[0.05][-1]) > 0.05  # the lengths differ enough for the check to mean something


def test_power_emas_follow_the_recursion():
    model = torch.nn.Linear(3, 2)
    emas = PowerEMAs(model, (0.1,))
    seen = []
    for step in range(5):
        with torch.no_grad():
            model.weight.add_(1.0)
        seen.append(model.weight.detach().clone())
        emas.update(model, step)
    want = _power_ema_path([w.numpy() for w in seen], gamma_of(0.1))[-1]
    np.testing.assert_allclose(emas.averages[0.1][0].numpy(), want, rtol=1e-6)


def invoke(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


def test_a_run_keeps_snapshots_resumes_them_exactly_and_reconstructs(tmp_path, small):
    common = ["run", "--task", "inpainting", "--preset", "smoke", "--protocol", small, "--stage", "train",
              "--set", "train.posthoc_ema=[0.05, 0.1]", "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=1"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    invoke(*common, "--run-dir", str(straight))
    assert [s for s, _ in snapshots(straight)] == [2, 4]
    # a run killed after step 2: its step-4 files are gone, the step-2 checkpoint holds the power EMAs
    shutil.copytree(straight, resumed)
    (resumed / "posthoc-ema" / "snapshot-00000004.pt").unlink()
    (resumed / "checkpoints" / "ckpt-00000004.pt").unlink()
    invoke(*common, "--run-dir", str(resumed))
    a = torch.load(straight / "posthoc-ema" / "snapshot-00000004.pt", weights_only=True)["emas"]
    b = torch.load(resumed / "posthoc-ema" / "snapshot-00000004.pt", weights_only=True)["emas"]
    assert set(a) == {"0.05", "0.1"}
    for k in a:
        for name in a[k]:
            assert torch.equal(a[k][name], b[k][name]), (k, name)
    res = invoke("ema", str(straight), "--sigma-rel", "0.1,0.07")
    assert "profile error" in res.output
    rebuilt = torch.load(straight / "posthoc-ema" / "ema-0.1-step00000004.pt", weights_only=True)
    for name, v in a["0.1"].items():
        if v.is_floating_point():
            torch.testing.assert_close(rebuilt["ema"][name], v, rtol=1e-5, atol=1e-6)
    other = torch.load(straight / "posthoc-ema" / "ema-0.07-step00000004.pt", weights_only=True)
    assert any(not torch.equal(other["ema"][n], a["0.1"][n]) for n in a["0.1"] if a["0.1"][n].is_floating_point())
    res = invoke("ema", str(straight), "--sigma-rel", "0.1", "--evaluate")
    evals = list((straight / "eval").glob("*-step4-ema0.1/metrics.json"))
    assert len(evals) == 1 and "fid" in res.output
