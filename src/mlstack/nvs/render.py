"""Differentiable 3D Gaussian rasterization: gsplat's CUDA kernels, or a tiled PyTorch compositor.

gsplat 1.5.3 only rasterizes on CUDA. :func:`rasterize_torch` takes the same inputs as
``gsplat.rasterization`` and returns the same ``(render_colors, render_alphas, meta)``,
with the ``meta`` keys that ``gsplat.strategy.DefaultStrategy`` reads (non-packed layout).
Projection and spherical harmonics reuse gsplat's own PyTorch reference helpers; only the
compositor is ours.

The compositor works tile by tile: every tile keeps its front-most ``max_per_tile``
Gaussians (depth sorted) and composites them front to back with the transmittance computed
as an exclusive cumulative product (in log space). Memory therefore grows with
pixels x Gaussians-per-tile, never pixels x all Gaussians.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from gsplat.cuda._torch_impl import (
    _fully_fused_projection,
    _quat_scale_to_covar_preci,
    _spherical_harmonics,
)
from torch import Tensor

# Same constants as gsplat's CUDA rasterizer, so the two renderers agree.
ALPHA_MIN = 1.0 / 255.0  # contributions below this alpha are skipped
ALPHA_MAX = 0.999  # an alpha is never exactly 1 (keeps 1 - alpha invertible)
T_MIN = 1e-4  # a pixel stops accumulating once its transmittance would drop below this
LOG_T_MIN = math.log(T_MIN)
EXP_LIMIT = 30.0  # exp(-30) ~ 1e-13: far below ALPHA_MIN, far above float32 denormals
# Elements (tiles x pixels x Gaussians) composited at once; bounds peak memory.
CHUNK_ELEMENTS = 1 << 21
# A chunk's tiles are padded to its longest list; a new chunk starts once that would exceed
# PAD_RATIO x the chunk's shortest list (+ PAD_SLACK), so padding stays a bounded fraction
# of the real work and memory follows pixels x *mean* Gaussians per tile, not the maximum.
PAD_RATIO = 1.25
PAD_SLACK = 4


def rasterize(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor, dict]:
    """gsplat's CUDA rasterization for CUDA tensors, the PyTorch renderer otherwise."""
    means = args[0] if args else kwargs["means"]
    if means.is_cuda:
        from gsplat import rasterization

        kwargs.pop("max_per_tile", None)  # CPU-renderer only option
        return rasterization(*args, packed=False, **kwargs)
    return rasterize_torch(*args, **kwargs)


def rasterize_torch(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] (wxyz, need not be normalised)
    scales: Tensor,  # [N, 3] (linear, not log)
    opacities: Tensor,  # [N] (post-sigmoid)
    colors: Tensor,  # [N, D] or [N, K, 3] SH coefficients when sh_degree is set
    viewmats: Tensor,  # [C, 4, 4] world-to-camera (OpenCV)
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    tile_size: int = 16,
    backgrounds: Tensor | None = None,  # [C, D]
    render_mode: str = "RGB",  # "RGB", "D", "ED", "RGB+D", "RGB+ED"
    max_per_tile: int = 256,
    **unsupported: Any,
) -> tuple[Tensor, Tensor, dict]:
    """Render C images; returns colors [C, H, W, D'], alphas [C, H, W, 1] and meta."""
    _reject_unsupported(unsupported)
    covars, _ = _quat_scale_to_covar_preci(quats, scales, compute_preci=False)
    radii, means2d, depths, conics, _ = _fully_fused_projection(
        means, covars, viewmats, Ks, width, height, eps2d, near_plane, far_plane
    )
    features = _features(means, colors, viewmats, radii, depths, sh_degree, render_mode)
    if backgrounds is not None and render_mode in ("RGB+D", "RGB+ED"):
        backgrounds = torch.cat([backgrounds, backgrounds.new_zeros(len(backgrounds), 1)], -1)
    elif render_mode in ("D", "ED"):
        backgrounds = None

    images, alphas = [], []
    for cam in range(len(viewmats)):
        image, alpha = _composite_camera(
            means2d[cam], conics[cam], opacities, features[cam], depths[cam], radii[cam],
            width, height, tile_size, max_per_tile,
        )
        if backgrounds is not None:
            image = image + backgrounds[cam] * (1.0 - alpha)
        images.append(image)
        alphas.append(alpha)
    render_colors, render_alphas = torch.stack(images), torch.stack(alphas)
    if render_mode in ("ED", "RGB+ED"):  # expected depth: normalise by accumulated alpha
        depth = render_colors[..., -1:] / render_alphas.clamp_min(1e-10)
        render_colors = torch.cat([render_colors[..., :-1], depth], dim=-1)

    meta = {
        "means2d": means2d,  # [C, N, 2]; DefaultStrategy retains and reads its grad
        "radii": radii,  # [C, N, 2] int; 0 = culled
        "depths": depths,
        "conics": conics,
        "opacities": opacities,
        "gaussian_ids": None,  # non-packed layout
        "camera_ids": None,
        "width": width,
        "height": height,
        "tile_size": tile_size,
        "n_cameras": len(viewmats),
        "n_batches": 1,
    }
    return render_colors, render_alphas, meta


def _reject_unsupported(options: dict[str, Any]) -> None:
    """Accept gsplat options that are no-ops here; refuse the ones that would change output."""
    harmless = {"packed", "absgrad", "sparse_grad", "radius_clip", "channel_chunk",
                "rasterize_mode", "camera_model", "distributed"}
    for name, value in options.items():
        if name not in harmless:
            raise TypeError(f"rasterize_torch does not support {name!r}")
    if options.get("rasterize_mode", "classic") != "classic":
        raise ValueError("rasterize_torch supports rasterize_mode='classic' only")
    if options.get("camera_model", "pinhole") != "pinhole":
        raise ValueError("rasterize_torch supports camera_model='pinhole' only")


def _features(
    means: Tensor, colors: Tensor, viewmats: Tensor, radii: Tensor, depths: Tensor,
    sh_degree: int | None, render_mode: str,
) -> Tensor:
    """Per-camera, per-Gaussian channels to composite: [C, N, D] (colour and/or depth)."""
    n_cams = len(viewmats)
    if render_mode in ("D", "ED"):
        return depths[..., None]
    if sh_degree is None:
        rgb = colors.expand(n_cams, *colors.shape) if colors.dim() == 2 else colors
    else:
        campos = torch.inverse(viewmats)[:, :3, 3]  # [C, 3]
        dirs = means[None] - campos[:, None]  # [C, N, 3]
        coeffs = colors.expand(n_cams, *colors.shape)
        rgb = _spherical_harmonics(sh_degree, dirs, coeffs)
        rgb = torch.clamp_min(rgb + 0.5, 0.0)
    if render_mode in ("RGB+D", "RGB+ED"):
        rgb = torch.cat([rgb, depths[..., None]], dim=-1)
    return rgb


@torch.no_grad()
def tile_lists(
    means2d: Tensor, radii: Tensor, depths: Tensor, width: int, height: int,
    tile_size: int, max_per_tile: int,
) -> Tensor:
    """[n_tiles, K] indices of each tile's front-most Gaussians, padded with N (a dummy)."""
    n = len(means2d)
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    visible = torch.nonzero((radii > 0).all(dim=-1)).flatten()
    # Sort visible Gaussians by depth once; a stable sort by tile then keeps depth order.
    visible = visible[torch.argsort(depths[visible], stable=True)]
    centre, extent = means2d[visible], radii[visible].to(means2d.dtype)
    lo = torch.floor((centre - extent) / tile_size).long()
    hi = torch.floor((centre + extent) / tile_size).long()
    lo[:, 0].clamp_(0, tiles_x - 1)
    hi[:, 0].clamp_(0, tiles_x - 1)
    lo[:, 1].clamp_(0, tiles_y - 1)
    hi[:, 1].clamp_(0, tiles_y - 1)
    span = hi - lo + 1  # tiles covered along x and y
    per_gauss = span[:, 0] * span[:, 1]
    owner = torch.repeat_interleave(torch.arange(len(visible)), per_gauss)
    first = torch.cumsum(per_gauss, 0) - per_gauss
    local = torch.arange(len(owner)) - first[owner]  # index inside each Gaussian's tile box
    tx = lo[owner, 0] + local % span[owner, 0]
    ty = lo[owner, 1] + local // span[owner, 0]
    tile = ty * tiles_x + tx
    order = torch.argsort(tile, stable=True)  # by tile, depth order kept inside a tile
    tile, gauss = tile[order], visible[owner[order]]
    counts = torch.bincount(tile, minlength=tiles_x * tiles_y)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(tile)) - start[tile]
    k = max(1, min(max_per_tile, int(counts.max()) if len(counts) and len(tile) else 1))
    keep = rank < k
    table = torch.full((tiles_x * tiles_y, k), n, dtype=torch.long)
    table[tile[keep], rank[keep]] = gauss[keep]
    return table


def _composite_camera(
    means2d: Tensor, conics: Tensor, opacities: Tensor, features: Tensor, depths: Tensor,
    radii: Tensor, width: int, height: int, tile_size: int, max_per_tile: int,
) -> tuple[Tensor, Tensor]:
    """Front-to-back alpha compositing of one camera, tile by tile: [H, W, D], [H, W, 1]."""
    device = means2d.device
    support = _opacity_aware_radii(conics, opacities, radii)
    table = tile_lists(means2d.detach().cpu(), support.cpu(), depths.detach().cpu(), width, height,
                       tile_size, max_per_tile).to(device)
    n_tiles, k = table.shape
    tiles_x = math.ceil(width / tile_size)
    # Append one dummy Gaussian (zero opacity) that pads short tile lists.
    pad = lambda x: torch.cat([x, x.new_zeros(1, *x.shape[1:])])  # noqa: E731
    means2d, conics, features, opacities = map(pad, (means2d, conics, features, opacities))
    pixel_xy = _tile_pixel_centres(n_tiles, tiles_x, tile_size, means2d.dtype, device)

    # Tiles are processed in order of their list length, each chunk padded only to its own
    # longest list: far less padding than one global maximum.
    counts = (table < len(opacities) - 1).sum(dim=1)
    order = torch.argsort(counts, stable=True)
    colour_tiles, alpha_tiles = [], []
    for chunk in _chunks(counts[order].tolist(), tile_size * tile_size):
        tiles = order[chunk.start : chunk.stop]
        k_chunk = int(counts[tiles[-1]])
        if k_chunk == 0:  # no Gaussian touches these tiles
            colour_tiles.append(features.new_zeros(len(tiles), tile_size**2, features.shape[-1]))
            alpha_tiles.append(features.new_zeros(len(tiles), tile_size**2, 1))
            continue
        ids = table[tiles, :k_chunk]  # [t, K]
        colour, alpha = _composite_tiles(
            pixel_xy[tiles], means2d[ids], conics[ids], opacities[ids], features[ids])
        colour_tiles.append(colour)
        alpha_tiles.append(alpha)
    restore = torch.argsort(order)
    colour = _untile(torch.cat(colour_tiles)[restore], tiles_x, tile_size, width, height)
    alpha = _untile(torch.cat(alpha_tiles)[restore], tiles_x, tile_size, width, height)
    return colour, alpha


def _chunks(sorted_counts: list[int], pixels_per_tile: int) -> list[range]:
    """Consecutive tile ranges whose padded size (tiles x pixels x longest list) fits a chunk
    and whose longest list is at most PAD_RATIO x their shortest (+ PAD_SLACK)."""
    ranges, start = [], 0
    while start < len(sorted_counts):
        stop, longest_allowed = start + 1, PAD_RATIO * sorted_counts[start] + PAD_SLACK
        while (stop < len(sorted_counts)
               and sorted_counts[stop] <= longest_allowed
               and (stop + 1 - start) * pixels_per_tile * sorted_counts[stop] <= CHUNK_ELEMENTS):
            stop += 1
        ranges.append(range(start, stop))
        start = stop
    return ranges


@torch.no_grad()
def _opacity_aware_radii(conics: Tensor, opacities: Tensor, radii: Tensor) -> Tensor:
    """Pixel radii beyond which alpha < ALPHA_MIN: opacity * exp(-r^2 / 2) = 1/255.

    Tighter than the 3.33-sigma radii for faint Gaussians (as gsplat >= 1.5 does), so
    fewer tiles list them; the rendered image is unchanged.
    """
    a, b, c = conics.unbind(-1)
    det = (a * c - b * b).clamp_min(1e-12)
    sigma_xy = torch.stack([torch.sqrt(c / det), torch.sqrt(a / det)], dim=-1)
    reach = torch.sqrt(2.0 * torch.log(opacities / ALPHA_MIN).clamp_min(0.0))
    support = torch.minimum(torch.ceil(reach[:, None] * sigma_xy), radii.to(sigma_xy.dtype))
    return torch.where((opacities >= ALPHA_MIN)[:, None], support, torch.zeros_like(support))


def _tile_pixel_centres(
    n_tiles: int, tiles_x: int, tile_size: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """[n_tiles, P, 2] pixel-centre coordinates (x + 0.5, y + 0.5) of every tile's pixels."""
    offset = torch.arange(tile_size, dtype=dtype, device=device) + 0.5
    oy, ox = torch.meshgrid(offset, offset, indexing="ij")
    local = torch.stack([ox.flatten(), oy.flatten()], dim=-1)  # [P, 2]
    tile = torch.arange(n_tiles, device=device)
    origin = torch.stack([tile % tiles_x, tile // tiles_x], dim=-1).to(dtype) * tile_size
    return origin[:, None, :] + local[None]


def _composite_tiles(
    pixel_xy: Tensor,  # [t, P, 2]
    means2d: Tensor,  # [t, K, 2]
    conics: Tensor,  # [t, K, 3]
    opacities: Tensor,  # [t, K]
    features: Tensor,  # [t, K, D]
) -> tuple[Tensor, Tensor]:
    delta = pixel_xy[:, :, None, :] - means2d[:, None, :, :]  # [t, P, K, 2]
    dx, dy = delta[..., 0], delta[..., 1]
    a, b, c = (conics[:, None, :, i] for i in range(3))
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    # Exponents are clamped so that no denormal floats appear: they are ~100x slower on CPU.
    # Clamped entries are below ALPHA_MIN or past termination, so they are masked anyway.
    alpha = torch.clamp_max(opacities[:, None, :] * torch.exp(-sigma.clamp_max(EXP_LIMIT)), ALPHA_MAX)
    alpha = alpha * ((sigma >= 0) & (alpha >= ALPHA_MIN))
    log_keep = torch.log1p(-alpha)
    log_trans = torch.cumsum(log_keep, dim=-1)  # log T after each Gaussian
    trans_before = torch.exp((log_trans - log_keep).clamp_min(-EXP_LIMIT))  # exclusive T
    weights = alpha * trans_before
    if bool((log_trans[..., -1] <= LOG_T_MIN).any()):  # some pixel saturates: stop it there
        with torch.no_grad():  # done at the first Gaussian that would push T <= T_MIN
            live = torch.cumsum((log_trans <= LOG_T_MIN).to(torch.int32), dim=-1) == 0
        weights = weights * live
    colour = torch.einsum("tpk,tkd->tpd", weights, features)
    return colour, weights.sum(dim=-1, keepdim=True)


def _untile(tiles: Tensor, tiles_x: int, tile_size: int, width: int, height: int) -> Tensor:
    """[n_tiles, P, D] -> [H, W, D], cropping the padding of the last tile row/column."""
    tiles_y = len(tiles) // tiles_x
    d = tiles.shape[-1]
    image = tiles.reshape(tiles_y, tiles_x, tile_size, tile_size, d)
    image = image.permute(0, 2, 1, 3, 4).reshape(tiles_y * tile_size, tiles_x * tile_size, d)
    return image[:height, :width]
