"""train_cd under Lightning DDP: 2 CPU processes (gloo), run as the pipeline runs it
(`python stages/train_cd.py` in a project copy), give a valid checkpoint and metrics."""

import json
import math
import sys

import pytest
import torch

from helpers import git_env, make_project_copy, run

pytestmark = pytest.mark.slow

DDP_ON_CPU = {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "max_epochs": 2,
              "batch_size": 2, "patch_size": 64}


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    store = root / "mlflow-store"
    env = git_env({"MLSTACK_MLFLOW_DIR": str(store), "OMP_NUM_THREADS": "1"})
    env.pop("MLFLOW_TRACKING_URI", None)
    repo = make_project_copy(root / "repo", overrides={"train_cd": DDP_ON_CPU}, env=env)
    run([sys.executable, "stages/prepare.py"], repo, env)
    result = run([sys.executable, "stages/train_cd.py"], repo, env, timeout=600)
    return {"repo": repo, "store": store, "result": result}


def test_ddp_writes_a_loadable_checkpoint(ddp_run):
    from mlstack.models.cd import load_trained

    repo = ddp_run["repo"]
    for name in ("best.ckpt", "last.ckpt"):
        assert (repo / "models" / "cd" / name).is_file()
    task = load_trained(repo / "models" / "cd" / "best.ckpt")
    assert task.hparams["model"] == "fcsiamdiff"
    assert all(torch.isfinite(p).all() for p in task.model.state_dict().values()
               if p.is_floating_point())


def test_ddp_metrics_and_plots(ddp_run):
    repo = ddp_run["repo"]
    summary = json.loads((repo / "metrics" / "train_cd.json").read_text())["cd"]
    assert summary["epochs"] == 2
    assert math.isfinite(summary["best_val_f1"]) and 0.0 <= summary["best_val_f1"] <= 1.0
    rows = (repo / "plots" / "train_cd.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header + one row per epoch, written by rank 0 only


def test_ddp_logs_one_mlflow_run(ddp_run):
    """Every DDP rank re-runs stages/train_cd.py; only rank 0 may open a stage run."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{ddp_run['store'] / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mlstack")
    runs = client.search_runs([experiment.experiment_id], "tags.`mlstack.stage` = 'train_cd'")
    assert len(runs) == 1, f"{len(runs)} train_cd runs for one DDP training"
