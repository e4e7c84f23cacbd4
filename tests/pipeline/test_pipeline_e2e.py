"""End to end: the real pipeline in a throwaway git+DVC copy of the project, tiny params."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from helpers import git_env, make_project_copy, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repro_repo(tmp_path_factory):
    """One tiny `dvc repro` shared by the tests below (it is the slow part)."""
    root = tmp_path_factory.mktemp("pipeline")
    store = root / "mlflow-store"
    env = git_env({"MLSTACK_MLFLOW_DIR": str(store)})
    env.pop("MLFLOW_TRACKING_URI", None)
    repo = make_project_copy(root / "repo", env=env)
    first = run(["dvc", "repro"], repo, env)
    return {"repo": repo, "env": env, "store": store, "first": first}


def _client(store):
    return MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")


def _runs(store, stage=None):
    client = _client(store)
    exp = client.get_experiment_by_name("mlstack")
    query = f"tags.`mlstack.stage` = '{stage}'" if stage else ""
    return client.search_runs([exp.experiment_id], query, max_results=1000)


def test_repro_writes_cd_metrics(repro_repo):
    metrics = json.loads((repro_repo["repo"] / "eval/metrics.json").read_text())
    cd = metrics["cd"]
    for key in ("f1", "iou", "precision", "recall", "overall_accuracy", "kappa"):
        assert 0.0 <= cd[key] <= 1.0 or (key == "kappa" and -1 <= cd[key] <= 1)
    c = cd["confusion"]
    # Whole test images (2 tiles of 64x64), not a centre crop.
    assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == 2 * 64 * 64
    assert "baseline" in cd
    for out in ("models/cd/best.ckpt", "plots/train_cd.csv", "eval/plots/cd_predictions.png",
                "eval/plots/cd_confusion.png", "eval/plots/cd_pr.csv"):
        assert (repro_repo["repo"] / out).is_file(), out


def test_every_stage_logged_to_embedded_mlflow(repro_repo):
    runs = _runs(repro_repo["store"])
    stages = {r.data.tags["mlstack.stage"] for r in runs}
    assert {"prepare", "train_cd", "evaluate"} <= stages
    for r in runs:
        assert r.info.status == "FINISHED"
        assert "mlflow.source.git.commit" in r.data.tags
    (train,) = _runs(repro_repo["store"], "train_cd")
    assert float(train.data.params["lr"]) == pytest.approx(0.002)
    assert train.data.params["train_cd.batch_size"] == "2"
    (evaluate,) = _runs(repro_repo["store"], "evaluate")
    assert "cd.f1" in evaluate.data.metrics
    artifacts = {a.path for a in _client(repro_repo["store"]).list_artifacts(evaluate.info.run_id, "plots")}
    assert "plots/cd_predictions.png" in artifacts


def test_second_repro_runs_nothing(repro_repo):
    repo, env = repro_repo["repo"], repro_repo["env"]
    before = len(_runs(repro_repo["store"]))
    second = run(["dvc", "repro"], repo, env)
    assert "Running stage" not in second.stdout
    assert len(_runs(repro_repo["store"])) == before
    status = run(["dvc", "status"], repo, env)
    assert "up to date" in status.stdout


def test_exp_run_set_lr_reruns_only_train_and_evaluate(repro_repo):
    repo, env = repro_repo["repo"], repro_repo["env"]
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "baseline with lock", "--allow-empty"], repo, env)
    result = run(["dvc", "exp", "run", "-S", "lr=1e-3"], repo, env)
    ran = {line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("Running stage")}
    assert "train_cd" in ran and "evaluate" in ran
    assert "prepare" not in ran
    train_runs = _runs(repro_repo["store"], "train_cd")
    lrs = sorted(float(r.data.params["lr"]) for r in train_runs)
    assert 0.001 in lrs
    newest = max(train_runs, key=lambda r: r.info.start_time)
    assert float(newest.data.params["lr"]) == pytest.approx(0.001)
    assert newest.data.tags.get("dvc.exp_name")
