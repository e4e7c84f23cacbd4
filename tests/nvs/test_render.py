"""The PyTorch renderer: analytic single-Gaussian footprint, gradients, meta contract."""

from __future__ import annotations

import math

import pytest
import torch

from mlstack.nvs.render import (
    ALPHA_MIN,
    CHUNK_ELEMENTS,
    PAD_RATIO,
    PAD_SLACK,
    _chunks,
    rasterize_torch,
    tile_lists,
)


def _camera(width: int, height: int, focal: float, dtype=torch.float32):
    viewmat = torch.eye(4, dtype=dtype)[None]
    K = torch.tensor([[[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]]], dtype=dtype)
    return viewmat, K


def test_single_gaussian_matches_closed_form():
    width, height, focal, z, s, opacity = 40, 32, 30.0, 2.0, 0.1, 0.8
    color = torch.tensor([[0.2, 0.5, 0.9]])
    viewmat, K = _camera(width, height, focal)
    means = torch.tensor([[0.1, -0.05, z]])
    image, alpha, meta = rasterize_torch(
        means, torch.tensor([[1.0, 0, 0, 0]]), torch.full((1, 3), s), torch.tensor([opacity]),
        color, viewmat, K, width, height, tile_size=8)
    # Closed form: pinhole projection of an isotropic Gaussian, plus gsplat's 0.3 px^2 blur.
    cx, cy = focal * 0.1 / z + width / 2, focal * -0.05 / z + height / 2
    var_x = (focal * s / z) ** 2 * (1 + (0.1 / z) ** 2) + 0.3  # J includes the x/z term
    var_y = (focal * s / z) ** 2 * (1 + (0.05 / z) ** 2) + 0.3
    cov_xy = (focal * s / z) ** 2 * (0.1 / z) * (-0.05 / z)
    cov = torch.tensor([[var_x, cov_xy], [cov_xy, var_y]], dtype=torch.float64)
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    d = torch.stack([xs - cx, ys - cy], -1).double()
    maha = torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(cov), d)
    expected_alpha = opacity * torch.exp(-0.5 * maha)
    expected_alpha = torch.where(expected_alpha >= ALPHA_MIN, expected_alpha, 0.0).float()
    torch.testing.assert_close(alpha[0, ..., 0], expected_alpha, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(image[0], expected_alpha[..., None] * color, atol=2e-5, rtol=1e-4)
    assert meta["radii"].shape == (1, 1, 2) and (meta["radii"] > 0).all()
    assert meta["means2d"].shape == (1, 1, 2)


def test_front_gaussian_occludes_back_one():
    viewmat, K = _camera(16, 16, 20.0)
    means = torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 2.0]])  # second one is in front
    colors = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    image, _, _ = rasterize_torch(means, torch.tensor([[1.0, 0, 0, 0]] * 2), torch.full((2, 3), 0.5),
                                  torch.tensor([0.99, 0.99]), colors, viewmat, K, 16, 16)
    centre = image[0, 8, 8]
    assert centre[1] > 0.95 and centre[0] < 0.05


def test_expected_depth_and_background():
    viewmat, K = _camera(16, 16, 20.0)
    means = torch.tensor([[0.0, 0.0, 2.5]])
    out, alpha, _ = rasterize_torch(means, torch.tensor([[1.0, 0, 0, 0]]), torch.full((1, 3), 0.3),
                                    torch.tensor([0.9]), torch.ones(1, 3), viewmat, K, 16, 16,
                                    render_mode="RGB+ED", backgrounds=torch.tensor([[0.0, 0.0, 1.0]]))
    assert out.shape == (1, 16, 16, 4)
    covered = alpha[0, ..., 0] > 0.01
    torch.testing.assert_close(out[0, ..., 3][covered], torch.full_like(out[0, ..., 3][covered], 2.5))
    corner = out[0, 0, 0, :3]  # almost pure background
    assert corner[2] > 0.5


def test_tile_cap_bounds_gaussians_per_tile():
    torch.manual_seed(0)
    n = 300
    viewmat, K = _camera(32, 32, 30.0)
    means = torch.cat([torch.rand(n, 2) - 0.5, torch.rand(n, 1) + 2], dim=1)
    args = (means, torch.randn(n, 4), torch.full((n, 3), 0.05), torch.full((n,), 0.05),
            torch.rand(n, 3), viewmat, K, 32, 32)
    full, _, _ = rasterize_torch(*args, max_per_tile=10_000)
    capped, _, _ = rasterize_torch(*args, max_per_tile=4)
    assert not torch.allclose(full, capped)  # the cap is active...
    assert torch.isfinite(capped).all()  # ...and harmless


def test_tile_lists_keep_the_front_most_gaussians_up_to_the_cap():
    gen = torch.Generator().manual_seed(0)
    n = 50
    means2d = torch.rand(n, 2, generator=gen) * 16
    radii = torch.full((n, 2), 20)  # every Gaussian covers every tile of a 16x16 image
    depths = torch.rand(n, generator=gen) + 1
    table = tile_lists(means2d, radii, depths, 16, 16, tile_size=8, max_per_tile=4)
    front = torch.argsort(depths)[:4]
    assert table.shape == (4, 4)
    assert all(torch.equal(row, front) for row in table)


def test_gradcheck_double_precision():
    torch.manual_seed(1)
    viewmat, K = _camera(8, 8, 8.0, torch.float64)
    means = torch.tensor([[0.05, -0.02, 2.0], [-0.1, 0.08, 2.4], [0.02, 0.1, 2.8]], dtype=torch.float64)
    quats = torch.randn(3, 4, dtype=torch.float64)
    log_scales = torch.log(torch.tensor([[0.9, 0.7, 0.8], [0.8, 1.0, 0.9], [1.1, 0.9, 1.0]],
                                        dtype=torch.float64))
    opacities = torch.tensor([0.5, 0.6, 0.4], dtype=torch.float64)
    colors = torch.rand(3, 3, dtype=torch.float64)
    inputs = [t.clone().requires_grad_(True) for t in (means, quats, log_scales, opacities, colors)]

    def render(m, q, ls, o, c):
        image, alpha, _ = rasterize_torch(m, q, torch.exp(ls), o, c, viewmat, K, 8, 8, tile_size=4)
        return image, alpha

    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_sh_colors_and_meta_for_strategy():
    viewmat, K = _camera(16, 16, 20.0)
    sh = torch.zeros(1, 4, 3)
    sh[0, 0] = (torch.tensor([0.7, 0.2, 0.1]) - 0.5) / 0.28209479177387814
    image, alpha, meta = rasterize_torch(torch.tensor([[0.0, 0, 2]]), torch.tensor([[1.0, 0, 0, 0]]),
                                         torch.full((1, 3), 0.5), torch.tensor([0.99]), sh, viewmat,
                                         K, 16, 16, sh_degree=1)
    colour = image[0, 8, 8] / alpha[0, 8, 8]
    torch.testing.assert_close(colour, torch.tensor([0.7, 0.2, 0.1]), atol=2e-3, rtol=0)
    for key in ("means2d", "radii", "width", "height", "n_cameras", "gaussian_ids"):
        assert key in meta
    assert math.isclose(meta["n_cameras"], 1)


def test_unsupported_option_is_refused():
    viewmat, K = _camera(8, 8, 8.0)
    with pytest.raises(ValueError, match="classic"):
        rasterize_torch(torch.tensor([[0.0, 0, 2]]), torch.tensor([[1.0, 0, 0, 0]]), torch.ones(1, 3),
                        torch.ones(1) * 0.5, torch.ones(1, 3), viewmat, K, 8, 8,
                        rasterize_mode="antialiased")


def test_chunks_bound_padding_and_size():
    """Tiles sorted by list length are cut so that padding to a chunk's longest list stays
    within PAD_RATIO x its shortest (+ PAD_SLACK) and no chunk exceeds CHUNK_ELEMENTS."""
    gen = torch.Generator().manual_seed(0)
    counts = sorted(torch.randint(0, 257, (900,), generator=gen).tolist())
    pixels = 64
    ranges = _chunks(counts, pixels)
    assert [i for r in ranges for i in r] == list(range(len(counts)))
    for r in ranges:
        shortest, longest = counts[r.start], counts[r.stop - 1]
        assert longest <= PAD_RATIO * shortest + PAD_SLACK
        assert len(r) == 1 or len(r) * pixels * longest <= CHUNK_ELEMENTS
    padded = sum(len(r) * counts[r.stop - 1] for r in ranges)
    assert padded <= PAD_RATIO * sum(counts) + PAD_SLACK * len(counts)
