"""Write a tiny OSCD dataset in its real on-disk layout (what the Onera zips extract to).

    Onera Satellite Change Detection dataset - Images/<region>/imgs_{1,2}_rect/B01.tif..B12.tif
    Onera Satellite Change Detection dataset - Images/<region>/dates.txt
    Onera Satellite Change Detection dataset - {Train,Test} Labels/<region>/cm/cm.png

Run it directly to make one by hand: `python tests/data/oscd_fixture.py OUT_DIR`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
IMAGES = "Onera Satellite Change Detection dataset - Images"


def write_oscd_fixture(root: Path, train=("abudhabi", "beirut", "cupertino"), test=("dubai",),
                       size=(40, 48), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    for split, regions in (("Train", train), ("Test", test)):
        for region in regions:
            _write_region(root, split, region, size, rng)
    return root


def _write_region(root: Path, split: str, region: str, size, rng) -> None:
    h, w = size
    change = np.zeros((h, w), bool)
    change[h // 4 : h // 2, w // 3 : w // 2] = True
    for date in (1, 2):
        folder = root / IMAGES / region / f"imgs_{date}_rect"
        folder.mkdir(parents=True, exist_ok=True)
        for band in BANDS:
            # Sentinel-2 L1C digital numbers are uint16 reflectance * 10000.
            values = rng.integers(800, 2500, size=(h, w)).astype(np.uint16)
            if date == 2:
                values[change] += 3000
            Image.fromarray(values).save(folder / f"{band}.tif")
    (root / IMAGES / region / "dates.txt").write_text("date_1: 20160101\ndate_2: 20180101\n")
    labels = root / f"Onera Satellite Change Detection dataset - {split} Labels" / region / "cm"
    labels.mkdir(parents=True, exist_ok=True)
    Image.fromarray(change.astype(np.uint8) * 255).save(labels / "cm.png")


if __name__ == "__main__":
    write_oscd_fixture(Path(sys.argv[1]))
