"""Fixtures for the NVS tests: a tiny synthetic scene shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack.nvs.config import PrepareNvsParams
from mlstack.nvs.prepare import prepare_nvs

TINY_SCENE = PrepareNvsParams(image_size=32, n_train=8, n_test=2, n_buildings=3, supersample=1,
                              n_init_points=600, max_off_nadir_deg=20.0)


@pytest.fixture(scope="session")
def tiny_scene_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_scene")
    prepare_nvs(TINY_SCENE, seed=3, out_dir=out)
    return out
