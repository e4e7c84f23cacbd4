"""The tracking server is down: training goes on, the run is kept, `mlstack sync` uploads it."""

import socket
import sys

import pytest
from mlflow import MlflowClient

from mlstack.tracking import stage_run
from mlstack.tracking.journal import pending_journals
from mlstack.tracking.run import outbox_dir
from mlstack.tracking.sync import sync

pytestmark = pytest.mark.services


def _dead_uri():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _offline_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _dead_uri())
    artifact = tmp_path / "curve.csv"
    artifact.write_text("epoch,loss\n0,1.0\n")
    with stage_run("train_cd", {"lr": 0.01, "train_cd": {"batch_size": 2}}) as run:
        for epoch in range(3):
            run.log_metrics({"val_f1": 0.1 * epoch}, step=epoch)
        run.log_artifact(artifact, "plots")
        run.set_tags({"custom": "yes"})
    artifact.write_text("changed after the run\n")  # the kept copy must not change
    return run, capsys.readouterr().err


def test_unreachable_server_warns_once_and_keeps_the_run(tmp_path, monkeypatch, capsys):
    import time

    start = time.monotonic()
    run, err = _offline_run(tmp_path, monkeypatch, capsys)
    assert time.monotonic() - start < 15  # no minutes of retries
    assert err.count("warning: MLflow tracking server") == 1
    assert "mlstack sync" in err
    assert [j.local_id for j in pending_journals(outbox_dir())] == [run.run_id]


def test_sync_uploads_once_with_steps_tags_and_artifacts(services_stack, tmp_path, monkeypatch,
                                                         capsys):
    run, _ = _offline_run(tmp_path, monkeypatch, capsys)
    for key, value in services_stack.env.items():
        monkeypatch.setenv(key, value)
    first = sync(services_stack.mlflow_uri)
    assert len(first.synced) == 1 and not first.failed
    second = sync(services_stack.mlflow_uri)
    assert second.synced == [] and not pending_journals(outbox_dir())

    client = MlflowClient(services_stack.mlflow_uri)
    exp = client.get_experiment_by_name("mlstack")
    found = client.search_runs([exp.experiment_id], f"tags.`mlstack.local_run_id` = '{run.run_id}'")
    assert len(found) == 1
    logged = found[0]
    assert logged.info.status == "FINISHED"
    assert logged.data.params == {"lr": "0.01", "train_cd.batch_size": "2"}
    assert logged.data.tags["custom"] == "yes" and logged.data.tags["mlstack.stage"] == "train_cd"
    history = client.get_metric_history(logged.info.run_id, "val_f1")
    assert sorted((m.step, round(m.value, 6)) for m in history) == [(0, 0.0), (1, 0.1), (2, 0.2)]
    local = client.download_artifacts(logged.info.run_id, "plots/curve.csv", str(tmp_path / "dl"))
    assert open(local).read() == "epoch,loss\n0,1.0\n"


def test_cli_sync_reports_nothing_to_do(monkeypatch, capsys, services_stack):
    from mlstack.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", services_stack.mlflow_uri)
    assert main(["sync"]) == 0
    assert "nothing to sync" in capsys.readouterr().out
