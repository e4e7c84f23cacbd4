"""`mlflow server` with the PostgreSQL backend and proxied S3 artifacts.

With --serve-artifacts clients upload artifacts through the tracking server
(mlflow-artifacts:/ URIs), so they need no S3 credentials of their own.

With `mlflow_auth` the server runs MLflow's basic-auth app: users and
permissions live in their own PostgreSQL database, the admin account is
created on first start with the state dir's generated password.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .config import (
    MLFLOW_ADMIN_USER,
    MLFLOW_ARTIFACTS_BUCKET,
    PG_AUTH_DATABASE,
    PG_DATABASE,
    PG_USER,
    StackConfig,
)
from .procs import (
    StackError,
    process_is_running,
    spawn_detached,
    stop_process_group,
    wait_until_ready,
)
from .state import Credentials, StateDir

# The first start against an empty database runs all schema migrations.
STARTUP_TIMEOUT_S = 120


def missing_auth_dependency() -> str | None:
    """Why the basic-auth app cannot start here (its CSRF protection needs
    Flask-WTF, from the `mlflow[auth]` extra), or None."""
    if importlib.util.find_spec("flask_wtf") is None:
        return "MLSTACK_MLFLOW_AUTH=true needs Flask-WTF: pip install 'mlflow[auth]'"
    return None


class MlflowServer:
    name = "mlflow"
    label = "MLflow server"
    cmdline_marker = "mlflow server"

    def __init__(self, config: StackConfig, state: StateDir, creds: Credentials, s3_env: dict):
        self.config, self.state, self.creds, self.s3_env = config, state, creds, s3_env

    @property
    def port(self) -> int:
        return self.config.mlflow_port

    @property
    def uri(self) -> str:
        return self.config.mlflow_uri

    @property
    def log_file(self) -> Path:
        return self.state.log_file(self.name)

    def pid(self) -> int | None:
        return self.state.read_pid(self.name)

    def is_running(self) -> bool:
        return process_is_running(self.pid(), self.cmdline_marker)

    def is_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _allowed_hosts(self) -> str:
        hosts = {"localhost", "127.0.0.1", self.config.host}
        names = sorted(hosts) + [f"{h}:{self.port}" for h in sorted(hosts)]
        return ",".join([*names, *self.config.mlflow_extra_allowed_hosts])

    def _command(self) -> list[str]:
        return [
            # argv[0..2] reads "python -m mlflow server", which is our cmdline marker
            sys.executable, "-m", "mlflow", "server",
            "--host", self.config.host,
            "--port", str(self.port),
            "--workers", str(self.config.mlflow_workers),
            "--serve-artifacts",
            "--artifacts-destination", f"s3://{MLFLOW_ARTIFACTS_BUCKET}",
            "--allowed-hosts", self._allowed_hosts(),
            *(["--app-name", "basic-auth"] if self.config.mlflow_auth else []),
        ]  # fmt: skip

    def _pg_uri(self, database: str) -> str:
        # No password in the URI: libpq reads PGPASSWORD from the environment.
        return f"postgresql+psycopg://{PG_USER}@{self.config.host}:{self.config.pg_port}/{database}"

    def _write_auth_config(self) -> None:
        """basic_auth.ini without secrets: the admin password and the CSRF key
        reach the server through its environment only."""
        path = self.state.mlflow_auth_config
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# Written by `mlstack stack up` (MLSTACK_MLFLOW_AUTH=true); rewritten on each start.\n"
            "[mlflow]\n"
            # Any logged-in user may read; only owners and the admin may change.
            "default_permission = READ\n"
            f"database_uri = {self._pg_uri(PG_AUTH_DATABASE)}\n"
            f"admin_username = {MLFLOW_ADMIN_USER}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )

    def _auth_environment(self) -> dict[str, str]:
        if not self.config.mlflow_auth:
            return {}
        return {
            "MLFLOW_AUTH_CONFIG_PATH": str(self.state.mlflow_auth_config),
            # Used only when the admin user does not exist yet (first start).
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.creds.mlflow_admin_password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self.creds.mlflow_flask_secret,
        }

    def client_credentials(self) -> dict[str, str]:
        """What an MLflow client needs to log in (empty without auth)."""
        if not self.config.mlflow_auth:
            return {}
        return {
            "MLFLOW_TRACKING_USERNAME": MLFLOW_ADMIN_USER,
            "MLFLOW_TRACKING_PASSWORD": self.creds.mlflow_admin_password,
        }

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.s3_env, **self._auth_environment()}
        # Passed via the environment, not argv, so the password stays out of `ps`;
        # libpq (psycopg) picks PGPASSWORD up.
        env["MLFLOW_BACKEND_STORE_URI"] = self._pg_uri(PG_DATABASE)
        env["PGPASSWORD"] = self.creds.pg_password
        # A tracking URI or login inherited from the user's shell must not
        # point the server at itself or elsewhere.
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(name, None)
        if not self.config.mlflow_auth:
            env.pop("MLFLOW_AUTH_CONFIG_PATH", None)
        # MLflow's job runner (GenAI jobs, trace rollups) forks seven huey
        # consumers that slow startup and are not needed for tracking; opt in
        # with MLSTACK_MLFLOW_JOB_EXECUTION=true.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = os.environ.get(
            "MLSTACK_MLFLOW_JOB_EXECUTION", "false"
        )
        return env

    def check_prerequisites(self) -> None:
        reason = missing_auth_dependency() if self.config.mlflow_auth else None
        if reason:
            raise StackError(reason)

    def start(self) -> None:
        if self.config.mlflow_auth:
            self._write_auth_config()
        pid = spawn_detached(self._command(), self.log_file, self._environment(), self.state.root)
        self.state.write_pid(self.name, pid)
        wait_until_ready(
            self.label, self.is_healthy, pid, self.cmdline_marker, self.log_file,
            STARTUP_TIMEOUT_S,
        )  # fmt: skip

    def stop(self) -> bool:
        stopped = stop_process_group(self.pid() or 0, self.cmdline_marker)
        self.state.remove_pid(self.name)
        return stopped
