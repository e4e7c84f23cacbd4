"""OSCD (Onera Satellite Change Detection, Sentinel-2) -> the LEVIR-CD layout, as RGB PNGs.

OSCD has 24 regions of 13-band rasters split into train and test. We read them through
TorchGeo's ``OSCD`` class (RGB bands B04/B03/B02), stretch each region to 8 bits with one
percentile window over both dates (so the stretch itself does not create change), and hold
out the last train regions (sorted by name, so it is deterministic) as the validation split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

VAL_FRACTION = 0.2


def _to_uint8(pair: np.ndarray) -> np.ndarray:
    """(2, 3, H, W) reflectance -> (2, H, W, 3) uint8 with a shared 2-98 % stretch."""
    lo, hi = np.percentile(pair, [2, 98])
    scaled = np.clip((pair - lo) / max(hi - lo, 1e-6), 0, 1) * 255
    return scaled.round().astype(np.uint8).transpose(0, 2, 3, 1)


def _regions(raw: Path, split: str, download: bool):
    from torchgeo.datasets import OSCD
    from torchgeo.datasets.errors import DatasetNotFoundError

    from mlstack.data.cd_prepare import DataError

    try:
        dataset = OSCD(root=str(raw), split=split, bands=OSCD.rgb_bands, download=download)
    except DatasetNotFoundError as err:
        raise DataError(f"{raw}: OSCD not found ({err}); set prepare.cd.download: true "
                        "to fetch it, or `dvc pull` the raw data") from None
    order = sorted(range(len(dataset)), key=lambda i: dataset.files[i]["region"])
    for index in order:
        region = dataset.files[index]["region"]
        try:
            sample = dataset[index]
        except (OSError, ValueError, IndexError) as err:
            raise DataError(f"{raw}: OSCD region '{region}' is unreadable ({err})") from None
        yield region, sample


def convert_oscd(raw: Path, out: Path, download: bool = False) -> None:
    for sub in ("A", "B", "label"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    train = list(_regions(raw, "train", download))
    n_val = max(1, round(len(train) * VAL_FRACTION)) if len(train) > 1 else 0
    assignments = [("train", r, s) for r, s in train[: len(train) - n_val]]
    assignments += [("val", r, s) for r, s in train[len(train) - n_val :]]
    assignments += [("test", r, s) for r, s in _regions(raw, "test", download)]
    counters = {"train": 0, "val": 0, "test": 0}
    for split, _region, sample in assignments:
        counters[split] += 1
        name = f"{split}_{counters[split]}.png"
        images = _to_uint8(sample["image"].numpy())
        mask = (sample["mask"].numpy().reshape(images.shape[1:3]) > 0).astype(np.uint8) * 255
        Image.fromarray(images[0]).save(out / "A" / name)
        Image.fromarray(images[1]).save(out / "B" / name)
        Image.fromarray(mask).save(out / "label" / name)
