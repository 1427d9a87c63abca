"""Pretrained weights of the metrics: where they live, how they are verified, and what to do when one is missing.

Weights sit where the field's libraries look for them, torch.hub's checkpoint folder
(`$TORCH_HOME/hub/checkpoints/`, default `~/.cache/torch/hub/checkpoints/`), under their standard
file names, so a file that torch-fidelity, torchvision or lpips already downloaded is found as is.
Offline cluster nodes get them by copying those files; `--weights-dir DIR` points elsewhere.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class WeightSpec:
    """One weights file. `sha256` is the full digest, or the 8-hex prefix that torch.hub puts in file names,
    or None where the publisher gives none (the file is then used, its digest recorded, and marked unverified).
    `also`: folders other than the weights folder where the file's own library puts it, searched after it."""

    name: str
    filename: str
    url: str
    sha256: str | None
    description: str
    metrics: str
    source: str = ""  # where the digest is published
    also: tuple[str, ...] = ()


WEIGHTS = {
    w.name: w
    for w in (
        WeightSpec(
            "inception-v3",
            "weights-inception-2015-12-05-6726825d.pth",
            "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
            "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            "InceptionV3 of TensorFlow's FID/IS, as ported by torch-fidelity",
            "FID, IS, KID, PD",
        ),
        WeightSpec(
            "resnet50",
            "resnet50-0676ba61.pth",
            "https://download.pytorch.org/models/resnet50-0676ba61.pth",
            "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
            "torchvision ResNet-50, IMAGENET1K_V1",
            "CA",
        ),
        WeightSpec(
            "alexnet",
            "alexnet-owt-7be5be79.pth",
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            "7be5be79",  # torch.hub's hash prefix from the file name; the full digest is not published
            "torchvision AlexNet, the trunk of LPIPS",
            "LPIPS, LPIPS diversity",
        ),
        WeightSpec(
            "dinov2-vitl14",
            "dinov2_vitl14_pretrain.pth",
            "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
            None,  # Meta publishes no digest for its DINOv2 files, and torch.hub checks none
            "DINOv2 ViT-L/14 backbone (Oquab et al. 2023), torch.hub's facebookresearch/dinov2 dinov2_vitl14",
            "FD_DINOv2 (and PRDC in DINOv2 features)",
            "none published (facebookresearch/dinov2 hubconf downloads it unchecked)",
        ),
        WeightSpec(
            "clip-vitl14-336",
            "ViT-L-14-336px.pt",
            "https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
            "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
            "OpenAI CLIP ViT-L/14@336px (Radford et al. 2021), the embedding of CMMD",
            "CMMD",
            "openai/CLIP clip/clip.py: the URL's folder is the file's sha256, checked after download",
            ("~/.cache/clip",),  # where openai/CLIP's clip.load() saves it
        ),
    )
}


class WeightsError(FileNotFoundError):
    """A weights file is missing or does not match its checksum; the message says what to do."""


@dataclass(frozen=True)
class ResolvedWeights:
    spec: WeightSpec
    path: Path
    sha256: str
    verified: bool


def weights_dir(override: str | os.PathLike | None = None) -> Path:
    """--weights-dir if given, else torch.hub's checkpoint folder (honours $TORCH_HOME)."""
    return Path(override).expanduser() if override else Path(torch.hub.get_dir()) / "checkpoints"


_digests: dict[tuple, str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a 100 MB file is hashed once per process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _digests[key] = h.hexdigest()
    return _digests[key]


def matches(spec: WeightSpec, digest: str) -> bool:
    return spec.sha256 is not None and digest.startswith(spec.sha256)


def locate(spec: WeightSpec, directory: str | os.PathLike | None = None) -> Path:
    """Where the file is: the weights folder, else one of the spec's own library folders; the weights-folder path when absent.

    With --weights-dir only that folder is searched: a user who names a folder means it.
    """
    path = weights_dir(directory) / spec.filename
    if path.is_file() or directory:
        return path
    for folder in spec.also:
        other = Path(folder).expanduser() / spec.filename
        if other.is_file():
            return other
    return path


def status(directory: str | os.PathLike | None = None) -> list[dict]:
    """Each weight with its expected path, whether it is present and whether its sha256 matches."""
    rows = []
    for spec in WEIGHTS.values():
        path = locate(spec, directory)
        present = path.is_file()
        digest = file_sha256(path) if present else None
        rows.append(
            {
                "name": spec.name,
                "metrics": spec.metrics,
                "path": str(path),
                "url": spec.url,
                "present": present,
                "sha256": digest,
                "expected_sha256": spec.sha256,
                "sha256_ok": bool(present and matches(spec, digest)),
                "unpublished": spec.sha256 is None,  # nothing to check the file against
            }
        )
    return rows


def resolve(name: str, directory: str | os.PathLike | None = None, allow_unverified: bool = False) -> ResolvedWeights:
    """The verified weights file `name`; a missing or mismatching file is a one-line WeightsError."""
    spec = WEIGHTS[name]
    path = locate(spec, directory)
    if not path.is_file():
        raise WeightsError(
            f"missing weights file {path} ({spec.description}, needed for {spec.metrics}): download {spec.url} "
            f"and save it at exactly {path}, or run 'palette-bench weights fetch' where there is internet and copy it, or pass --weights-dir DIR"
        )
    digest = file_sha256(path)
    verified = matches(spec, digest)
    if not verified and not allow_unverified and spec.sha256 is not None:
        raise WeightsError(
            f"{path}: sha256 {digest} does not match the expected {spec.sha256} ({spec.description}); "
            f"replace the file, or pass --allow-unverified-weights to use it anyway (results are then marked unverified)"
        )
    return ResolvedWeights(spec, path, digest, verified)


def load_state_dict(weights: ResolvedWeights) -> dict:
    """The file's state dict, loaded with weights_only=True so that a foreign file cannot run code."""
    try:
        return torch.load(weights.path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to read is the same problem for the user
        raise WeightsError(f"{weights.path}: cannot read weights file ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def fetch(name: str, directory: str | os.PathLike | None = None, url: str | None = None) -> Path:
    """Download weights `name` into the weights folder and verify them (needs internet, or a file:// URL)."""
    spec = WEIGHTS[name]
    path = weights_dir(directory) / spec.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    source = url or spec.url
    try:
        # torch.hub writes to a temporary file and renames it, so an interrupted download leaves nothing behind.
        torch.hub.download_url_to_file(source, str(path), hash_prefix=None, progress=False)
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        raise WeightsError(f"cannot download {source} to {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    digest = file_sha256(path)
    if spec.sha256 is not None and not matches(spec, digest):
        path.unlink()
        raise WeightsError(f"{source}: downloaded file has sha256 {digest}, expected {spec.sha256}; removed {path}")
    return path
