"""The CPU NVS renderer: time and peak memory of one training frame (forward + backward)
as the number of Gaussians and the image size grow.

The claim under test (src/mlstack/nvs/render.py): memory grows with pixels x Gaussians per
tile, never pixels x all Gaussians. Each configuration runs in a fresh process so its peak
RSS is its own; the row's figure is the spread (max / min) of bytes per composited
element (pixel x tile-list entry) across configurations: about 1 means linear.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.common import ROOT, Row

TILE_SIZE = 8  # train_nvs.tile_size default
MAX_PER_TILE = 256  # train_nvs.max_gaussians_per_tile default


@dataclass(frozen=True)
class RenderSizes:
    gaussians: tuple[int, ...] = (1000, 4000, 16000)
    image_sizes: tuple[int, ...] = (64, 128, 192)
    repeats: int = 3


QUICK = RenderSizes(gaussians=(1000, 4000), image_sizes=(48,), repeats=2)


def random_scene(n: int, size: int, seed: int = 0):
    """n Gaussians in the view frustum of one camera at the origin looking along +z."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    depth = 2.0 + 2.0 * torch.rand(n, generator=gen)
    xy = (torch.rand(n, 2, generator=gen) - 0.5) * depth[:, None]  # ~53 degree field of view
    leaf = lambda x: x.requires_grad_(True)  # noqa: E731
    return dict(
        means=leaf(torch.cat([xy, depth[:, None]], 1)),
        quats=leaf(torch.randn(n, 4, generator=gen)),
        scales=leaf(0.004 + 0.012 * torch.rand(n, 3, generator=gen)),
        opacities=leaf(0.2 + 0.6 * torch.rand(n, generator=gen)),
        colors=leaf(torch.rand(n, 3, generator=gen)),
        viewmats=torch.eye(4)[None],
        Ks=torch.tensor([[[float(size), 0, size / 2], [0, float(size), size / 2], [0, 0, 1]]]),
        width=size, height=size,
    )


def train_frame(scene: dict) -> None:
    from mlstack.nvs.render import rasterize_torch

    colors, alphas, _ = rasterize_torch(**scene, tile_size=TILE_SIZE, max_per_tile=MAX_PER_TILE)
    (colors.mean() + alphas.mean()).backward()


def gaussians_per_tile(scene: dict) -> float:
    """Mean length of the per-tile lists the compositor works through (from the renderer's
    own projection, so the two cannot disagree on near/far planes or eps2d)."""
    import torch

    from mlstack.nvs import render

    with torch.no_grad():
        _, _, meta = render.rasterize_torch(**scene, tile_size=TILE_SIZE, max_per_tile=MAX_PER_TILE)
        support = render._opacity_aware_radii(meta["conics"][0], meta["opacities"], meta["radii"][0])
        table = render.tile_lists(meta["means2d"][0], support, meta["depths"][0], scene["width"],
                                  scene["height"], TILE_SIZE, MAX_PER_TILE)
    return float((table < len(scene["means"])).sum(1).float().mean())


def proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_rss() -> None:
    """Restart VmHWM from the current RSS (Linux >= 4.0). getrusage's ru_maxrss cannot be
    used: it survives exec, so a child would report its parent's peak."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def measure_one(n: int, size: int, repeats: int) -> dict:
    """In this (fresh) process: the first frame's peak RSS growth, then the median time."""
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    scene = random_scene(n, size)
    per_tile = gaussians_per_tile(scene)
    reset_peak_rss()
    before = proc_status_bytes("VmRSS")
    train_frame(scene)  # the first frame: freed memory the allocator keeps would hide later peaks
    peak = proc_status_bytes("VmHWM") - before
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        train_frame(scene)
        times.append(time.perf_counter() - start)
    elements = size * size * per_tile
    return {"gaussians": n, "image_size": size, "gaussians_per_tile": round(per_tile, 1),
            "frame_s": round(statistics.median(times), 4), "peak_mib": round(peak / 2**20, 1),
            "bytes_per_element": round(peak / elements, 1) if elements else math.nan}


def run_isolated(n: int, size: int, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    out = subprocess.run([sys.executable, "-m", "bench.nvs_render", str(n), str(size),
                          str(repeats)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_nvs_render(sizes: RenderSizes) -> Row:
    table = [run_isolated(n, size, sizes.repeats)
             for size in sizes.image_sizes for n in sizes.gaussians]
    per_element = [r["bytes_per_element"] for r in table if math.isfinite(r["bytes_per_element"])]
    spread = max(per_element) / min(per_element) if per_element else math.nan
    largest = max(table, key=lambda r: (r["image_size"], r["gaussians"]))
    return Row("nvs_render_cpu", "CPU renderer peak memory per (pixel x Gaussian-per-tile), "
               "max/min over configs", "bytes/element", max(per_element), min(per_element),
               spread, "<= 2", sizes.repeats, details=table,
               note=f"largest: {largest['gaussians']} Gaussians at {largest['image_size']}px: "
                    f"{largest['frame_s']} s/frame, {largest['peak_mib']} MiB")


if __name__ == "__main__":
    print(json.dumps(measure_one(*map(int, sys.argv[1:4]))))
