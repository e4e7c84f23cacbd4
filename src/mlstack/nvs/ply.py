"""Binary little-endian PLY: plain coloured point clouds and the standard 3DGS splat layout.

The splat layout (x, y, z, nx, ny, nz, f_dc_0..2, f_rest_*, opacity, scale_0..2, rot_0..3)
is what the reference 3DGS code writes and common viewers (SuperSplat, antimatter15 splat,
nerfstudio) load: opacity is a logit, scales are logs, rot is a wxyz quaternion and f_rest
is stored channel-major (all R coefficients, then G, then B).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlstack.nvs.errors import SceneError

_PLY_TYPES = {
    "float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8",
    "uchar": "u1", "uint8": "u1", "char": "i1", "int8": "i1",
    "ushort": "<u2", "uint16": "<u2", "short": "<i2", "int16": "<i2",
    "uint": "<u4", "uint32": "<u4", "int": "<i4", "int32": "<i4",
}


def _header(n: int, properties: list[tuple[str, str]]) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    lines += [f"property {kind} {name}" for name, kind in properties]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def encode_ply(columns: dict[str, np.ndarray]) -> bytes:
    """Columns (name -> [N] array of float32 or uint8) to one binary PLY vertex element."""
    kinds = {np.dtype("float32"): ("float", "<f4"), np.dtype("uint8"): ("uchar", "u1")}
    n = len(next(iter(columns.values())))
    dtype = np.dtype([(name, kinds[col.dtype][1]) for name, col in columns.items()])
    table = np.empty(n, dtype=dtype)
    for name, col in columns.items():
        table[name] = col
    header = _header(n, [(name, kinds[col.dtype][0]) for name, col in columns.items()])
    return header + table.tobytes()


def read_ply(path: Path) -> dict[str, np.ndarray]:
    """Read the vertex element of a binary little-endian PLY into name -> array."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise SceneError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise SceneError(f"{path}: only binary_little_endian PLY is supported")
    fields, n, in_vertex = [], 0, False
    for line in header:
        words = line.split()
        if words[:1] == ["element"]:
            in_vertex = words[1] == "vertex"
            if in_vertex:
                n = int(words[2])
            elif n == 0:
                raise SceneError(f"{path}: elements before 'vertex' are not supported")
        elif words[:1] == ["property"] and in_vertex:
            if words[1] == "list" or words[1] not in _PLY_TYPES:
                raise SceneError(f"{path}: unsupported vertex property {line!r}")
            fields.append((words[2], _PLY_TYPES[words[1]]))
    table = np.frombuffer(data, dtype=np.dtype(fields), count=n, offset=end + len(b"end_header\n"))
    return {name: np.array(table[name]) for name, _ in fields}


def write_points_ply(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> bytes:
    """A coloured point cloud (the SfM-style initialisation) as PLY bytes; writes to path."""
    cols = {axis: xyz[:, i].astype(np.float32) for i, axis in enumerate("xyz")}
    cols.update({ch: rgb[:, i].astype(np.uint8) for i, ch in enumerate(("red", "green", "blue"))})
    data = encode_ply(cols)
    Path(path).write_bytes(data)
    return data


def read_points_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(xyz [N, 3] float32, rgb [N, 3] uint8); colours default to grey when absent."""
    cols = read_ply(path)
    if not {"x", "y", "z"} <= cols.keys():
        raise SceneError(f"{path}: point cloud has no x/y/z properties")
    xyz = np.stack([cols["x"], cols["y"], cols["z"]], axis=1).astype(np.float32)
    if {"red", "green", "blue"} <= cols.keys():
        rgb = np.stack([cols["red"], cols["green"], cols["blue"]], axis=1).astype(np.uint8)
    else:
        rgb = np.full_like(xyz, 128, dtype=np.uint8)
    return xyz, rgb


def splat_columns(
    means: np.ndarray, sh0: np.ndarray, shN: np.ndarray, opacity_logits: np.ndarray,
    log_scales: np.ndarray, quats: np.ndarray,
) -> dict[str, np.ndarray]:
    """3DGS attributes -> ordered PLY columns. sh0 [N, 1, 3], shN [N, K-1, 3]."""
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    cols: dict[str, np.ndarray] = {}
    for i, axis in enumerate("xyz"):
        cols[axis] = f32(means[:, i])
    for axis in ("nx", "ny", "nz"):
        cols[axis] = np.zeros(len(means), np.float32)
    for i in range(3):
        cols[f"f_dc_{i}"] = f32(sh0[:, 0, i])
    rest = np.transpose(shN, (0, 2, 1)).reshape(len(means), -1)  # channel-major
    for i in range(rest.shape[1]):
        cols[f"f_rest_{i}"] = f32(rest[:, i])
    cols["opacity"] = f32(opacity_logits.reshape(-1))
    for i in range(3):
        cols[f"scale_{i}"] = f32(log_scales[:, i])
    for i in range(4):
        cols[f"rot_{i}"] = f32(quats[:, i])
    return cols


def read_splat_ply(path: Path) -> dict[str, np.ndarray]:
    """Inverse of :func:`splat_columns`: means, sh0, shN, opacities (logits), scales (log), quats."""
    cols = read_ply(path)
    required = {"x", "y", "z", "f_dc_0", "opacity", "scale_0", "rot_0"}
    if not required <= cols.keys():
        raise SceneError(f"{path}: not a 3DGS splat PLY (missing {sorted(required - cols.keys())})")
    stack = lambda names: np.stack([cols[n] for n in names], axis=1)  # noqa: E731
    n_rest = sum(1 for name in cols if name.startswith("f_rest_"))
    rest = stack([f"f_rest_{i}" for i in range(n_rest)]) if n_rest else np.zeros((len(cols["x"]), 0))
    return {
        "means": stack("xyz"),
        "sh0": stack([f"f_dc_{i}" for i in range(3)])[:, None, :],
        "shN": rest.reshape(len(rest), 3, n_rest // 3).transpose(0, 2, 1),
        "opacities": cols["opacity"],
        "scales": stack([f"scale_{i}" for i in range(3)]),
        "quats": stack([f"rot_{i}" for i in range(4)]),
    }
