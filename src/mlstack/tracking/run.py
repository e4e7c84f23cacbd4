"""Stage runs: one MLflow run per stage execution, journaled locally, robust to outages.

Without ``MLFLOW_TRACKING_URI`` every stage logs to one embedded SQLite store in the
*main* repository (also from ``dvc exp run --temp/--queue`` copies under ``.dvc/tmp/exps``).
With a server URI, a pre-flight health check decides whether to talk to it at all; if it
is down at the start or fails mid-run, the stage prints one warning and carries on, and
``mlstack sync`` replays the journal later.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlstack.tracking.journal import Journal
from mlstack.tracking.lineage import (
    PIPELINE_KEY_TAG,
    ROLE_TAG,
    hash_paths,
    lineage_tags,
    load_dvc_yaml,
    stage_outs,
)

EXPERIMENT_ENV = "MLSTACK_EXPERIMENT"
STORE_DIR_ENV = "MLSTACK_MLFLOW_DIR"
DEFAULT_EXPERIMENT = "mlstack"
LOCAL_ID_TAG = "mlstack.local_run_id"
# dvc exp run --temp / --queue execute in <repo>/.dvc/tmp/exps/<tmpdir>/
_EXP_TMP_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep
# Fail fast instead of minutes of retries: a stage must not stall on a dead server.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                  "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
PREFLIGHT_TIMEOUT_S = 3.0


def default_experiment() -> str:
    """The MLflow experiment stages log to and the CLI reads: $MLSTACK_EXPERIMENT or mlstack."""
    return os.environ.get(EXPERIMENT_ENV, DEFAULT_EXPERIMENT)


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


def outbox_dir() -> Path:
    return embedded_store_dir() / "outbox"


def uses_server() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI", "").startswith(("http://", "https://")))


def tracking_uri(cwd: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` when set; otherwise the embedded SQLite store."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    store = embedded_store_dir(cwd)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    _initialise_embedded_store(store, uri)
    return uri


def _initialise_embedded_store(store: Path, uri: str) -> None:
    """Create the SQLite schema once, under a file lock.

    Two stages starting together on a fresh store (`dvc queue start -j 2`) would otherwise
    both run MLflow's migrations and one fails ("duplicate column name").
    """
    marker = store / ".initialised"
    if marker.exists():
        return
    from filelock import FileLock

    store.mkdir(parents=True, exist_ok=True)
    with FileLock(str(store / ".init.lock")):
        if not marker.exists():
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(uri, (store / "artifacts").as_uri())
            marker.touch()


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


def server_reachable(uri: str) -> tuple[bool, str]:
    """One short GET /health, so a dead server costs seconds, not minutes of retries."""
    import requests

    try:
        response = requests.get(uri.rstrip("/") + "/health", timeout=PREFLIGHT_TIMEOUT_S)
    except requests.RequestException as err:
        return False, type(err).__name__
    if response.status_code == 401:  # basic-auth servers answer /health only when logged in
        return True, "ok"
    return response.ok, f"HTTP {response.status_code}"


def experiment_id(client: Any, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    store = None if os.environ.get("MLFLOW_TRACKING_URI") else embedded_store_dir()
    location = (store / "artifacts").as_uri() if store else None
    return client.create_experiment(name, artifact_location=location)


class StageRun:
    """What a stage logs through. Every call is journaled first, then sent if online."""

    primary = True

    def __init__(self, client: Any, journal: Journal, run_id: str | None, uri: str,
                 stage: str = "", parent_id: str | None = None) -> None:
        self.client = client
        self.stage = stage
        self.parent_id = parent_id
        self.journal = journal
        self._server_run_id = run_id
        self.uri = uri
        self.online = run_id is not None

    @property
    def run_id(self) -> str:
        """The MLflow run id, or the local journal id while offline."""
        return self._server_run_id or self.journal.local_id

    def _send(self, call, *args, **kwargs) -> bool:
        if not self.online:
            return False
        try:
            call(*args, **kwargs)
            return True
        except Exception as err:  # noqa: BLE001 - any tracking failure must not stop training
            self.go_offline(f"{type(err).__name__}: {str(err)[:200]}")
            return False

    def go_offline(self, reason: str) -> None:
        if self.online or self._server_run_id is None:
            warn_offline(self.uri, reason, self.journal)
        self.online = False

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = {k: float(v) for k, v in metrics.items()}
        self.journal.write("metrics", values=values, step=step or 0, timestamp=now)
        batch = [Metric(k, v, now, step or 0) for k, v in values.items()]
        self._send(self.client.log_batch, self.run_id, metrics=batch, synchronous=True)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        if not self._send(self.client.log_artifact, self.run_id, str(path), artifact_path):
            self.journal.keep_artifact(Path(path), artifact_path)

    def log_artifacts(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        if not self._send(self.client.log_artifacts, self.run_id, str(path), artifact_path):
            self.journal.keep_artifact(Path(path), artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        tags = {k: str(v) for k, v in tags.items()}
        self.journal.write("tags", tags=tags)
        for key, value in tags.items():
            if not self._send(self.client.set_tag, self.run_id, key, value):
                break

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = {k: str(v) for k, v in flatten(params).items()}
        self.journal.write("params", params=flat)
        items = [Param(k, v) for k, v in flat.items()]
        for start in range(0, len(items), 100):
            if not self._send(self.client.log_batch, self.run_id, params=items[start : start + 100]):
                break

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        """Metrics that also belong on the pipeline run (one row per experiment in MLflow)."""
        self.log_metrics(metrics)
        if self.parent_id:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
            self._send(self.client.log_batch, self.parent_id, metrics=batch, synchronous=True)

    def log_data_inputs(self, hashes: Mapping[str, str], remote: str | None) -> None:
        """Datasets by reference: the DVC md5 as digest, the remote object as source."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        from mlstack.tracking.lineage import remote_object_url

        inputs = []
        for path, md5 in hashes.items():
            where = remote_object_url(remote, md5) if remote else str(Path(path).resolve())
            dataset = MetaDataset(resolve_dataset_source(where), name=path, digest=md5)
            inputs.append(DatasetInput(dataset._to_mlflow_entity(),
                                       [InputTag("mlflow.data.context", self.stage)]))
        self.journal.write("inputs", hashes=dict(hashes), remote=remote)
        if inputs:
            self._send(self.client.log_inputs, self.run_id, datasets=inputs)

    def finish(self, status: str) -> None:
        self.journal.write("end", status=status)
        if self.parent_id:
            self._send(self.client.set_terminated, self.parent_id, "FINISHED")
        if self._send(self.client.set_terminated, self.run_id, status) and self.online:
            self.journal.discard()


_warned: set[str] = set()


def warn_offline(uri: str, reason: str, journal: Journal) -> None:
    """One clear line per process, not a retry storm."""
    if uri in _warned:
        return
    _warned.add(uri)
    print(f"warning: MLflow tracking server {uri} is unreachable ({reason}); training goes on "
          f"and this run is kept in {journal.directory} - run `mlstack sync` once the server "
          "is back", file=sys.stderr)


def _open_server_run(client: Any, uri: str, experiment: str, tags: dict):
    """(run, parent run id) on success, or the reason it failed as a string."""
    if uses_server():
        ok, reason = server_reachable(uri)
        if not ok:
            return reason
    try:
        exp_id = experiment_id(client, experiment)
        parent_id = pipeline_parent(client, exp_id, tags) if PIPELINE_KEY_TAG in tags else None
        if parent_id:
            tags = {**tags, "mlflow.parentRunId": parent_id}
        run = client.create_run(exp_id, tags=tags, run_name=tags.get("mlflow.runName"))
    except Exception as err:  # noqa: BLE001
        return f"{type(err).__name__}: {str(err)[:200]}"
    return run, parent_id


def pipeline_parent(client: Any, exp_id: str, child_tags: Mapping[str, str]) -> str:
    """The run grouping one pipeline execution's stage runs; created by its first stage.

    It carries every param in params.yaml and the summary metrics, so MLflow's compare view
    shows one row per experiment.
    """
    from mlflow.entities import Param

    key = child_tags[PIPELINE_KEY_TAG]
    found = client.search_runs(
        [exp_id], f"tags.`{PIPELINE_KEY_TAG}` = '{key}' and tags.`{ROLE_TAG}` = 'pipeline'",
        max_results=1)
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id
    inherited = {k: v for k, v in child_tags.items()
                 if k.startswith(("dvc.", "git.", "mlflow.source")) and ".dep." not in k}
    name = os.environ.get("DVC_EXP_NAME") or "pipeline"
    tags = {**inherited, PIPELINE_KEY_TAG: key, ROLE_TAG: "pipeline", "mlflow.runName": name}
    run = client.create_run(exp_id, tags=tags, run_name=name)
    params = [Param(k, str(v)) for k, v in flatten(_all_params()).items()]
    for start in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[start : start + 100])
    return run.info.run_id


def _all_params() -> dict:
    from mlstack.params import read_params_file

    try:
        return read_params_file("params.yaml")
    except Exception:  # noqa: BLE001 - grouping is best effort
        return {}


def is_primary_process() -> bool:
    """False in the extra processes of a distributed run (DDP ranks re-run the stage script)."""
    return all(os.environ.get(var, "0") in ("", "0") for var in ("RANK", "LOCAL_RANK", "NODE_RANK"))


class NullRun:
    """What non-primary DDP ranks log through: nothing, so one training makes one MLflow run."""

    online = False
    primary = False
    run_id = ""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def stage_run(stage: str, params: Mapping[str, Any],
              tags: Mapping[str, str] | None = None) -> Iterator[StageRun]:
    """Open a run for one stage execution; it ends FINISHED, or FAILED on error.

    `params` is the nested dict of what the stage reads; it is logged flattened with dots.
    """
    if not is_primary_process():
        yield NullRun()
        return
    from mlflow import MlflowClient

    for key, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    uri = tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    experiment = default_experiment()
    journal = Journal.create(outbox_dir())
    extra, dep_hashes = lineage_tags(stage) if Path("dvc.yaml").exists() else ({}, {})
    all_tags = {**base_tags(stage), **extra, **(tags or {}), LOCAL_ID_TAG: journal.local_id}
    parent_id = None
    opened = _open_server_run(client, uri, experiment, all_tags)
    if not isinstance(opened, str):
        opened, parent_id = opened
    server_run_id = None if isinstance(opened, str) else opened.info.run_id
    journal.write("start", stage=stage, experiment=experiment, tags=all_tags,
                  server_run_id=server_run_id, uri=uri, **_process_identity())
    run = StageRun(client, journal, server_run_id, uri, stage, parent_id)
    if server_run_id is None:
        run.go_offline(opened)
    run.log_params(params)
    run.log_data_inputs(dep_hashes, all_tags.get("dvc.remote_url"))
    try:
        yield run
    except BaseException:
        run.finish("FAILED")
        raise
    if Path("dvc.yaml").exists():
        run.set_tags({f"dvc.out.{p}.md5": md5 for p, md5 in
                      hash_paths(stage_outs(stage, load_dvc_yaml())).items()})
    run.finish("FINISHED")


def _process_identity() -> dict:
    """pid + start time: lets sync tell a live run from one whose process died."""
    import psutil

    return {"pid": os.getpid(), "pid_created": psutil.Process().create_time()}


def base_tags(stage: str) -> dict[str, str]:
    tags = {"mlstack.stage": stage, "mlflow.runName": stage}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    for env, tag in (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags
