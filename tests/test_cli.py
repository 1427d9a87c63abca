"""The command line as a user runs it: separate processes, exit codes, one-line errors."""

import json
import subprocess
import sys

from click.testing import CliRunner
from PIL import Image

from palette_bench.cli import main


def run_cli(*args):
    """Run palette-bench in a fresh Python process (a separate run, as a user would)."""
    return subprocess.run([sys.executable, "-m", "palette_bench.cli", *args], capture_output=True, text=True, timeout=300)


def test_digest_is_the_same_in_two_separate_runs():
    args = ["data", "stats", "--task", "inpainting", "--eval-set", "ff20-30", "--n", "8", "--json"]
    a, b = run_cli(*args), run_cli(*args)
    assert a.returncode == 0, a.stderr
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert da["digest"] == db["digest"] and len(da["digest"]) == 64
    assert {"coverage_mean", "coverage_min", "coverage_max"} <= set(da)


def test_stats_with_other_batch_size_gives_the_same_digest():
    r = CliRunner()
    base = ["data", "stats", "--task", "uncropping", "--eval-set", "right", "--size", "32", "--n", "9", "--json"]
    a = json.loads(r.invoke(main, base).output)
    b = json.loads(r.invoke(main, base + ["--batch-size", "2"]).output)
    assert a["digest"] == b["digest"] and a["coverage_mean"] == 0.5


def test_help_lists_the_subcommands():
    out = CliRunner().invoke(main, ["--help"]).output
    for cmd in ("run", "diagnose", "report", "eval", "weights", "data", "model"):
        assert f"  {cmd} " in out


def test_preview_writes_a_grid(tmp_path):
    out = tmp_path / "grid.png"
    res = CliRunner().invoke(main, ["data", "preview", "--task", "inpainting", "--eval-set", "ff20-30", "--n", "8", "--out", str(out)])
    assert res.exit_code == 0, res.output
    w, h = Image.open(out).size
    # 4 triplets per row, 2 rows of 64 px tiles with 2 px padding
    assert (w, h) == (12 * 66 + 2, 2 * 66 + 2)


def test_check_builtin_passes_and_imagenet_without_data_fails(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGENET_VAL", raising=False)
    r = CliRunner()
    assert r.invoke(main, ["data", "check", "--protocol", "builtin"]).exit_code == 0
    res = r.invoke(main, ["data", "check", "--protocol", "imagenet-ctest10k"])
    assert res.exit_code == 1 and "set IMAGENET_VAL=" in res.output
    res = r.invoke(main, ["data", "check", "--protocol", "imagenet-ctest10k", "--root", str(tmp_path)])
    assert res.exit_code == 1
    assert f"{tmp_path / 'ctest10k.txt'}: missing; download the ctest10k list" in res.output


def test_check_reports_present_and_missing_images(tmp_path, imagenet_val):
    root, _ = imagenet_val
    proto = tmp_path / "p.toml"
    text = (
        'name = "p"\ndescription = ""\nimage_size = 32\ndiversity_samples = 2\n'
        '[dataset]\nkind = "imagenet"\nroot_env = "MY_VAL"\nfile_list = "ctest10k.txt"\nlabels = "auto"\nn = 8\n'
        '[reference]\nkind = "imagenet"\nroot_env = "MY_VAL"\nn = 8\n[tasks]\n'
    )
    proto.write_text(text)
    r = CliRunner()
    res = r.invoke(main, ["data", "check", "--protocol", str(proto)], env={"MY_VAL": str(root)})
    assert res.exit_code == 0, res.output
    assert "8 of 8 images present" in res.output and "from the devkit" in res.output
    (root / "ILSVRC2012_val_00000007.JPEG").unlink()
    res = r.invoke(main, ["data", "check", "--protocol", str(proto), "--json"], env={"MY_VAL": str(root)})
    assert res.exit_code == 1
    findings = {f["item"]: f for f in json.loads(res.output)}
    assert not findings["evaluation images"]["ok"] and "ILSVRC2012_val_00000007.JPEG" in findings["evaluation images"]["detail"]
    assert not findings["reference images"]["ok"]


def test_bad_file_is_one_line_naming_it_and_skip_bad_counts(tmp_path, imagenet_val):
    root, _ = imagenet_val
    (root / "ILSVRC2012_val_00000002.JPEG").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    proto = tmp_path / "p.toml"
    proto.write_text(
        'name = "p"\ndescription = ""\nimage_size = 32\ndiversity_samples = 2\n'
        f'[dataset]\nkind = "imagenet"\nroot = "{root}"\nfile_list = "ctest10k.txt"\nn = 8\n'
        f'[reference]\nkind = "imagenet"\nroot = "{root}"\nn = 8\n[tasks.jpeg]\nq10 = {{ n = 8 }}\n'
    )
    res = run_cli("data", "stats", "--task", "jpeg", "--eval-set", "q10", "--protocol", str(proto), "--json")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "ILSVRC2012_val_00000002.JPEG" in lines[0] and "Traceback" not in res.stderr
    res = run_cli("data", "stats", "--task", "jpeg", "--eval-set", "q10", "--protocol", str(proto), "--json", "--skip-bad")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["skipped_bad_files"] == 1 and out["n"] == 7


def test_model_summary_of_the_paper_preset():
    """Built on the meta device: the 552.8M-parameter paper U-Net costs no memory. Palette reports 552M."""
    res = CliRunner().invoke(main, ["model", "summary", "--preset", "paper", "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["parameters"] == 552_814_083 and s["attention_at"] == [8, 16, 32]
    local = json.loads(CliRunner().invoke(main, ["model", "summary", "--preset", "paper", "--attention", "local", "--json"]).output)
    convs = json.loads(CliRunner().invoke(main, ["model", "summary", "--preset", "paper", "--attention", "dilated", "--json"]).output)
    assert local["parameters"] == s["parameters"] and convs["parameters"] > s["parameters"] and convs["attention"] == "dilated"


def test_check_decode_names_each_unreadable_file(tmp_path):
    """A folder protocol of JPEGs in synset folders, one truncated and one empty: --decode lists both and exits 1."""
    from conftest import make_image

    root = tmp_path / "images"
    for k, wnid in enumerate(["n01440764", "n01440764", "n01443537", "n01443537", "n01484850", "n01484850"]):
        make_image(root / wnid / f"img{k}.JPEG", size=(200, 200), seed=k)
    proto = tmp_path / "folder.toml"
    proto.write_text(
        'name = "folder"\ndescription = ""\nimage_size = 32\ndiversity_samples = 2\n'
        f'[dataset]\nkind = "folder"\nroot = "{root}"\nlabels = "auto"\nn = 0\n'
        f'[reference]\nkind = "folder"\nroot = "{root}"\nn = 0\n[tasks]\n'
    )
    r = CliRunner()
    check = ["data", "check", "--protocol", str(proto)]
    res = r.invoke(main, check + ["--decode"])
    assert res.exit_code == 0, res.output
    assert "ok  decoded: 6 of 6 files decode (evaluation and reference images)" in res.stdout  # the shared folder is decoded once

    truncated, empty = root / "n01443537" / "img2.JPEG", root / "n01484850" / "img5.JPEG"
    truncated.write_bytes(truncated.read_bytes()[:2000])
    empty.write_bytes(b"")
    res = r.invoke(main, check)
    assert res.exit_code == 0 and "decoded:" not in res.stdout and "BAD" not in res.stdout  # without --decode: presence only, as before
    res = r.invoke(main, check + ["--decode"])
    assert res.exit_code == 1
    bad = [line for line in res.stdout.splitlines() if line.lstrip().startswith("BAD")]
    assert len(bad) == 3  # two files, then the summary
    assert f"{truncated}: cannot decode image (image file is truncated" in bad[0]
    assert f"{empty}: file is empty (0 bytes)" in bad[1]
    assert "decoded: 4 of 6 files decode" in bad[2]
    findings = json.loads(r.invoke(main, check + ["--decode", "--json"]).stdout)
    assert [f["detail"].split(":")[0] for f in findings if f["item"] == "unreadable"] == [str(truncated), str(empty)]


def test_check_decode_of_the_builtin_protocol_has_nothing_to_decode():
    res = CliRunner().invoke(main, ["data", "check", "--protocol", "builtin", "--decode"])
    assert res.exit_code == 0 and "no files to decode" in res.stdout
