"""Deterministic synthetic bi-temporal change-detection tiles in LEVIR-CD's on-disk layout.

Each tile is an RGB scene with smooth terrain, vegetation patches, roads and buildings.
Between date A and date B some buildings appear and some disappear (the change class),
while nuisance changes that are *not* change also happen: a season shift of the vegetation,
an illumination change, a sun-angle change that moves shadows, slight misregistration and
sensor noise. That makes a thresholded image difference a weak baseline, so a learned model
has to tell building changes from appearance changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

ROOF_COLOURS = np.array(
    [[200, 200, 205], [180, 80, 60], [235, 235, 230], [90, 110, 150], [150, 140, 130]],
    dtype=np.float32,
)


@dataclass(frozen=True)
class Building:
    polygon: tuple[tuple[float, float], ...]
    colour: tuple[float, float, float]
    height: float  # shadow length in pixels per unit sun elevation


def _smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled with cubic splines."""
    coarse = rng.random((size // scale + 3, size // scale + 3))
    fine = ndimage.zoom(coarse, scale, order=3)[:size, :size]
    fine -= fine.min()
    return fine / max(fine.max(), 1e-6)


def _terrain(rng: np.random.Generator, size: int, season: float) -> tuple[np.ndarray, np.ndarray]:
    """Base land cover. `season` in [0, 1] moves vegetation from green (0) to dry brown (1)."""
    soil = np.array([150, 125, 95], np.float32)
    green = np.array([60, 120, 50], np.float32)
    dry = np.array([155, 135, 70], np.float32)
    veg_fraction = _smooth_noise(rng, size, 32)
    texture = _smooth_noise(rng, size, 4)
    veg_mask = veg_fraction > 0.45
    veg_colour = (1 - season) * green + season * dry
    image = np.where(veg_mask[..., None], veg_colour, soil) * (0.85 + 0.3 * texture[..., None])
    return image, texture


def _random_buildings(rng: np.random.Generator, size: int, count: int) -> list[Building]:
    buildings = []
    for _ in range(count):
        w, h = rng.uniform(10, 34, size=2)
        cx, cy = rng.uniform(16, size - 16, size=2)
        angle = rng.uniform(0, np.pi / 2) if rng.random() < 0.4 else 0.0
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        poly = corners @ rot.T + [cx, cy]
        colour = ROOF_COLOURS[rng.integers(len(ROOF_COLOURS))] * rng.uniform(0.85, 1.1)
        buildings.append(
            Building(tuple(map(tuple, poly)), tuple(colour.tolist()), rng.uniform(2, 6))
        )
    return buildings


def _draw_roads(rng: np.random.Generator, size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.5:
            y0, y1 = rng.uniform(0, size, 2)
            pts = [(0, y0), (size, y1)]
        else:
            x0, x1 = rng.uniform(0, size, 2)
            pts = [(x0, 0), (x1, size)]
        draw.line(pts, fill=255, width=int(rng.integers(4, 8)))
    return np.asarray(canvas) > 0


def _footprint(buildings: list[Building], size: int, offset=(0.0, 0.0)) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for b in buildings:
        draw.polygon([(x + offset[0], y + offset[1]) for x, y in b.polygon], fill=255)
    return np.asarray(canvas) > 0


def _free_of(buildings: list[Building], occupied: np.ndarray) -> list[Building]:
    size = occupied.shape[0]
    return [b for b in buildings if not (_footprint([b], size) & occupied).any()]


def _render_date(
    rng: np.random.Generator,
    size: int,
    buildings: list[Building],
    roads: np.ndarray,
    season: float,
    sun_azimuth: float,
    terrain_seed: int,
) -> np.ndarray:
    image, _ = _terrain(np.random.default_rng(terrain_seed), size, season)
    # Fresh texture noise per date, so nothing lines up perfectly between acquisitions.
    image *= 0.95 + 0.1 * _smooth_noise(rng, size, 2)[..., None]
    image[roads] = np.array([110, 110, 115], np.float32)
    shadow_dir = np.array([np.cos(sun_azimuth), np.sin(sun_azimuth)])
    for b in buildings:
        shift = shadow_dir * b.height
        shadow = _footprint([b], size, offset=(shift[0], shift[1]))
        image[shadow] *= 0.45
    for b in buildings:
        image[_footprint([b], size)] = np.array(b.colour, np.float32)
    return image


def _acquisition_effects(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Illumination/gain change, slight misregistration, blur and sensor noise."""
    gain = rng.uniform(0.8, 1.2, size=3)
    offset = rng.uniform(-15, 15, size=3)
    gamma = rng.uniform(0.85, 1.15)
    out = np.clip(image / 255.0, 0, 1) ** gamma * 255.0 * gain + offset
    shift = rng.uniform(-1.5, 1.5, size=2)
    out = ndimage.shift(out, (shift[0], shift[1], 0), order=1, mode="nearest")
    out = ndimage.gaussian_filter(out, sigma=(0.6, 0.6, 0))
    out += rng.normal(0, 4.0, size=out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_pair(seed: int, size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One bi-temporal pair: (image_a, image_b, change_mask), uint8 HxWx3, HxWx3, HxW in {0,255}."""
    rng = np.random.default_rng(seed)
    roads = _draw_roads(rng, size)
    n_static = int(rng.integers(4, 12))
    static = _random_buildings(rng, size, n_static)
    static_fp = _footprint(static, size)
    # Changed buildings never overlap static ones, so the label is exactly what changed.
    removed = _free_of(_random_buildings(rng, size, int(rng.integers(0, 4))), static_fp)
    added = _free_of(_random_buildings(rng, size, int(rng.integers(2, 9))), static_fp)
    terrain_seed = int(rng.integers(2**31))
    season_a, season_b = rng.uniform(0, 0.3), rng.uniform(0.5, 1.0)
    if rng.random() < 0.5:
        season_a, season_b = season_b, season_a
    az_a, az_b = rng.uniform(0, 2 * np.pi, size=2)
    a = _render_date(rng, size, static + removed, roads, season_a, az_a, terrain_seed)
    b = _render_date(rng, size, static + added, roads, season_b, az_b, terrain_seed)
    change = _footprint(removed, size) | _footprint(added, size)
    return (
        _acquisition_effects(rng, a),
        _acquisition_effects(rng, b),
        (change * 255).astype(np.uint8),
    )


def write_levircd_layout(
    root: Path, seed: int, counts: dict[str, int], size: int = 256
) -> dict[str, int]:
    """Write `A|B|label/{split}_{i}.png` (LEVIR-CD's layout); return pixels of change per split."""
    for sub in ("A", "B", "label"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    changed = {}
    for split_index, (split, count) in enumerate(counts.items()):
        changed[split] = 0
        for i in range(1, count + 1):
            # One independent stream per (split, tile): adding tiles never changes existing ones.
            a, b, mask = make_pair(seed * 1_000_003 + split_index * 100_003 + i, size)
            name = f"{split}_{i}.png"
            Image.fromarray(a).save(root / "A" / name)
            Image.fromarray(b).save(root / "B" / name)
            Image.fromarray(mask).save(root / "label" / name)
            changed[split] += int((mask > 0).sum())
    return changed
