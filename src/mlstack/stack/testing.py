"""A throw-away native stack for tests.

`running_stack()` starts PostgreSQL, the S3 server and `mlflow server` on
free loopback ports in a temporary state dir and removes everything on exit.
`services_stack` is the session-scoped pytest fixture built on it; any test
directory can use it by importing it into its conftest.py::

    from mlstack.stack.testing import services_stack  # noqa: F401

(or with `pytest_plugins = ["mlstack.stack.testing"]` in the top-level
conftest.py; pytest only honours pytest_plugins there).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import DATA_BUCKETS, DVC_BUCKET, MLFLOW_ARTIFACTS_BUCKET, StackConfig
from .manager import Stack
from .postgres import find_pg_bindir
from .procs import pick_free_port


@dataclass(frozen=True)
class StackHandle:
    """What a test needs to talk to a running stack."""

    stack: Stack
    env: dict[str, str]  # client environment (same as env.sh): MLflow URI, S3 creds+endpoint
    mlflow_uri: str
    s3_endpoint: str
    pg_dsn: str  # the MLflow database, as MLflow's own (non-superuser) role
    dvc_bucket: str = DVC_BUCKET
    artifacts_bucket: str = MLFLOW_ARTIFACTS_BUCKET
    data_buckets: tuple[str, ...] = DATA_BUCKETS

    @property
    def state_dir(self) -> Path:
        return self.stack.state.root

    @property
    def dvc_remote_url(self) -> str:
        return f"s3://{self.dvc_bucket}"

    def s3_client(self):
        from .s3 import s3_client

        return s3_client(self.s3_endpoint, self.stack.creds)


def free_port_config(state_dir: Path) -> StackConfig:
    return StackConfig(
        state_dir=state_dir,
        pg_port=pick_free_port(),
        s3_port=pick_free_port(),
        s3_console_port=pick_free_port(),
        mlflow_port=pick_free_port(),
        mlflow_workers=1,  # fewer processes, faster start
        durable=False,  # the cluster is deleted afterwards anyway
    )


@contextmanager
def running_stack(state_dir: Path | None = None) -> Iterator[StackHandle]:
    """Start a stack on free ports; stop it and delete its state on exit."""
    owns_dir = state_dir is None
    # mkdtemp rather than pytest's tmp_path: when run as root the `postgres`
    # user must traverse to the cluster, and pytest's base dir is 0700.
    root = Path(state_dir or tempfile.mkdtemp(prefix="mlstack-stack-"))
    stack = Stack(free_port_config(root))
    try:
        stack.up(report=lambda message: None)
        yield StackHandle(
            stack=stack,
            env=stack.client_env(),
            mlflow_uri=stack.config.mlflow_uri,
            s3_endpoint=stack.config.s3_endpoint,
            pg_dsn=stack.postgres.dsn(),
        )
    finally:
        stack.down(report=lambda message: None)
        if owns_dir:
            shutil.rmtree(root, ignore_errors=True)


def missing_prerequisite() -> str | None:
    """Why the native stack cannot start here, or None."""
    try:
        find_pg_bindir()
    except Exception as exc:  # MissingBinaryError; keep the message
        return str(exc)
    return None


def skip_or_fail(reason: str) -> None:
    """Skip locally, but fail on CI, where a missing service is a setup bug."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"services stack unavailable on CI: {reason}", pytrace=False)
    pytest.skip(reason)


try:
    import pytest
except ImportError:  # the stack itself does not need pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def services_stack() -> Iterator[StackHandle]:
        """A native stack (real PostgreSQL, S3 over HTTP, `mlflow server`) for the session."""
        reason = missing_prerequisite()
        if reason:
            skip_or_fail(reason)
        with running_stack() as handle:
            yield handle
