"""The NVS part of the prepare stage: one processed layout for synthetic and real scenes.

``out_dir`` receives ``transforms.json`` (OpenGL c2w, nerfstudio keys + train/test lists),
``images/``, ``points3d.ply`` and, for synthetic scenes, ``depth/*.npy`` (camera z-depth in
scene units) and ``dsm.npy`` + ``dsm.json`` (heights in metres on a regular grid).
Coordinates are recentred and rescaled so the scene fits roughly in the unit cube.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlstack.nvs.colmap import load_colmap
from mlstack.nvs.config import PrepareNvsParams
from mlstack.nvs.errors import SceneError
from mlstack.nvs.scene import Scene, load_transforms, normalize_scene, write_scene
from mlstack.nvs.synthetic import CELL_M, HALF_EXTENT_M, VIEW_HALF_M, make_synthetic_scene


def prepare_nvs(params: PrepareNvsParams, seed: int, out_dir: Path) -> dict[str, Any]:
    """Build or convert the scene into out_dir; returns a summary for the stage's metrics."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if params.source == "synthetic":
        scene, field = make_synthetic_scene(params, seed)
        scene = normalize_scene(scene)
        _write_dsm(out_dir, field.heights, scene.extra["normalization"])
    else:
        raw_dir = Path(params.raw_dir)
        if not raw_dir.is_dir():
            raise SceneError(f"{raw_dir}: raw NVS folder not found (prepare.nvs.raw_dir)")
        if params.source == "colmap":
            scene = load_colmap(raw_dir, test_every=params.test_every)
        else:
            scene = load_transforms(raw_dir, test_every=params.test_every,
                                    n_random_points=params.n_init_points, seed=seed)
        scene = normalize_scene(scene)
    scene.extra["source"] = params.source
    write_scene(scene, out_dir)
    return summarize(scene)


def summarize(scene: Scene) -> dict[str, Any]:
    first = scene.train[0]
    return {
        "source": scene.extra.get("source", "unknown"),
        "n_train": len(scene.train),
        "n_test": len(scene.test),
        "n_points": int(len(scene.points)),
        "width": first.width,
        "height": first.height,
        "scale": float(scene.extra.get("normalization", {}).get("scale", 1.0)),
    }


def _write_dsm(out_dir: Path, heights: np.ndarray, normalization: dict) -> None:
    """The DSM in metres, cropped to the viewed area; dsm.json says where it lies."""
    cells = int(round((HALF_EXTENT_M - VIEW_HALF_M) / CELL_M))
    dsm = heights[cells:-cells, cells:-cells].astype(np.float32)
    np.save(out_dir / "dsm.npy", dsm)
    info = {
        "units": "m",
        "cell_size": CELL_M,
        "origin_xy": [-HALF_EXTENT_M + cells * CELL_M] * 2,  # centre of cell [0, 0]
        "row_axis": "y",
        "normalization": normalization,  # scene = (world - center) * scale
    }
    (out_dir / "dsm.json").write_text(json.dumps(info, indent=1) + "\n")
