"""Read a COLMAP sparse model (text or binary) + its images into a :class:`Scene`.

Only undistorted pinhole models are accepted (run ``colmap image_undistorter`` first):
SIMPLE_PINHOLE, PINHOLE, and the radial/OpenCV models when all distortion terms are zero.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from mlstack.nvs.errors import SceneError
from mlstack.nvs.scene import (
    Scene,
    View,
    check_intrinsics,
    check_points,
    check_pose,
    load_image,
    split_every,
)

# model id -> (name, number of params); the subset of COLMAP's list we can read.
CAMERA_MODELS = {0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4),
                 3: ("RADIAL", 5), 4: ("OPENCV", 8)}
MODEL_IDS = {name: mid for mid, (name, _) in CAMERA_MODELS.items()}


def find_model_dir(raw_dir: Path) -> Path:
    """raw_dir/sparse/0, raw_dir/sparse or raw_dir: the first holding cameras.{txt,bin}."""
    for candidate in (raw_dir / "sparse" / "0", raw_dir / "sparse", raw_dir):
        if any((candidate / f"cameras.{ext}").is_file() for ext in ("txt", "bin")):
            return candidate
    raise SceneError(f"{raw_dir}: no COLMAP model (cameras.txt or cameras.bin) found")


def _intrinsics(model: str, params: list[float], source: str) -> np.ndarray:
    if model == "SIMPLE_PINHOLE":
        f, cx, cy = params
        fx = fy = f
    elif model == "PINHOLE":
        fx, fy, cx, cy = params
    else:
        distortion = params[3:] if model in ("SIMPLE_RADIAL", "RADIAL") else params[4:]
        if any(abs(d) > 1e-12 for d in distortion):
            raise SceneError(f"{source}: {model} camera has lens distortion; undistort the "
                             "images first (colmap image_undistorter)")
        fx, fy, cx, cy = (params[0], params[0], params[1], params[2]) if model != "OPENCV" else params[:4]
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)


def _data_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if not line.startswith("#")]


def read_cameras_text(path: Path) -> dict[int, tuple[np.ndarray, int, int]]:
    cameras = {}
    for line in _data_lines(path):
        if not line:
            continue
        words = line.split()
        cam_id, model, w, h = int(words[0]), words[1], int(words[2]), int(words[3])
        if model not in MODEL_IDS:
            raise SceneError(f"{path}: camera {cam_id}: unsupported model {model}")
        cameras[cam_id] = (_intrinsics(model, [float(x) for x in words[4:]], f"{path}: camera {cam_id}"), w, h)
    return cameras


def read_images_text(path: Path) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """(name, qvec wxyz, tvec, camera id) per image; each image has a second (points) line."""
    lines = _data_lines(path)
    images = []
    for i in range(0, len(lines), 2):
        if not lines[i]:
            continue
        words = lines[i].split()
        qvec = np.array([float(x) for x in words[1:5]])
        tvec = np.array([float(x) for x in words[5:8]])
        images.append((" ".join(words[9:]), qvec, tvec, int(words[8])))
    return images


def read_points_text(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [line.split() for line in _data_lines(path) if line]
    xyz = np.array([[float(x) for x in r[1:4]] for r in rows], dtype=np.float64).reshape(-1, 3)
    rgb = np.array([[int(x) for x in r[4:7]] for r in rows], dtype=np.uint8).reshape(-1, 3)
    return xyz, rgb


class _Reader:
    def __init__(self, path: Path):
        self.path, self.data, self.pos = path, path.read_bytes(), 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise SceneError(f"{self.path}: truncated COLMAP binary file")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def cstring(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise SceneError(f"{self.path}: truncated COLMAP binary file")
        text = self.data[self.pos : end].decode()
        self.pos = end + 1
        return text


def read_cameras_binary(path: Path) -> dict[int, tuple[np.ndarray, int, int]]:
    reader, cameras = _Reader(path), {}
    for _ in range(reader.take("Q")[0]):
        cam_id, model_id, w, h = reader.take("iiQQ")
        if model_id not in CAMERA_MODELS:
            raise SceneError(f"{path}: camera {cam_id}: unsupported model id {model_id}")
        model, n_params = CAMERA_MODELS[model_id]
        params = list(reader.take("d" * n_params))
        cameras[cam_id] = (_intrinsics(model, params, f"{path}: camera {cam_id}"), int(w), int(h))
    return cameras


def read_images_binary(path: Path) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    reader, images = _Reader(path), []
    for _ in range(reader.take("Q")[0]):
        values = reader.take("idddddddi")
        name = reader.cstring()
        n_points2d = reader.take("Q")[0]
        reader.take("ddq" * n_points2d)
        images.append((name, np.array(values[1:5]), np.array(values[5:8]), values[8]))
    return images


def read_points_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    reader, xyz, rgb = _Reader(path), [], []
    for _ in range(reader.take("Q")[0]):
        values = reader.take("QdddBBBd")
        xyz.append(values[1:4])
        rgb.append(values[4:7])
        track_length = reader.take("Q")[0]
        reader.take("ii" * track_length)
    return np.array(xyz, np.float64).reshape(-1, 3), np.array(rgb, np.uint8).reshape(-1, 3)


def qvec_to_rotmat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def load_colmap(raw_dir: Path, test_every: int = 8, images_dir: Path | None = None) -> Scene:
    """A COLMAP model under raw_dir (see :func:`find_model_dir`), images in raw_dir/images."""
    raw_dir = Path(raw_dir)
    model_dir = find_model_dir(raw_dir)
    images_dir = images_dir or raw_dir / "images"
    binary = (model_dir / "cameras.bin").is_file()
    ext = "bin" if binary else "txt"
    for part in ("cameras", "images", "points3D"):
        if not (model_dir / f"{part}.{ext}").is_file():
            raise SceneError(f"{model_dir}: {part}.{ext} missing")
    read_cams, read_imgs, read_pts = (
        (read_cameras_binary, read_images_binary, read_points_binary) if binary
        else (read_cameras_text, read_images_text, read_points_text))
    cameras = read_cams(model_dir / f"cameras.{ext}")
    records = sorted(read_imgs(model_dir / f"images.{ext}"), key=lambda r: r[0])
    if not records:
        raise SceneError(f"{model_dir}: the model has no registered images")
    views = [_view(name, q, t, cam_id, cameras, images_dir, model_dir)
             for name, q, t, cam_id in records]
    points, colors = read_pts(model_dir / f"points3D.{ext}")
    check_points(points, str(model_dir / f"points3D.{ext}"))
    train, test = split_every(views, test_every)
    return Scene(train=train, test=test, points=points.astype(np.float32), colors=colors,
                 extra={"source": "colmap"})


def _view(name: str, qvec: np.ndarray, tvec: np.ndarray, cam_id: int, cameras: dict,
          images_dir: Path, model_dir: Path) -> View:
    if cam_id not in cameras:
        raise SceneError(f"frame {name!r}: references camera {cam_id}, not in {model_dir}")
    if not (np.isfinite(qvec).all() and np.linalg.norm(qvec) > 1e-12 and np.isfinite(tvec).all()):
        raise SceneError(f"frame {name!r}: pose contains NaN/inf or a zero quaternion")
    w2c = np.eye(4)
    w2c[:3, :3], w2c[:3, 3] = qvec_to_rotmat(qvec), tvec
    c2w = check_pose(name, np.linalg.inv(w2c))
    image_path = images_dir / name
    if not image_path.is_file():
        raise SceneError(f"frame {name!r}: the COLMAP model references a missing image: {image_path}")
    image = load_image(name, image_path)
    K, w, h = cameras[cam_id]
    check_intrinsics(name, K, w, h, image)
    return View(name=name, image=image, c2w=c2w, K=K)
