"""3DGS .ply round trip and the strict NVS parameter models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from mlstack.nvs.config import EvaluateNvsParams, PrepareNvsParams, TrainNvsParams
from mlstack.nvs.ply import read_ply, read_splat_ply
from mlstack.nvs.train import write_ply


def test_splat_ply_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    n = 17
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    splats = {"means": torch.randn(n, 3, generator=g), "scales": torch.randn(n, 3, generator=g),
              "quats": quats, "opacities": torch.randn(n, generator=g),
              "sh0": torch.randn(n, 1, 3, generator=g), "shN": torch.randn(n, 3, 3, generator=g)}
    path = write_ply(tmp_path / "point_cloud.ply", splats)
    header = path.read_bytes().split(b"end_header")[0].decode()
    assert "format binary_little_endian 1.0" in header and f"element vertex {n}" in header
    names = [line.split()[-1] for line in header.splitlines() if line.startswith("property")]
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                + [f"f_rest_{i}" for i in range(9)] + ["opacity"]
                + [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)])
    assert names == expected
    back = read_splat_ply(path)
    for key in ("means", "scales", "quats", "opacities", "sh0", "shN"):
        np.testing.assert_allclose(back[key], splats[key].numpy(), atol=1e-6, err_msg=key)
    # f_rest is channel-major: all red coefficients first.
    np.testing.assert_allclose(read_ply(path)["f_rest_1"], splats["shN"][:, 1, 0].numpy(), atol=1e-6)


@pytest.mark.parametrize("field,value", [
    ("means_lr", math.nan), ("means_lr", math.inf), ("scales_lr", -1.0), ("iterations", 0),
    ("max_gaussians", -5), ("ssim_lambda", 1.5), ("unknown_key", 1), ("iterations", "100"),
])
def test_train_params_reject_bad_values(field, value):
    with pytest.raises(ValidationError):
        TrainNvsParams(**{field: value})


def test_params_are_frozen_and_strict():
    params = TrainNvsParams()
    with pytest.raises(ValidationError):
        params.iterations = 5
    with pytest.raises(ValidationError):
        TrainNvsParams(near_plane=2.0, far_plane=1.0)
    with pytest.raises(ValidationError):
        PrepareNvsParams(source="lidar")
    with pytest.raises(ValidationError):
        PrepareNvsParams(fov_deg=math.nan)
    with pytest.raises(ValidationError):
        EvaluateNvsParams(n_examples=-1)
