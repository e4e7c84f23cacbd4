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

import dataclasses
import json
import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import boto3

from .config import DATA_BUCKETS, DVC_BUCKET, MLFLOW_ARTIFACTS_BUCKET, StackConfig
from .manager import Stack
from .postgres import find_pg_bindir
from .procs import pick_free_port, port_accepts, process_is_running, wait_for
from .s3 import REGION, S3Server, s3_client_env
from .state import StateDir


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


def free_port_config(state_dir: Path, mlflow_auth: bool = False) -> StackConfig:
    return StackConfig(
        state_dir=state_dir,
        pg_port=pick_free_port(),
        s3_port=pick_free_port(),
        s3_console_port=pick_free_port(),
        mlflow_port=pick_free_port(),
        mlflow_workers=1,  # fewer processes, faster start
        durable=False,  # the cluster is deleted afterwards anyway
        mlflow_auth=mlflow_auth,
    )


@contextmanager
def running_stack(
    state_dir: Path | None = None, *, mlflow_auth: bool = False
) -> Iterator[StackHandle]:
    """Start a stack on free ports; stop it and delete its state on exit."""
    owns_dir = state_dir is None
    # mkdtemp rather than pytest's tmp_path: when run as root the `postgres`
    # user must traverse to the cluster, and pytest's base dir is 0700.
    root = Path(state_dir or tempfile.mkdtemp(prefix="mlstack-stack-"))
    stack = Stack(free_port_config(root, mlflow_auth=mlflow_auth))
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


# -- S3 servers for fault-injection tests ---------------------------------------


class CredentialCheckingMoto(S3Server):
    """moto with signature checks on, so unknown keys and wrong secrets are
    refused as MinIO and AWS refuse them (plain moto accepts any key).

    moto validates keys against its own IAM, so the first requests it serves
    unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT) create an IAM user with S3
    rights and an access key; `creds` then holds that key.
    """

    _BOOTSTRAP_REQUESTS = 3  # create user, attach policy, create key

    def _environment(self) -> dict[str, str]:
        return {**super()._environment(), "INITIAL_NO_AUTH_ACTION_COUNT": str(self._BOOTSTRAP_REQUESTS)}

    def is_healthy(self) -> bool:
        # Not list_buckets: an unauthenticated probe would use up the bootstrap requests.
        return port_accepts(self.config.host, self.port)

    def start(self) -> None:
        super().start()
        self.creds = self._bootstrap_iam_user()

    def _bootstrap_iam_user(self):
        iam = boto3.client(
            "iam", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
        )  # fmt: skip
        iam.create_user(UserName="mlstack-test")
        iam.put_user_policy(
            UserName="mlstack-test",
            PolicyName="s3-all",
            PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }),
        )  # fmt: skip
        key = iam.create_access_key(UserName="mlstack-test")["AccessKey"]
        return dataclasses.replace(
            self.creds, s3_access_key=key["AccessKeyId"], s3_secret_key=key["SecretAccessKey"]
        )


@contextmanager
def standalone_s3(check_credentials: bool = False) -> Iterator[S3Server]:
    """A moto S3 server of its own, with the stack's buckets, on a free port.

    Separate from `services_stack` so a test can stop, kill or restart it
    (moto loses its objects on restart) without disturbing other tests.
    """
    root = Path(tempfile.mkdtemp(prefix="mlstack-s3-"))
    state = StateDir(root)
    state.create()
    server_class = CredentialCheckingMoto if check_credentials else S3Server
    config = StackConfig(state_dir=root, s3_port=pick_free_port())
    server = server_class(config, state, state.credentials(), "moto")
    try:
        server.start()
        server.ensure_buckets()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def s3_env(server: S3Server) -> dict[str, str]:
    """The client environment (as env.sh exports it) for `server`."""
    return s3_client_env(server.endpoint, server.creds)


def kill_abruptly(server: S3Server) -> None:
    """SIGKILL the server, as a crash or an OOM kill would: no clean shutdown."""
    pid = server.pid()
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not process_is_running(pid, server.cmdline_marker), 10)
    server.state.remove_pid(server.name)


def restart(server: S3Server) -> None:
    """Start a stopped or killed server again and recreate the buckets
    (moto comes back empty)."""
    server.start()
    server.ensure_buckets()


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
