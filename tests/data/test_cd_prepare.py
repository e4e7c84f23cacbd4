"""prepare (CD): real-layout sources, and bad input that names the file and writes nothing."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlstack.data.cd_prepare import DataError, prepare_cd
from mlstack.data.cd_synthetic import write_levircd_layout
from mlstack.params import PrepareCdParams
from mlstack.utils.io import atomic_dir


COUNTS = {"train": 2, "val": 1, "test": 1}


@pytest.fixture
def raw(tmp_path):
    root = tmp_path / "raw"
    write_levircd_layout(root, seed=5, counts=COUNTS, size=64)
    return root


def _prepare(raw: Path, out: Path, source="levircd"):
    params = PrepareCdParams(source=source, raw_dir=str(raw))
    with atomic_dir(out) as tmp:
        return prepare_cd(params, seed=0, out=tmp)


def test_levircd_source_reads_a_real_layout_folder(raw, tmp_path):
    summary = _prepare(raw, tmp_path / "out")
    assert summary["pairs"] == {"train": 2, "val": 1, "test": 1}
    assert len(summary["mean"]) == 3 and all(s > 0 for s in summary["std"])
    assert (tmp_path / "out" / "A" / "train_1.png").read_bytes() == (raw / "A" / "train_1.png").read_bytes()


def _expect_error(raw, tmp_path, match):
    out = tmp_path / "out"
    with pytest.raises(DataError, match=match):
        _prepare(raw, out)
    # Nothing half-written: no output, and no temporary folder left behind.
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_corrupt_tile(raw, tmp_path):
    (raw / "B" / "train_2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    _expect_error(raw, tmp_path, r"B/train_2\.png: corrupt")


def test_truncated_tile(raw, tmp_path):
    path = raw / "A" / "val_1.png"
    path.write_bytes(path.read_bytes()[:200])
    _expect_error(raw, tmp_path, r"A/val_1\.png: corrupt")


def test_missing_label(raw, tmp_path):
    (raw / "label" / "test_1.png").unlink()
    _expect_error(raw, tmp_path, r"label/test_1\.png: missing")


def test_mask_size_differs_from_pair(raw, tmp_path):
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(raw / "label" / "train_1.png")
    _expect_error(raw, tmp_path, r"label/train_1\.png: size 48x32 differs")


def test_pair_sizes_differ(raw, tmp_path):
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(raw / "B" / "train_1.png")
    _expect_error(raw, tmp_path, r"B/train_1\.png: size 32x32 differs")


def test_empty_split(raw, tmp_path):
    for sub in ("A", "B", "label"):
        (raw / sub / "val_1.png").unlink()
    _expect_error(raw, tmp_path, r"split 'val' is empty")


def test_wrong_layout(tmp_path):
    raw = tmp_path / "raw"
    (raw / "train" / "images").mkdir(parents=True)
    _expect_error(raw, tmp_path, r"raw.*(LEVIR-CD|layout|not found)")


def test_failed_prepare_keeps_previous_output(raw, tmp_path):
    out = tmp_path / "out"
    _prepare(raw, out)
    before = sorted(p.name for p in (out / "A").iterdir())
    (raw / "A" / "train_1.png").write_bytes(b"garbage")
    with pytest.raises(DataError):
        _prepare(raw, out)
    assert sorted(p.name for p in (out / "A").iterdir()) == before


def test_oscd_source_converts_to_levircd_layout(tmp_path):
    from torchgeo.datasets import LEVIRCD

    from oscd_fixture import write_oscd_fixture

    raw = write_oscd_fixture(tmp_path / "oscd")
    summary = _prepare(raw, tmp_path / "out", source="oscd")
    # 3 train regions -> 2 train + 1 val (the last by name); 1 test region.
    assert summary["pairs"] == {"train": 2, "val": 1, "test": 1}
    sample = LEVIRCD(root=str(tmp_path / "out"), split="test")[0]
    assert sample["image"].shape == (2, 3, 40, 48)
    # The change block in the fixture survives the conversion.
    assert sample["mask"].sum() == (40 // 2 - 40 // 4) * (48 // 2 - 48 // 3)


def test_oscd_missing_dataset_is_clear(tmp_path):
    (tmp_path / "oscd").mkdir()
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"oscd: OSCD not found.*download"):
        _prepare(tmp_path / "oscd", out, source="oscd")
    assert not out.exists()
