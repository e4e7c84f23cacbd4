"""The synthetic generator: TorchGeo's LEVIRCD reads its output, and it is deterministic."""

import hashlib

import numpy as np
import pytest
from torchgeo.datasets import LEVIRCD

from mlstack.data.cd_synthetic import make_pair, write_levircd_layout


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.png")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_torchgeo_levircd_reads_generator_output(tmp_path):
    write_levircd_layout(tmp_path, seed=3, counts={"train": 2, "val": 1, "test": 1}, size=64)
    for split, n in {"train": 2, "val": 1, "test": 1}.items():
        dataset = LEVIRCD(root=str(tmp_path), split=split)
        assert len(dataset) == n
        sample = dataset[0]
        assert sample["image"].shape == (2, 3, 64, 64)
        assert sample["mask"].shape == (1, 64, 64)
        assert set(sample["mask"].unique().tolist()) <= {0, 1}


def test_generator_is_deterministic(tmp_path):
    counts = {"train": 2, "val": 1, "test": 1}
    write_levircd_layout(tmp_path / "a", seed=7, counts=counts, size=64)
    write_levircd_layout(tmp_path / "b", seed=7, counts=counts, size=64)
    write_levircd_layout(tmp_path / "c", seed=8, counts=counts, size=64)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_pairs_have_change_and_nuisance_change():
    a, b, mask = make_pair(seed=11, size=256)
    assert a.shape == b.shape == (256, 256, 3) and mask.shape == (256, 256)
    changed = mask > 0
    assert 0 < changed.mean() < 0.3
    # Season/illumination shifts make most *unchanged* pixels differ between dates too.
    diff = np.abs(a.astype(int) - b.astype(int)).max(-1)
    assert (diff[~changed] > 10).mean() > 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_are_binary(seed):
    _, _, mask = make_pair(seed=seed, size=128)
    assert set(np.unique(mask).tolist()) <= {0, 255}
