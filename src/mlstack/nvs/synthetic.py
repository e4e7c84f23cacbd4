"""A satellite-like synthetic scene rendered by exact heightfield ray casting.

The world is a 2.5D surface in metres: smooth terrain with roads, fields and box buildings
(a DSM on a regular grid, bilinearly interpolated) with a baked Lambertian colour. Pinhole
cameras sit ~370 m up, looking near-nadir at varied off-nadir angles, azimuths and headings,
like multi-date satellite acquisitions. Every pixel ray is marched through the height slab
and the hit refined by bisection, so the ground-truth depth of every view and the DSM are
known. Everything is deterministic from the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mlstack.nvs.config import PrepareNvsParams
from mlstack.nvs.scene import Scene, View

HALF_EXTENT_M = 150.0  # the DSM covers [-150, 150] m in x and y
VIEW_HALF_M = 100.0  # cameras frame roughly [-100, 100] m
CELL_M = 0.75  # DSM / texture grid spacing
MARCH_STEP_M = 0.25  # vertical ray-marching step through the height slab
SUN = np.array([0.45, -0.35, 0.82]) / np.linalg.norm([0.45, -0.35, 0.82])


@dataclass(frozen=True)
class Heightfield:
    heights: np.ndarray  # [G, G] metres, row = y index, column = x index
    colours: np.ndarray  # [G, G, 3] float in [0, 1], shaded albedo

    def _grid(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = self.heights.shape[0] - 1
        gx = np.clip((x + HALF_EXTENT_M) / CELL_M, 0, size)
        gy = np.clip((y + HALF_EXTENT_M) / CELL_M, 0, size)
        return gx, gy

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        gx, gy = self._grid(x, y)
        return ndimage.map_coordinates(self.heights, [gy, gx], order=1, mode="nearest")

    def colour(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        gx, gy = self._grid(x, y)
        return np.stack([ndimage.map_coordinates(self.colours[..., c], [gy, gx], order=1,
                                                 mode="nearest") for c in range(3)], axis=-1)


def _noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    coarse = rng.random((size // scale + 4, size // scale + 4))
    fine = ndimage.zoom(coarse, scale, order=3)[:size, :size]
    return (fine - fine.min()) / max(np.ptp(fine), 1e-9)


def make_heightfield(rng: np.random.Generator, n_buildings: int) -> Heightfield:
    size = int(2 * HALF_EXTENT_M / CELL_M) + 1
    axis = np.linspace(-HALF_EXTENT_M, HALF_EXTENT_M, size)
    x, y = np.meshgrid(axis, axis)
    terrain = 12.0 * _noise(rng, size, 96) + 3.0 * _noise(rng, size, 24)
    fields = _noise(rng, size, 40)
    grass, soil = np.array([0.32, 0.45, 0.22]), np.array([0.60, 0.50, 0.36])
    albedo = grass + (soil - grass) * fields[..., None]
    albedo *= (0.85 + 0.3 * _noise(rng, size, 8))[..., None]  # field texture
    # Two straight roads.
    for angle, offset in ((rng.uniform(0, math.pi), rng.uniform(-40, 40)),
                          (rng.uniform(0, math.pi), rng.uniform(-40, 40))):
        dist = np.abs(x * math.sin(angle) - y * math.cos(angle) - offset)
        albedo[dist < 4.0] = (0.42, 0.42, 0.44)
        albedo[dist < 0.4] = (0.9, 0.9, 0.85)  # centre line
    heights = terrain.copy()
    roofs = np.array([[0.78, 0.78, 0.80], [0.70, 0.32, 0.24], [0.92, 0.92, 0.90],
                      [0.35, 0.43, 0.60], [0.58, 0.55, 0.50]])
    for _ in range(n_buildings):
        cx, cy = rng.uniform(-85, 85, size=2)
        hx, hy = rng.uniform(6, 16, size=2)
        inside = (np.abs(x - cx) < hx) & (np.abs(y - cy) < hy)
        if not inside.any():
            continue
        heights[inside] = terrain[inside].max() + rng.uniform(8, 30)
        albedo[inside] = roofs[rng.integers(len(roofs))]
        # A roof ridge / skylight stripe gives the roof some texture.
        albedo[inside & (np.abs(y - cy) < 1.0)] *= 0.7
    return Heightfield(heights=heights, colours=_shade(heights, np.clip(albedo, 0, 1)))


def _shade(heights: np.ndarray, albedo: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(heights, CELL_M)
    normals = np.stack([-gx, -gy, np.ones_like(heights)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    lambert = np.clip(normals @ SUN, 0.0, 1.0)
    return np.clip(albedo * (0.35 + 0.75 * lambert[..., None]), 0.0, 1.0)


def look_at_c2w(position: np.ndarray, target: np.ndarray, heading: float) -> np.ndarray:
    """OpenCV camera-to-world looking at target; image 'up' points along `heading` (radians)."""
    forward = (target - position) / np.linalg.norm(target - position)
    up_hint = np.array([math.sin(heading), math.cos(heading), 0.0])
    down = -(up_hint - forward * (up_hint @ forward))
    down /= np.linalg.norm(down)
    right = np.cross(down, forward)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return c2w


def make_cameras(rng: np.random.Generator, n: int, params: PrepareNvsParams,
                 ground: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(c2w, K) per view at varied off-nadir angles, azimuths and headings."""
    focal = 0.5 * params.image_size / math.tan(math.radians(params.fov_deg) / 2)
    K = np.array([[focal, 0, params.image_size / 2], [0, focal, params.image_size / 2], [0, 0, 1]])
    distance = VIEW_HALF_M / math.tan(math.radians(params.fov_deg) / 2)
    cameras = []
    for _ in range(n):
        off_nadir = math.radians(params.max_off_nadir_deg) * math.sqrt(rng.random())
        azimuth, heading = rng.uniform(0, 2 * math.pi, size=2)
        target = np.array([*rng.uniform(-10, 10, size=2), ground])
        direction = np.array([math.sin(off_nadir) * math.cos(azimuth),
                              math.sin(off_nadir) * math.sin(azimuth), math.cos(off_nadir)])
        cameras.append((look_at_c2w(target + distance * direction, target, heading), K))
    return cameras


def cast_rays(field: Heightfield, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Ray parameter t of the first surface hit for unit-direction rays looking down."""
    z_top, z_bottom = field.heights.max() + 0.5, field.heights.min() - 0.5
    t_enter = (origins[:, 2] - z_top) / -dirs[:, 2]
    t_step = MARCH_STEP_M / -dirs[:, 2]
    n_steps = int(math.ceil((z_top - z_bottom) / MARCH_STEP_M)) + 1
    lo = t_enter.copy()  # last t known to be above the surface
    hi = np.full_like(lo, np.nan)  # first t known to be below it
    for i in range(1, n_steps + 1):
        open_rays = np.isnan(hi)
        if not open_rays.any():
            break
        t = t_enter[open_rays] + i * t_step[open_rays]
        p = origins[open_rays] + t[:, None] * dirs[open_rays]
        below = p[:, 2] <= field.height(p[:, 0], p[:, 1])
        idx = np.flatnonzero(open_rays)
        hi[idx[below]] = t[below]
        lo[idx[~below]] = t[~below]
    hi = np.where(np.isnan(hi), lo, hi)
    for _ in range(14):  # bisection: the hit is bracketed by [lo, hi]
        mid = 0.5 * (lo + hi)
        p = origins + mid[:, None] * dirs
        below = p[:, 2] <= field.height(p[:, 0], p[:, 1])
        hi, lo = np.where(below, mid, hi), np.where(below, lo, mid)
    return 0.5 * (lo + hi)


def render_view(field: Heightfield, c2w: np.ndarray, K: np.ndarray, size: int,
                supersample: int) -> tuple[np.ndarray, np.ndarray]:
    """(image [H, W, 3] uint8, z-depth [H, W] float32), supersampled then box-filtered."""
    n = size * supersample
    offsets = (np.arange(n) + 0.5) / supersample
    u, v = np.meshgrid(offsets, offsets)
    cam_dirs = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    cam_dirs = cam_dirs.reshape(-1, 3)
    world_dirs = cam_dirs @ c2w[:3, :3].T
    world_dirs /= np.linalg.norm(world_dirs, axis=1, keepdims=True)
    origins = np.broadcast_to(c2w[:3, 3], world_dirs.shape)
    t = cast_rays(field, origins, world_dirs)
    hits = origins + t[:, None] * world_dirs
    colour = field.colour(hits[:, 0], hits[:, 1]).reshape(n, n, 3)
    depth = (t * (world_dirs @ c2w[:3, 2])).reshape(n, n)
    pool = lambda a: a.reshape(size, supersample, size, supersample, *a.shape[2:]).mean((1, 3))  # noqa: E731
    image = np.clip(np.round(pool(colour) * 255), 0, 255).astype(np.uint8)
    return image, pool(depth).astype(np.float32)


def sample_surface_points(field: Heightfield, rng: np.random.Generator,
                          n: int) -> tuple[np.ndarray, np.ndarray]:
    """A sparse, slightly noisy surface sample, standing in for SfM points."""
    xy = rng.uniform(-1.15 * VIEW_HALF_M, 1.15 * VIEW_HALF_M, size=(n, 2))
    z = field.height(xy[:, 0], xy[:, 1])
    points = np.column_stack([xy, z]) + rng.normal(0, 0.3, size=(n, 3))
    colours = np.clip(np.round(field.colour(xy[:, 0], xy[:, 1]) * 255), 0, 255).astype(np.uint8)
    return points.astype(np.float32), colours


def make_synthetic_scene(params: PrepareNvsParams, seed: int) -> tuple[Scene, Heightfield]:
    """The scene in metres (not yet normalised) and its heightfield."""
    rng = np.random.default_rng(seed)
    field = make_heightfield(rng, params.n_buildings)
    ground = float(np.median(field.heights))
    cameras = make_cameras(rng, params.n_train + params.n_test, params, ground)
    views = []
    for i, (c2w, K) in enumerate(cameras):
        image, depth = render_view(field, c2w, K, params.image_size, params.supersample)
        split = "train" if i < params.n_train else "test"
        views.append(View(name=f"{split}_{i:03d}.png", image=image, c2w=c2w, K=K, depth=depth))
    points, colours = sample_surface_points(field, rng, params.n_init_points)
    extra = {"source": "synthetic", "seed": seed, "units": "m"}
    scene = Scene(train=views[: params.n_train], test=views[params.n_train :], points=points,
                  colors=colours, extra=extra)
    return scene, field
