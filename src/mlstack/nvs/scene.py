"""Scenes: posed images + an initial point cloud, read from and written to ``transforms.json``.

Internally cameras are OpenCV camera-to-world (x right, y down, z forward), which is what
gsplat's world-to-camera ``viewmats`` invert. ``transforms.json`` (nerfstudio/Blender) stores
OpenGL camera-to-world (y up, z backward); the conversion flips the y and z camera axes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mlstack.nvs.errors import SceneError
from mlstack.nvs.ply import read_points_ply, write_points_ply

OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # self-inverse axis flip


@dataclass
class View:
    name: str  # frame name (image file name) used in error messages and outputs
    image: np.ndarray  # [H, W, 3] uint8
    c2w: np.ndarray  # [4, 4] float64, OpenCV convention
    K: np.ndarray  # [3, 3] float64 pinhole intrinsics
    depth: np.ndarray | None = None  # [H, W] float32 camera z-depth (scene units) if known

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]


@dataclass
class Scene:
    train: list[View]
    test: list[View]
    points: np.ndarray  # [P, 3] float32 initial point cloud (scene units)
    colors: np.ndarray  # [P, 3] uint8
    extra: dict[str, Any] = field(default_factory=dict)  # normalisation, DSM, source info

    @property
    def scene_scale(self) -> float:
        """Radius of the camera centres around their mean, as gsplat's simple_trainer."""
        centres = np.stack([v.c2w[:3, 3] for v in self.train])
        return float(max(np.linalg.norm(centres - centres.mean(0), axis=1).max(), 1e-3) * 1.1)


def check_pose(name: str, c2w: np.ndarray) -> np.ndarray:
    c2w = np.asarray(c2w, dtype=np.float64)
    if c2w.shape == (3, 4):
        c2w = np.vstack([c2w, [0.0, 0.0, 0.0, 1.0]])
    if c2w.shape != (4, 4):
        raise SceneError(f"frame {name!r}: pose must be 4x4 or 3x4, got shape {c2w.shape}")
    if not np.isfinite(c2w).all():
        raise SceneError(f"frame {name!r}: pose contains NaN or inf")
    if abs(np.linalg.det(c2w[:3, :3])) < 1e-8 or abs(np.linalg.det(c2w)) < 1e-8:
        raise SceneError(f"frame {name!r}: pose is not invertible (singular rotation)")
    return c2w


def check_intrinsics(name: str, K: np.ndarray, width: int, height: int, image: np.ndarray) -> None:
    if not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise SceneError(f"frame {name!r}: focal lengths must be positive and finite, got {K[0, 0]}, {K[1, 1]}")
    if image.shape[1] != width or image.shape[0] != height:
        raise SceneError(
            f"frame {name!r}: intrinsics are for {width}x{height} but the image is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    if not (0 < K[0, 2] < width and 0 < K[1, 2] < height):
        raise SceneError(f"frame {name!r}: principal point ({K[0, 2]}, {K[1, 2]}) outside the image")


def load_image(name: str, path: Path) -> np.ndarray:
    if not path.is_file():
        raise SceneError(f"frame {name!r}: image file not found: {path}")
    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except OSError as err:
        raise SceneError(f"frame {name!r}: cannot read image {path}: {err}") from err


def check_points(points: np.ndarray, source: str) -> None:
    if len(points) == 0:
        raise SceneError(f"{source}: the point cloud is empty")
    if not np.isfinite(points).all():
        raise SceneError(f"{source}: the point cloud contains NaN or inf")


def _intrinsics(frame: dict, meta: dict, name: str) -> tuple[np.ndarray, int, int]:
    """fl_x/fl_y/cx/cy/w/h per frame or global; Blender's camera_angle_x also accepted."""
    get = lambda key: frame.get(key, meta.get(key))  # noqa: E731
    w, h = get("w"), get("h")
    if w is None or h is None:
        raise SceneError(f"frame {name!r}: image size w/h missing in transforms.json")
    fx = get("fl_x")
    if fx is None and get("camera_angle_x") is not None:
        fx = 0.5 * w / math.tan(0.5 * float(get("camera_angle_x")))
    if fx is None:
        raise SceneError(f"frame {name!r}: focal length fl_x (or camera_angle_x) missing")
    fy = get("fl_y") or fx
    cx, cy = get("cx"), get("cy")
    K = np.array([[fx, 0, w / 2 if cx is None else cx], [0, fy, h / 2 if cy is None else cy], [0, 0, 1]],
                 dtype=np.float64)
    return K, int(w), int(h)


def _image_path(root: Path, file_path: str) -> Path:
    path = root / file_path
    if not path.suffix and not path.exists():  # Blender: file_path without extension
        path = path.with_suffix(".png")
    return path


def _read_frame(root: Path, meta: dict, frame: dict, index: int) -> View:
    file_path = frame.get("file_path")
    name = Path(file_path).name if file_path else f"#{index}"
    if file_path is None:
        raise SceneError(f"frame {name!r}: file_path missing")
    if "transform_matrix" not in frame:
        raise SceneError(f"frame {name!r}: transform_matrix missing")
    c2w = check_pose(name, frame["transform_matrix"]) @ OPENGL_TO_OPENCV
    K, w, h = _intrinsics(frame, meta, name)
    image = load_image(name, _image_path(root, file_path))
    check_intrinsics(name, K, w, h, image)
    depth = None
    if frame.get("depth_file_path"):
        depth_path = root / frame["depth_file_path"]
        if not depth_path.is_file():
            raise SceneError(f"frame {name!r}: depth file not found: {depth_path}")
        depth = np.load(depth_path).astype(np.float32)
        if depth.shape != (h, w):
            raise SceneError(f"frame {name!r}: depth is {depth.shape}, image is {(h, w)}")
    return View(name=name, image=image, c2w=c2w, K=K, depth=depth)


def load_transforms(path: Path, test_every: int = 8, n_random_points: int = 4000,
                    seed: int = 0) -> Scene:
    """Read a nerfstudio/Blender ``transforms.json`` (or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "transforms.json"
    if not path.is_file():
        raise SceneError(f"{path}: transforms.json not found")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SceneError(f"{path}: not valid JSON: {err}") from err
    frames = meta.get("frames") or []
    if not frames:
        raise SceneError(f"{path}: no frames")
    root = path.parent
    views = [_read_frame(root, meta, frame, i) for i, frame in enumerate(frames)]
    train, test = _split(views, frames, meta, test_every, path)
    points, colors = _initial_points(root, meta, views, n_random_points, seed, path)
    return Scene(train=train, test=test, points=points, colors=colors,
                 extra=dict(meta.get("mlstack", {})))


def split_every(views: list[View], test_every: int) -> tuple[list[View], list[View]]:
    """(train, test): every test_every-th view is held out (none when there is one view)."""
    test = views[::test_every] if len(views) > 1 else []
    train = [v for i, v in enumerate(views) if i % test_every or len(views) == 1]
    return train, test


def _split(views: list[View], frames: list[dict], meta: dict, test_every: int,
           path: Path) -> tuple[list[View], list[View]]:
    """Nerfstudio's train_filenames/test_filenames when given, else every k-th frame is test."""
    if "train_filenames" in meta and "test_filenames" in meta:
        by_path = {frame["file_path"]: view for frame, view in zip(frames, views)}
        pick = lambda names: [by_path[n] for n in names if n in by_path]  # noqa: E731
        train, test = pick(meta["train_filenames"]), pick(meta["test_filenames"])
    else:
        train, test = split_every(views, test_every)
    if not train:
        raise SceneError(f"{path}: no training frames")
    return train, test


def _initial_points(root: Path, meta: dict, views: list[View], n_random: int, seed: int,
                    path: Path) -> tuple[np.ndarray, np.ndarray]:
    if meta.get("ply_file_path"):
        ply = root / meta["ply_file_path"]
        if not ply.is_file():
            raise SceneError(f"{path}: point cloud file not found: {ply}")
        points, colors = read_points_ply(ply)
        check_points(points, str(ply))
        return points, colors
    # No SfM points (e.g. Blender scenes): random points in the box the cameras look at.
    rng = np.random.default_rng(seed)
    centres = np.stack([v.c2w[:3, 3] for v in views])
    radius = max(float(np.linalg.norm(centres - centres.mean(0), axis=1).max()), 1e-3)
    points = (rng.random((n_random, 3)) * 2 - 1) * radius * 0.5 + centres.mean(0)
    return points.astype(np.float32), np.full((n_random, 3), 128, np.uint8)


def normalize_scene(scene: Scene) -> Scene:
    """Recentre on the point cloud and rescale it into roughly the unit cube (float32-safe)."""
    centre = np.median(scene.points.astype(np.float64), axis=0)
    radius = np.percentile(np.linalg.norm(scene.points - centre, axis=1), 98)
    scale = 1.0 / max(float(radius), 1e-9)

    def move(view: View) -> View:
        c2w = view.c2w.copy()
        c2w[:3, 3] = (c2w[:3, 3] - centre) * scale
        depth = None if view.depth is None else (view.depth * scale).astype(np.float32)
        return View(view.name, view.image, c2w, view.K, depth)

    extra = dict(scene.extra)
    extra["normalization"] = {"center": centre.tolist(), "scale": scale}
    points = ((scene.points - centre) * scale).astype(np.float32)
    return Scene([move(v) for v in scene.train], [move(v) for v in scene.test], points,
                 scene.colors, extra)


def write_scene(scene: Scene, out_dir: Path) -> dict[str, Any]:
    """The processed layout: transforms.json, images/, depth/, points3d.ply."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    frames, split = [], {"train": [], "test": []}
    for part, views in (("train", scene.train), ("test", scene.test)):
        for view in views:
            frames.append(_write_frame(view, out_dir))
            split[part].append(frames[-1]["file_path"])
    write_points_ply(out_dir / "points3d.ply", scene.points, scene.colors)
    meta = {
        "camera_model": "OPENCV",
        "frames": frames,
        "train_filenames": split["train"],
        "test_filenames": split["test"],
        "ply_file_path": "points3d.ply",
        "mlstack": scene.extra,
    }
    (out_dir / "transforms.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _write_frame(view: View, out_dir: Path) -> dict[str, Any]:
    stem = Path(view.name).stem
    file_path = f"images/{stem}.png"
    Image.fromarray(view.image).save(out_dir / file_path)
    frame = {
        "file_path": file_path,
        "transform_matrix": (view.c2w @ OPENGL_TO_OPENCV).tolist(),
        "fl_x": float(view.K[0, 0]), "fl_y": float(view.K[1, 1]),
        "cx": float(view.K[0, 2]), "cy": float(view.K[1, 2]),
        "w": view.width, "h": view.height,
    }
    if view.depth is not None:
        (out_dir / "depth").mkdir(exist_ok=True)
        frame["depth_file_path"] = f"depth/{stem}.npy"
        np.save(out_dir / frame["depth_file_path"], view.depth.astype(np.float32))
    return frame
