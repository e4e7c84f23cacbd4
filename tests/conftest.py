"""Test-wide settings: an isolated MLflow store, and no accidental network."""

import os

import pytest

# The session-scoped native services stack (PostgreSQL, S3, mlflow server) for any test.
pytest_plugins = ["mlstack.stack.testing"]


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    """Each test logs to its own embedded store unless it sets MLFLOW_TRACKING_URI itself."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLSTACK_MLFLOW_DIR", str(tmp_path / "mlflow-store"))
    yield


def pytest_configure(config):
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
