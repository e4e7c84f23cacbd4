"""Scene loaders (transforms.json, COLMAP text and binary) and their error messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlstack.nvs.colmap import load_colmap
from mlstack.nvs.errors import SceneError
from mlstack.nvs.ply import write_points_ply
from mlstack.nvs.scene import load_transforms, normalize_scene

from nvs_testkit import F, H, W, toy_cameras, write_colmap_binary, write_colmap_text, write_images, write_transforms

POINTS = np.array([[0.0, 0.0, 0.0], [0.1, 0.2, 0.05], [-0.2, 0.1, 0.0], [0.3, -0.3, 0.1]])


def test_transforms_json_round_trip(tmp_path):
    poses = toy_cameras(3)
    write_points_ply(tmp_path / "points.ply", POINTS.astype(np.float32), np.full((4, 3), 9, np.uint8))
    write_transforms(tmp_path, poses, ply="points.ply")
    scene = load_transforms(tmp_path, test_every=3)
    assert [v.name for v in scene.test] == ["f0.png"] and len(scene.train) == 2
    np.testing.assert_allclose(scene.train[0].c2w, poses[1], atol=1e-9)  # OpenGL -> OpenCV
    assert scene.train[0].K[0, 0] == F and scene.train[0].image.shape == (H, W, 3)
    np.testing.assert_allclose(scene.points, POINTS, atol=1e-6)


def test_processed_scene_has_depth_dsm_and_split(tiny_scene_dir):
    scene = load_transforms(tiny_scene_dir)
    assert len(scene.train) == 8 and len(scene.test) == 2
    assert all(v.depth is not None and v.depth.shape == (32, 32) for v in scene.test)
    assert (tiny_scene_dir / "dsm.npy").is_file() and (tiny_scene_dir / "points3d.ply").is_file()
    assert np.abs(scene.points).max() < 2.0  # normalised into roughly the unit cube
    meta = json.loads((tiny_scene_dir / "transforms.json").read_text())
    assert meta["mlstack"]["normalization"]["scale"] > 0


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_colmap_model(tmp_path, fmt):
    poses = toy_cameras(4)
    writer = write_colmap_text if fmt == "text" else write_colmap_binary
    writer(tmp_path / "sparse" / "0", poses, POINTS)
    write_images(tmp_path / "images", [f"f{i}.png" for i in range(4)])
    scene = load_colmap(tmp_path, test_every=4)
    assert len(scene.train) == 3 and len(scene.test) == 1
    np.testing.assert_allclose(scene.test[0].c2w, poses[0], atol=1e-9)
    np.testing.assert_allclose(scene.train[0].c2w, poses[1], atol=1e-9)
    np.testing.assert_allclose(scene.points, POINTS, atol=1e-6)
    assert tuple(scene.colors[0]) == (100, 150, 200)
    normalised = normalize_scene(scene)
    assert np.percentile(np.linalg.norm(normalised.points, axis=1), 98) == pytest.approx(1.0, rel=1e-3)


# ----------------------------------------------------------------- bad inputs
def test_missing_image_names_the_frame(tmp_path):
    write_transforms(tmp_path, toy_cameras(2))
    (tmp_path / "images" / "f1.png").unlink()
    with pytest.raises(SceneError, match=r"'f1.png'.*not found"):
        load_transforms(tmp_path)


@pytest.mark.parametrize("bad", ["nan", "singular"])
def test_bad_pose_names_the_frame(tmp_path, bad):
    poses = toy_cameras(2)
    poses[1] = poses[1].copy()
    if bad == "nan":
        poses[1][0, 3] = np.nan
    else:
        poses[1][:3, :3] = 0.0
    write_transforms(tmp_path, poses)
    with pytest.raises(SceneError, match=r"'f1.png'.*(NaN|not invertible)"):
        load_transforms(tmp_path)


def test_intrinsics_image_size_mismatch(tmp_path):
    write_transforms(tmp_path, toy_cameras(2), w=W * 2)
    with pytest.raises(SceneError, match=r"'f0.png'.*intrinsics are for 48x16 but the image is 24x16"):
        load_transforms(tmp_path)


def test_empty_point_cloud(tmp_path):
    write_points_ply(tmp_path / "empty.ply", np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8))
    write_transforms(tmp_path, toy_cameras(2), ply="empty.ply")
    with pytest.raises(SceneError, match=r"empty.ply.*empty"):
        load_transforms(tmp_path)


def test_colmap_empty_points(tmp_path):
    write_colmap_text(tmp_path / "sparse", toy_cameras(2), np.zeros((0, 3)))
    write_images(tmp_path / "images", ["f0.png", "f1.png"])
    with pytest.raises(SceneError, match=r"points3D.txt.*empty"):
        load_colmap(tmp_path)


def test_colmap_references_missing_image(tmp_path):
    write_colmap_text(tmp_path / "sparse" / "0", toy_cameras(2), POINTS, names=[None, "gone.png"])
    write_images(tmp_path / "images", ["f0.png", "f1.png"])
    with pytest.raises(SceneError, match=r"'gone.png'.*missing image"):
        load_colmap(tmp_path)


def test_colmap_missing_model(tmp_path):
    with pytest.raises(SceneError, match="no COLMAP model"):
        load_colmap(tmp_path)
