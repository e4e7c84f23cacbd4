"""The CD half of the prepare stage: produce a validated LEVIR-CD-layout folder and its stats.

Whatever the source (synthetic, LEVIR-CD, OSCD), the output is ``A/``, ``B/``, ``label/`` with
``{split}_{i}.png`` plus ``stats.json`` (per-channel mean/std of the training images), so one
TorchGeo ``LEVIRCD`` loader reads them all.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mlstack.data.cd_synthetic import write_levircd_layout
from mlstack.utils.io import atomic_write_json

SPLITS = ("train", "val", "test")
SUBDIRS = ("A", "B", "label")
_NAME = re.compile(r"^(train|val|test)_(\d+)\.png$")


class DataError(ValueError):
    """Input data is missing, corrupt or in the wrong layout; the message names the file."""


def _open_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"{path}: corrupt or unreadable image ({err})") from None


def _open_mask(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("L"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing (every A/B pair needs a label)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"{path}: corrupt or unreadable mask ({err})") from None


def split_names(root: Path, split: str) -> list[str]:
    names = sorted(p.name for p in (root / "A").glob(f"{split}_*.png"))
    return sorted(names, key=lambda n: int(_NAME.match(n).group(2)) if _NAME.match(n) else 0)


def check_layout(root: Path, splits: tuple[str, ...] = SPLITS) -> dict[str, int]:
    """Check a LEVIR-CD-layout folder file by file; return the number of pairs per split."""
    missing = [sub for sub in SUBDIRS if not (root / sub).is_dir()]
    if missing:
        found = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        raise DataError(
            f"{root}: not in LEVIR-CD layout: missing folder(s) {', '.join(missing)} "
            f"(expected A/, B/, label/ holding {{split}}_{{i}}.png; found {found})"
        )
    counts = {}
    for split in splits:
        names = split_names(root, split)
        if not names:
            raise DataError(f"{root / 'A'}: split '{split}' is empty (no {split}_*.png files)")
        for name in names:
            _check_pair(root, name)
        counts[split] = len(names)
    return counts


def _check_pair(root: Path, name: str) -> None:
    a = _open_rgb(root / "A" / name)
    b = _open_rgb(root / "B" / name)
    mask = _open_mask(root / "label" / name)
    if a.shape != b.shape:
        raise DataError(f"{root / 'B' / name}: size {b.shape[1]}x{b.shape[0]} differs from "
                        f"{root / 'A' / name} ({a.shape[1]}x{a.shape[0]})")
    if mask.shape != a.shape[:2]:
        raise DataError(f"{root / 'label' / name}: size {mask.shape[1]}x{mask.shape[0]} differs "
                        f"from its image pair ({a.shape[1]}x{a.shape[0]})")


def channel_stats(root: Path) -> dict[str, list[float]]:
    """Per-channel mean and std (0-255 scale) over both dates of the training split."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for name in split_names(root, "train"):
        for sub in ("A", "B"):
            px = _open_rgb(root / sub / name).reshape(-1, 3).astype(np.float64)
            total += px.sum(0)
            total_sq += (px**2).sum(0)
            count += px.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 1e-6))
    return {"mean": mean.round(6).tolist(), "std": std.round(6).tolist()}


def _copy_levircd(raw: Path, out: Path, download: bool) -> None:
    """Read LEVIR-CD through TorchGeo (which can download it) and copy the files we validated."""
    from torchgeo.datasets import LEVIRCD
    from torchgeo.datasets.errors import DatasetNotFoundError

    for split in SPLITS:
        try:
            LEVIRCD(root=str(raw), split=split, download=download)
        except DatasetNotFoundError as err:
            raise DataError(f"{raw}: LEVIR-CD not found ({err}); set prepare.cd.download: true "
                            "to fetch it, or `dvc pull` the raw data") from None
    check_layout(raw)
    for sub in SUBDIRS:
        (out / sub).mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            for name in split_names(raw, split):
                shutil.copy2(raw / sub / name, out / sub / name)


def prepare_cd(params, seed: int, out: Path) -> dict:
    """Fill `out` (a fresh directory) with the processed CD dataset; return a summary."""
    raw = Path(params.raw_dir)
    if params.source == "synthetic":
        counts = {"train": params.n_train, "val": params.n_val, "test": params.n_test}
        write_levircd_layout(out, seed, counts, params.tile_size)
    elif params.source == "levircd":
        _copy_levircd(raw, out, params.download)
    elif params.source == "oscd":
        from mlstack.data.cd_oscd import convert_oscd

        convert_oscd(raw, out, download=params.download)
    counts = check_layout(out)
    stats = channel_stats(out)
    summary = {"source": params.source, "pairs": counts, **stats}
    atomic_write_json(out / "stats.json", summary)
    return summary
