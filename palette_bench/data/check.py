"""What a protocol needs on disk, what is present, and exactly what to do about what is missing."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from palette_bench.data import labels as L
from palette_bench.data.files import BadImageError, list_images, open_rgb, read_file_list
from palette_bench.data.sources import FileImages, resolve_root
from palette_bench.protocols import DataSpec, Protocol


@dataclass(frozen=True)
class Finding:
    item: str
    ok: bool
    detail: str


def _file_list_path(spec: DataSpec, base: Path) -> Path:
    return Path(spec.file_list) if os.path.isabs(spec.file_list) else base / spec.file_list


def _image_paths(base: Path, names: list[str]) -> list[Path]:
    """Where the listed images are, as the data source resolves them (bare ImageNet names found in synset folders)."""
    return FileImages(base, names, size=8, labels="none").paths


def check_spec(role: str, spec: DataSpec, root: str | None) -> list[Finding]:
    """What is present of one data set (folder, file list, images, labels); `data check` and run's preflight read it."""
    if spec.kind == "builtin":
        return [Finding(role, True, f"builtin procedural images, split '{spec.split}', n = {spec.n}: rendered on demand, nothing to download")]
    try:
        base = resolve_root(spec, root)
    except FileNotFoundError:
        var = spec.root_env or "root"
        return [Finding(f"{role} folder", False, f"no image folder: set {var}=/path/to/folder or pass --root DIR")]
    if not base.is_dir():
        return [Finding(f"{role} folder", False, f"{base}: folder not found (set {spec.root_env or 'root'} or pass --root DIR)")]
    found = [Finding(f"{role} folder", True, str(base))]
    if spec.file_list:
        list_path = _file_list_path(spec, base)
        if not list_path.is_file():
            return found + [Finding(f"{role} file list", False, f"{list_path}: missing; download {spec.file_list_source or 'the file list'} and save it at exactly this path")]
        names = read_file_list(list_path)
        found.append(Finding(f"{role} file list", True, f"{list_path}: {len(names)} entries"))
    else:
        names = list_images(base)
    want = spec.n or len(names)
    names = names[:want]
    paths = _image_paths(base, names)
    missing = [p for p in paths if not p.is_file()]
    have = len(names) - len(missing)
    ok = not missing and have >= want
    detail = f"{have} of {want} images present"
    if missing:
        detail += f"; missing e.g. {', '.join(str(p) for p in missing[:3])}"
    elif have < want:
        detail += f" (the folder holds only {have}; {role} needs {want})"
    found.append(Finding(f"{role} images", ok, detail))
    if spec.labels != "none" and have:
        found.append(_check_labels(role, spec, base, paths))
    return found


def _check_labels(role: str, spec: DataSpec, base: Path, paths: list[Path]) -> Finding:
    if spec.labels in ("auto", "folders", "devkit"):
        if spec.labels != "devkit" and all(L.is_wnid(p.parent.name) for p in paths):
            return Finding(f"{role} labels", True, "from synset folder names")
        devkit = L.find_devkit(base)
        if devkit is not None:
            return Finding(f"{role} labels", True, f"from the devkit at {devkit}")
        return Finding(
            f"{role} labels",
            False,
            f"no labels: put the images in synset folders (n01440764/...), or unpack ILSVRC2012_devkit_t12.tar.gz into {base} "
            f"so that {base / 'ILSVRC2012_devkit_t12/data' / L.GROUND_TRUTH} and meta.mat exist",
        )
    label_file = base / spec.labels
    if label_file.is_file():
        return Finding(f"{role} labels", True, f"from {label_file}")
    return Finding(f"{role} labels", False, f"{label_file}: missing; it ships with the data set's validation release ('name label' per line)")


def check_protocol(protocol: Protocol, root: str | None = None) -> list[Finding]:
    """Findings for the evaluation images and the FID reference set of `protocol`."""
    return check_spec("evaluation", protocol.dataset, root) + check_spec("reference", protocol.reference, root)


def _present_files(spec: DataSpec, root: str | None) -> list[Path]:
    """The files of a folder or ImageNet spec that exist; what is missing is the presence check's to report."""
    try:
        base = resolve_root(spec, root)
        if spec.file_list:
            names = read_file_list(_file_list_path(spec, base))
        else:
            names = list_images(base) if base.is_dir() else []
    except (FileNotFoundError, ValueError):
        return []
    return [p for p in _image_paths(base, names[: spec.n or len(names)]) if p.is_file()]


def _decode(path: Path) -> str | None:
    try:
        open_rgb(path)
    except BadImageError as e:
        return str(e)
    return None


def decode_protocol(protocol: Protocol, root: str | None = None, progress: bool = True, threads: int | None = None) -> list[Finding]:
    """Decode every file of the evaluation and reference sets: one Finding per unreadable file, then a summary."""
    from palette_bench.data.workers import default_workers

    specs = [s for s in (protocol.dataset, protocol.reference) if s.kind != "builtin"]
    if not specs:
        return [Finding("decoded", True, "builtin procedural images: rendered on demand, no files to decode")]
    # The evaluation set is often a subset of the reference folder (ImageNet's ctest10k): decode each file once.
    paths = list(dict.fromkeys(p for spec in specs for p in _present_files(spec, root)))
    # PIL releases the GIL while it decodes, so threads decode in parallel.
    with ThreadPoolExecutor(max_workers=threads or default_workers() + 1) as pool:
        reasons = list(tqdm(pool.map(_decode, paths), total=len(paths), desc="decoding", unit="file", disable=None if progress else True))
    failed = [Finding("unreadable", False, reason) for reason in reasons if reason]
    which = " and ".join(role for role, spec in (("evaluation", protocol.dataset), ("reference", protocol.reference)) if spec.kind != "builtin")
    summary = Finding("decoded", not failed, f"{len(paths) - len(failed)} of {len(paths)} files decode ({which} images)")
    return failed + [summary]
