"""Weights management: standard locations, checksum verification, one-line messages, offline status."""

import hashlib
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from palette_bench import weights as W
from palette_bench.cli import main


def test_status_offline_shows_every_weight_missing(tmp_path):
    res = CliRunner().invoke(main, ["weights", "status", "--json"])
    assert res.exit_code == 0
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} == {"inception-v3", "resnet50", "alexnet", "dinov2-vitl14", "clip-vitl14-336"}
    for r in rows:
        assert not r["present"] and not r["sha256_ok"]
        # the standard place: torch.hub's checkpoints folder under $TORCH_HOME, with the standard file name
        assert r["path"] == str(tmp_path / "torch-home" / "hub" / "checkpoints" / W.WEIGHTS[r["name"]].filename)


def test_clip_is_found_where_openais_library_saves_it_and_dinov2_is_listed_with_its_own_digest(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    clip_dir = tmp_path / "home" / ".cache" / "clip"
    clip_dir.mkdir(parents=True)
    (clip_dir / "ViT-L-14-336px.pt").write_bytes(b"not OpenAI's file")
    hub = tmp_path / "torch-home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "dinov2_vitl14_pretrain.pth").write_bytes(b"some DINOv2 file")
    rows = {r["name"]: r for r in W.status()}
    assert rows["clip-vitl14-336"]["path"] == str(clip_dir / "ViT-L-14-336px.pt") and not rows["clip-vitl14-336"]["sha256_ok"]
    with pytest.raises(W.WeightsError, match="does not match the expected 3035c92b"):
        W.resolve("clip-vitl14-336")
    dino = W.resolve("dinov2-vitl14")  # nothing published to check against: used, and marked unverified
    assert not dino.verified and dino.sha256 == hashlib.sha256(b"some DINOv2 file").hexdigest()
    res = CliRunner().invoke(main, ["weights", "verify"])
    assert res.exit_code == 1  # the others are missing, CLIP mismatches
    line = next(x for x in res.output.splitlines() if x.startswith("dinov2-vitl14"))
    assert f"present, no published sha256 to check (this file: {dino.sha256})" in line


def test_weights_dir_overrides(tmp_path):
    rows = W.status(tmp_path / "mine")
    assert all(r["path"].startswith(str(tmp_path / "mine")) for r in rows)


def test_missing_weight_is_one_line_naming_file_url_and_place(tmp_path):
    with pytest.raises(W.WeightsError) as e:
        W.resolve("inception-v3")
    msg = str(e.value)
    path = tmp_path / "torch-home" / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    assert "\n" not in msg and f"save it at exactly {path}" in msg and W.WEIGHTS["inception-v3"].url in msg


def test_metric_needing_a_missing_weight_fails_with_that_line(tmp_path):
    from standins import natural_images, write_pngs

    folder = write_pngs(tmp_path / "imgs", natural_images(2, 32))
    env = {"TORCH_HOME": str(tmp_path / "torch-home"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "palette_bench.cli", "eval", "--pred", str(folder), "--ref", str(folder), "--metrics", "lpips"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "alexnet-owt-7be5be79.pth" in lines[0] and "download https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in lines[0]


def test_mismatching_file_is_refused_unless_allowed(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / W.WEIGHTS["resnet50"].filename).write_bytes(b"not the real weights")
    with pytest.raises(W.WeightsError, match="does not match the expected 0676ba61"):
        W.resolve("resnet50", folder)
    r = W.resolve("resnet50", folder, allow_unverified=True)
    assert not r.verified and r.sha256 == hashlib.sha256(b"not the real weights").hexdigest()
    res = CliRunner().invoke(main, ["weights", "verify", "--weights-dir", str(folder)])
    assert res.exit_code == 1 and "sha256 mismatch" in res.output


def test_matching_file_is_verified(tmp_path, monkeypatch):
    folder = tmp_path / "w"
    folder.mkdir()
    data = b"pretend these are the weights"
    (folder / W.WEIGHTS["alexnet"].filename).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    monkeypatch.setitem(W.WEIGHTS, "alexnet", W.WeightSpec("alexnet", W.WEIGHTS["alexnet"].filename, "u", digest[:8], "d", "m"))
    assert W.resolve("alexnet", folder).verified  # hash-prefix rule, as torch.hub checks file names
    monkeypatch.setitem(W.WEIGHTS, "alexnet", W.WeightSpec("alexnet", W.WEIGHTS["alexnet"].filename, "u", digest[:8] + "0" * 56, "d", "m"))
    with pytest.raises(W.WeightsError):
        W.resolve("alexnet", folder)  # a full digest must match in full


def test_fetch_downloads_and_verifies(tmp_path, monkeypatch):
    src = tmp_path / "remote.pth"
    src.write_bytes(b"weights over the wire")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "w"
    with pytest.raises(W.WeightsError, match="expected 7be5be79"):
        W.fetch("alexnet", dest, url=src.as_uri())
    assert not (dest / W.WEIGHTS["alexnet"].filename).exists()  # a wrong download is not left in place
    monkeypatch.setitem(W.WEIGHTS, "alexnet", W.WeightSpec("alexnet", W.WEIGHTS["alexnet"].filename, src.as_uri(), digest, "d", "m"))
    path = W.fetch("alexnet", dest)
    assert path.read_bytes() == src.read_bytes() and W.status(dest)[2]["sha256_ok"]


def test_unreadable_weights_file_is_one_line(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / W.WEIGHTS["resnet50"].filename).write_bytes(b"garbage")
    with pytest.raises(W.WeightsError, match="cannot read weights file"):
        W.load_state_dict(W.resolve("resnet50", folder, allow_unverified=True))
