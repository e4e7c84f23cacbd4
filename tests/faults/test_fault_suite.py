"""Fault suite: kill the S3 server and the MLflow server in the middle of a pipeline run.

The pipeline must finish on its own (DVC metrics/plots are the source of truth), then once
the services are back `mlstack sync` and `dvc push` must complete, MLflow must hold every
stage run exactly once with everything the stages logged, a fresh clone's `dvc pull` must
restore every output and `dvc status` must be clean. The recovery time is measured.

moto (the development S3 server) keeps objects in memory, so artifacts stored before the
crash are gone with it; with MinIO they survive. The suite therefore checks params, metrics
and tags (in PostgreSQL) for every run and artifacts for the runs replayed by sync.
"""

import json
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from helpers import PROJECT, git_env, make_project_copy, run
from mlstack.stack.testing import kill_abruptly, missing_prerequisite, running_stack, skip_or_fail

pytestmark = [pytest.mark.faults, pytest.mark.services, pytest.mark.slow]

# Long enough (~20 one-second epochs) that train_cd is still training during the outage.
EPOCHS = 20
SLOW_CD = {"train_cd": {"max_epochs": EPOCHS, "patience": EPOCHS}, "prepare": {"cd": {"n_train": 8}}}


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_services_killed_mid_pipeline_lose_nothing(tmp_path):
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    with running_stack() as stack:
        env = git_env({**stack.env, "MLSTACK_EXPERIMENT": "faults"})
        repo = make_project_copy(tmp_path / "repo", overrides=SLOW_CD, env=env)
        (repo / ".dvc" / "config").write_text((PROJECT / ".dvc" / "config").read_text())
        run(["git", "commit", "-qam", "remote"], repo, env)

        pipeline = subprocess.Popen(["dvc", "repro"], cwd=repo, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        csv = repo / "plots" / "train_cd.csv"
        _wait(lambda: csv.exists() and len(csv.read_text().splitlines()) >= 2, 300,
              "train_cd's first epoch")
        kill_abruptly(stack.stack.s3)
        kill_abruptly(stack.stack.mlflow)
        time.sleep(3)  # the stage notices, warns once, and trains on
        began = time.monotonic()
        stack.stack.up(report=lambda message: None)  # starts only what is down; recreates buckets
        restart_s = time.monotonic() - began

        output, _ = pipeline.communicate(timeout=600)
        assert pipeline.returncode == 0, output[-4000:]
        assert output.count("warning: MLflow tracking server") >= 1

        began = time.monotonic()
        sync = run([sys.executable, "-m", "mlstack.cli", "sync"], repo, env)
        run(["dvc", "push"], repo, env)
        catch_up_s = time.monotonic() - began
        # Recovery: services back up, then the missing runs synced and the data pushed.
        print(f"recovery: restart {restart_s:.1f} s + sync and push {catch_up_s:.1f} s")
        assert "synced run" in sync.stdout
        assert restart_s + catch_up_s < 120

        client = MlflowClient(stack.mlflow_uri)
        exp = client.get_experiment_by_name("faults")
        runs = client.search_runs([exp.experiment_id], "tags.`mlstack.stage` != ''")
        stages = sorted(r.data.tags["mlstack.stage"] for r in runs)
        assert stages == ["evaluate", "prepare", "train_cd", "train_nvs"]  # once each
        assert all(r.info.status == "FINISHED" for r in runs)
        by_stage = {r.data.tags["mlstack.stage"]: r for r in runs}
        train = by_stage["train_cd"]
        epochs = [m.step for m in client.get_metric_history(train.info.run_id, "val_f1")]
        assert sorted(epochs) == list(range(EPOCHS))  # every epoch, also those logged offline
        metrics = json.loads((repo / "eval/metrics.json").read_text())
        assert by_stage["evaluate"].data.metrics["cd.f1"] == pytest.approx(metrics["cd"]["f1"])
        replayed = {a.path for a in client.list_artifacts(train.info.run_id)}
        assert "train_cd.csv" in replayed
        assert run([sys.executable, "-m", "mlstack.cli", "sync"], repo, env).stdout.strip() == \
            "nothing to sync"

        run(["git", "add", "-A"], repo, env)
        run(["git", "commit", "-qm", "results"], repo, env)
        clone = tmp_path / "clone"
        run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
        run(["dvc", "pull"], clone, env)
        assert "up to date" in run(["dvc", "status"], clone, env).stdout
        for out in ("models/cd/best.ckpt", "models/nvs/ply/point_cloud.ply",
                    "data/processed/cd/stats.json"):
            assert (clone / out).read_bytes() == (repo / out).read_bytes()
