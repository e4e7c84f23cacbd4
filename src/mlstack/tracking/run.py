"""A thin stage-run wrapper over the MLflow client API."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPERIMENT_ENV = "MLSTACK_EXPERIMENT"
STORE_DIR_ENV = "MLSTACK_MLFLOW_DIR"
DEFAULT_EXPERIMENT = "mlstack"
# dvc exp run --temp / --queue execute in <repo>/.dvc/tmp/exps/<tmpdir>/
_EXP_TMP_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


def main_repo_root(cwd: Path | None = None) -> Path:
    """The user's repository, even when running inside a DVC temporary experiment copy."""
    cwd = (cwd or Path.cwd()).resolve()
    text = str(cwd) + os.sep
    if _EXP_TMP_MARKER in text:
        return Path(text.split(_EXP_TMP_MARKER)[0])
    for parent in (cwd, *cwd.parents):
        if (parent / ".dvc").is_dir() or (parent / ".git").exists():
            return parent
    return cwd


def embedded_store_dir(cwd: Path | None = None) -> Path:
    if os.environ.get(STORE_DIR_ENV):
        return Path(os.environ[STORE_DIR_ENV]).resolve()
    return main_repo_root(cwd) / ".mlflow"


def tracking_uri(cwd: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` when set; otherwise the embedded SQLite store."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    store = embedded_store_dir(cwd)
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train_cd': {'batch_size': 8}} -> {'train_cd.batch_size': 8}."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


@dataclass
class StageRun:
    """What a stage logs through: params once, metrics with steps, artifacts."""

    client: Any
    run_id: str
    _pending: list = field(default_factory=list)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch, synchronous=True)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))


def _experiment_id(client: Any, name: str, store: Path | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (store / "artifacts").as_uri() if store else None
    return client.create_experiment(name, artifact_location=location)


def _base_tags(stage: str) -> dict[str, str]:
    tags = {"mlstack.stage": stage, "mlflow.runName": stage}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    for env, tag in (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


@contextlib.contextmanager
def stage_run(stage: str, params: Mapping[str, Any]) -> Iterator[StageRun]:
    """Open an MLflow run for one stage execution; ends FINISHED, or FAILED on error.

    `params` is the nested dict of what the stage reads; it is logged flattened with dots.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Param

    uri = tracking_uri()
    store = None if os.environ.get("MLFLOW_TRACKING_URI") else embedded_store_dir()
    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, os.environ.get(EXPERIMENT_ENV, DEFAULT_EXPERIMENT), store)
    run = client.create_run(experiment_id, tags=_base_tags(stage), run_name=stage)
    run_id = run.info.run_id
    flat = [Param(k, str(v)) for k, v in flatten(params).items()]
    for start in range(0, len(flat), 100):
        client.log_batch(run_id, params=flat[start : start + 100])
    try:
        yield StageRun(client, run_id)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
