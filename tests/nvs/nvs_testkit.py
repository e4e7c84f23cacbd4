"""Writers of small COLMAP / transforms.json inputs for the NVS tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from mlstack.nvs.scene import OPENGL_TO_OPENCV
from mlstack.nvs.synthetic import look_at_c2w

# ----------------------------------------------------------------- hand-made cameras
W, H, F = 24, 16, 20.0


def toy_cameras(n: int = 3) -> list[np.ndarray]:
    """OpenCV camera-to-world poses looking at the origin from above."""
    return [look_at_c2w(np.array([0.3 * i, -0.2 * i, 3.0]), np.zeros(3), heading=0.4 * i)
            for i in range(n)]


def write_images(folder: Path, names: list[str], size=(W, H)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / name)


def write_transforms(root: Path, poses: list[np.ndarray], ply: str | None = None,
                     w: int = W, h: int = H) -> Path:
    names = [f"f{i}.png" for i in range(len(poses))]
    write_images(root / "images", names)
    meta = {"fl_x": F, "fl_y": F, "cx": W / 2, "cy": H / 2, "w": w, "h": h,
            "frames": [{"file_path": f"images/{n}", "transform_matrix": (p @ OPENGL_TO_OPENCV).tolist()}
                       for n, p in zip(names, poses)]}
    if ply:
        meta["ply_file_path"] = ply
    path = root / "transforms.json"
    path.write_text(json.dumps(meta))
    return path


def rotmat_to_qvec(R: np.ndarray) -> np.ndarray:
    x, y, z, w = Rotation.from_matrix(R).as_quat()  # scipy is xyzw, COLMAP is wxyz
    return np.array([w, x, y, z])


def colmap_records(poses: list[np.ndarray]) -> list[tuple[int, np.ndarray, np.ndarray, str]]:
    out = []
    for i, c2w in enumerate(poses):
        w2c = np.linalg.inv(c2w)
        out.append((i + 1, rotmat_to_qvec(w2c[:3, :3]), w2c[:3, 3], f"f{i}.png"))
    return out


def write_colmap_text(model: Path, poses, points: np.ndarray, names=None) -> None:
    model.mkdir(parents=True, exist_ok=True)
    (model / "cameras.txt").write_text(f"# comment\n1 PINHOLE {W} {H} {F} {F} {W / 2} {H / 2}\n")
    lines = ["# IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME"]
    for (image_id, q, t, name), override in zip(colmap_records(poses), names or [None] * len(poses)):
        lines.append(" ".join(map(str, [image_id, *q, *t, 1, override or name])))
        lines.append("")  # no 2D points
    (model / "images.txt").write_text("\n".join(lines) + "\n")
    pts = [f"{i + 1} {x} {y} {z} 100 150 200 0.5" for i, (x, y, z) in enumerate(points)]
    (model / "points3D.txt").write_text("\n".join(pts) + ("\n" if pts else ""))


def write_colmap_binary(model: Path, poses, points: np.ndarray) -> None:
    model.mkdir(parents=True, exist_ok=True)
    cams = struct.pack("<Q", 1) + struct.pack("<iiQQ", 1, 1, W, H) + struct.pack("<4d", F, F, W / 2, H / 2)
    (model / "cameras.bin").write_bytes(cams)
    records = colmap_records(poses)
    data = struct.pack("<Q", len(records))
    for image_id, q, t, name in records:
        data += struct.pack("<i7di", image_id, *q, *t, 1) + name.encode() + b"\x00"
        data += struct.pack("<Q", 1) + struct.pack("<ddq", 1.0, 2.0, -1)
    (model / "images.bin").write_bytes(data)
    data = struct.pack("<Q", len(points))
    for i, (x, y, z) in enumerate(points):
        data += struct.pack("<Q3d3Bd", i + 1, x, y, z, 100, 150, 200, 0.5)
        data += struct.pack("<Q", 1) + struct.pack("<ii", 1, 0)
    (model / "points3D.bin").write_bytes(data)
