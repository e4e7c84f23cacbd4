"""Where runs go: the embedded store of the main repo, or MLFLOW_TRACKING_URI."""

from pathlib import Path

from mlflow import MlflowClient

from mlstack.tracking import stage_run, tracking_uri
from mlstack.tracking.run import flatten, main_repo_root


def test_temp_experiment_copies_resolve_to_the_main_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".dvc" / "tmp" / "exps" / "tmpab12cd" / "stages").mkdir(parents=True)
    assert main_repo_root(repo / ".dvc/tmp/exps/tmpab12cd") == repo.resolve()
    assert main_repo_root(repo / ".dvc/tmp/exps/tmpab12cd/stages") == repo.resolve()


def test_embedded_store_default_is_in_repo(tmp_path, monkeypatch):
    monkeypatch.delenv("MLSTACK_MLFLOW_DIR")
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    monkeypatch.chdir(repo)
    assert tracking_uri() == f"sqlite:///{repo.resolve() / '.mlflow' / 'mlflow.db'}"


def test_tracking_uri_env_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri() == "http://127.0.0.1:5999"


def test_flatten():
    assert flatten({"lr": 0.1, "train_cd": {"a": 1, "b": {"c": 2}}}) == {
        "lr": 0.1, "train_cd.a": 1, "train_cd.b.c": 2}


def test_stage_run_logs_params_metrics_tags_and_artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "sunny-lark")
    artifact = tmp_path / "note.txt"
    artifact.write_text("hello")
    with stage_run("train_cd", {"lr": 0.001, "train_cd": {"batch_size": 4}}) as run:
        run.log_metrics({"val_f1": 0.5}, step=3)
        run.log_artifact(artifact, "notes")
    client = MlflowClient(tracking_uri())
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params == {"lr": "0.001", "train_cd.batch_size": "4"}
    assert logged.data.tags["dvc.exp_name"] == "sunny-lark"
    assert logged.data.tags["mlstack.stage"] == "train_cd"
    history = client.get_metric_history(run.run_id, "val_f1")
    assert [(m.step, m.value) for m in history] == [(3, 0.5)]
    assert [a.path for a in client.list_artifacts(run.run_id, "notes")] == ["notes/note.txt"]
    store = Path(tracking_uri().removeprefix("sqlite:///")).parent
    assert (store / "artifacts").is_dir()


def test_failed_stage_marks_run_failed(tmp_path):
    try:
        with stage_run("evaluate", {}) as run:
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert MlflowClient(tracking_uri()).get_run(run.run_id).info.status == "FAILED"
