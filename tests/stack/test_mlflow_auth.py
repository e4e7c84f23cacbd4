"""MLSTACK_MLFLOW_AUTH=true: `mlflow server --app-name basic-auth`, on a stack
of its own so the session's `services_stack` stays unauthenticated."""

import json
import os
import stat

import mlflow
import pytest
import requests

from mlstack.stack import StackConfig
from mlstack.stack.mlflow_server import missing_auth_dependency
from mlstack.stack.state import StateDir
from mlstack.stack.testing import missing_prerequisite, running_stack, skip_or_fail

pytestmark = pytest.mark.services

SEARCH = "/api/2.0/mlflow/experiments/search"
LOGIN_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture(scope="module")
def auth_stack():
    reason = missing_prerequisite() or missing_auth_dependency()
    if reason:
        skip_or_fail(reason)
    with running_stack(mlflow_auth=True) as handle:
        yield handle


def login(handle) -> tuple[str, str]:
    return tuple(handle.env[name] for name in LOGIN_VARIABLES)


def test_requests_without_or_with_wrong_login_are_refused(auth_stack):
    url = auth_stack.mlflow_uri + SEARCH
    assert requests.get(url, params={"max_results": 1}, timeout=10).status_code == 401
    user, _ = login(auth_stack)
    wrong = requests.get(url, params={"max_results": 1}, auth=(user, "wrong-password"), timeout=10)
    assert wrong.status_code == 401
    # Health stays open: `mlstack stack status` and load balancers probe it.
    assert requests.get(auth_stack.mlflow_uri + "/health", timeout=10).status_code == 200


def test_client_with_login_from_env_logs_a_run(auth_stack, monkeypatch, tmp_path):
    for name in LOGIN_VARIABLES:
        monkeypatch.setenv(name, auth_stack.env[name])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_stack.mlflow_uri)
    mlflow.set_tracking_uri(auth_stack.mlflow_uri)
    artifact = tmp_path / "note.txt"
    artifact.write_text("authenticated\n")
    try:
        mlflow.set_experiment("auth-check")
        with mlflow.start_run() as run:
            mlflow.log_metric("val_iou", 0.5)
            mlflow.log_artifact(str(artifact))
        logged = mlflow.get_run(run.info.run_id)
    finally:
        mlflow.set_tracking_uri(None)
    assert logged.data.metrics == {"val_iou": 0.5}
    listed = requests.get(
        auth_stack.mlflow_uri + "/api/2.0/mlflow-artifacts/artifacts",
        params={"path": f"{logged.info.experiment_id}/{run.info.run_id}/artifacts"},
        auth=login(auth_stack), timeout=10,
    )  # fmt: skip
    assert listed.status_code == 200 and "note.txt" in listed.text


def test_login_is_in_env_sh_only(auth_stack):
    user, password = login(auth_stack)
    env_sh = auth_stack.stack.state.env_file
    assert f"export MLFLOW_TRACKING_PASSWORD={password}" in env_sh.read_text()
    assert stat.S_IMODE(env_sh.stat().st_mode) == 0o600
    # The ini file and the server's command line carry no secret.
    assert password not in auth_stack.stack.state.mlflow_auth_config.read_text()
    cmdline = open(f"/proc/{auth_stack.stack.mlflow.pid()}/cmdline", "rb").read()
    assert password.encode() not in cmdline and b"basic-auth" in cmdline


def test_flag_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MLSTACK_MLFLOW_AUTH", "true")
    assert StackConfig.from_env().mlflow_auth
    monkeypatch.setenv("MLSTACK_MLFLOW_AUTH", "0")
    assert not StackConfig.from_env().mlflow_auth
    monkeypatch.setenv("MLSTACK_MLFLOW_AUTH", "maybe")
    with pytest.raises(ValueError, match="MLSTACK_MLFLOW_AUTH"):
        StackConfig.from_env()


def test_session_stack_stays_unauthenticated(services_stack):
    assert not set(LOGIN_VARIABLES) & set(services_stack.env)
    response = requests.get(services_stack.mlflow_uri + SEARCH, params={"max_results": 1}, timeout=10)
    assert response.status_code == 200
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ


def test_older_credentials_file_gains_the_auth_secrets(tmp_path):
    older = {"s3_access_key": "a", "s3_secret_key": "b", "pg_superuser_password": "c", "pg_password": "d"}
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(older))
    creds = StateDir(tmp_path).credentials()
    assert (creds.s3_access_key, creds.pg_password) == ("a", "d")  # existing secrets kept
    assert len(creds.mlflow_admin_password) == 40 and creds.mlflow_flask_secret
    assert json.loads(path.read_text())["mlflow_admin_password"] == creds.mlflow_admin_password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StateDir(tmp_path).credentials() == creds  # generated once
