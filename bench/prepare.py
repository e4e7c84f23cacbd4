"""CD prepare (validate + copy + stats) against a raw PIL read+write of the same files.

Ours is the real-data path of the prepare stage (`prepare.cd.source: levircd` on a
LEVIR-CD-layout folder): TorchGeo's dataset check, every pair decoded and size-checked,
the files copied, the copy checked again and the training statistics computed. The
baseline decodes every file once with PIL and writes it back as PNG: the least any
prepare that looks at the pixels has to do.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.common import Row, paired, timed
from mlstack.data.cd_prepare import SUBDIRS, prepare_cd
from mlstack.data.cd_synthetic import write_levircd_layout
from mlstack.params import PrepareCdParams


@dataclass(frozen=True)
class PrepareSizes:
    tile_size: int = 256
    n_train: int = 48
    repeats: int = 5


QUICK = PrepareSizes(tile_size=128, n_train=8, repeats=2)


def make_raw(raw: Path, sizes: PrepareSizes) -> int:
    """A LEVIR-CD-layout folder; returns the number of tiles (pairs)."""
    counts = {"train": sizes.n_train, "val": 2, "test": 2}
    write_levircd_layout(raw, 0, counts, sizes.tile_size)
    return sum(counts.values())


def ours(raw: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    prepare_cd(PrepareCdParams(source="levircd", raw_dir=str(raw)), seed=0, out=out)


def pil_read_write(raw: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    for sub in SUBDIRS:
        (out / sub).mkdir(parents=True)
        for path in sorted((raw / sub).glob("*.png")):
            with Image.open(path) as img:
                img.load()
                img.save(out / sub / path.name)


def bench_prepare(work: Path, sizes: PrepareSizes) -> Row:
    raw = work / "raw"
    tiles = make_raw(raw, sizes)
    a, b, ratio = paired(lambda: tiles / timed(lambda: ours(raw, work / "ours")),
                         lambda: tiles / timed(lambda: pil_read_write(raw, work / "pil")),
                         repeats=sizes.repeats)
    return Row("prepare", "CD prepare (check + copy + stats) vs PIL read+write (tiles/s)",
               "tiles/s", a, b, ratio, ">= 0.8", sizes.repeats,
               note=f"{tiles} pairs of {sizes.tile_size}px tiles (A, B, label each)")
