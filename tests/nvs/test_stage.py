"""The train_nvs stage body (mlstack.nvs.train.train_nvs) writes every declared output."""

from __future__ import annotations

import csv
import json

from mlstack.nvs.config import TrainNvsParams
from mlstack.nvs.ply import read_splat_ply
from mlstack.nvs.train import train_nvs


class RecordingRun:
    """Stands in for tracking.StageRun: records what would go to MLflow."""

    def __init__(self):
        self.metrics, self.artifacts = [], []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append((str(path), artifact_path))


def test_train_nvs_writes_outputs(tiny_scene_dir, tmp_path):
    params = TrainNvsParams(iterations=12, refine_start_iter=4, refine_every=4, refine_stop_iter=10,
                            progress=False, log_every=5, device="cpu")
    out, plots, run = tmp_path / "models" / "nvs", tmp_path / "plots" / "train_nvs.csv", RecordingRun()
    summary = train_nvs(params, 0, tiny_scene_dir, out, plots, run=run)
    assert (out / "ckpts" / "last.pt").is_file()
    splats = read_splat_ply(out / "ply" / "point_cloud.ply")
    assert len(splats["means"]) == summary["num_gaussians"]
    assert json.loads((out / "stats" / "train.json").read_text())["iterations"] == 12
    rows = list(csv.DictReader(plots.open()))
    assert len(rows) == 12 and set(rows[0]) == {"step", "loss", "psnr", "num_gaussians"}
    assert [step for step, _ in run.metrics] == [0, 5, 10]
    assert run.artifacts[0][1] == "ply"
