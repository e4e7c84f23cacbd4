"""A sweep of two experiments (`dvc exp run --queue -S 'lr=1e-3,2e-3'` + `dvc queue start
-j 2`) lands two comparable pipeline runs in the main repo's embedded MLflow store."""

import time

import pytest
from mlflow import MlflowClient

from helpers import git_env, make_project_copy, run

pytestmark = pytest.mark.slow


def _wait_for_queue(repo, env, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo, env).stdout
        if "Running" not in status and "Queued" not in status:
            return status
        time.sleep(3)
    raise AssertionError(f"queue did not finish in {timeout}s:\n{status}")


def test_queue_of_two_lands_two_comparable_runs(tmp_path):
    env = git_env()
    env.pop("MLSTACK_MLFLOW_DIR", None)  # the default: <main repo>/.mlflow, also from temp copies
    env.pop("MLFLOW_TRACKING_URI", None)
    repo = make_project_copy(tmp_path / "repo", env=env)
    # A sweep: one queued experiment per value.
    run(["dvc", "exp", "run", "--queue", "-S", "lr=1e-3,2e-3"], repo, env)
    run(["dvc", "queue", "start", "-j", "2"], repo, env)
    try:
        status = _wait_for_queue(repo, env)
    finally:
        run(["dvc", "queue", "stop", "--kill"], repo, env, check=False)
    assert status.count("Success") == 2, status
    client = MlflowClient(f"sqlite:///{repo / '.mlflow' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("mlstack")
    pipelines = client.search_runs([exp.experiment_id], "tags.`mlstack.role` = 'pipeline'")
    assert len(pipelines) == 2
    assert sorted(float(p.data.params["lr"]) for p in pipelines) == [0.001, 0.002]
    for pipeline in pipelines:
        assert pipeline.data.tags["dvc.exp_name"]
        assert {"cd.f1", "nvs.psnr"} <= set(pipeline.data.metrics)
        children = client.search_runs(
            [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{pipeline.info.run_id}'")
        assert {c.data.tags["mlstack.stage"] for c in children} == {
            "prepare", "train_cd", "train_nvs", "evaluate"}
    # Both experiments exist as DVC experiment refs too.
    names = {p.data.tags["dvc.exp_name"] for p in pipelines}
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], repo, env).stdout
    assert all(name in refs for name in names)
