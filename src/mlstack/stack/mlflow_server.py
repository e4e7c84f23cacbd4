"""`mlflow server` with the PostgreSQL backend and proxied S3 artifacts.

With --serve-artifacts clients upload artifacts through the tracking server
(mlflow-artifacts:/ URIs), so they need no S3 credentials of their own.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .config import MLFLOW_ARTIFACTS_BUCKET, PG_DATABASE, PG_USER, StackConfig
from .procs import process_is_running, spawn_detached, stop_process_group, wait_until_ready
from .state import Credentials, StateDir

# The first start against an empty database runs all schema migrations.
STARTUP_TIMEOUT_S = 120


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
        ]  # fmt: skip

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.s3_env}
        # Passed via the environment, not argv, so the password stays out of `ps`;
        # libpq (psycopg) picks PGPASSWORD up.
        env["MLFLOW_BACKEND_STORE_URI"] = (
            f"postgresql+psycopg://{PG_USER}@{self.config.host}:{self.config.pg_port}/{PG_DATABASE}"
        )
        env["PGPASSWORD"] = self.creds.pg_password
        # A tracking URI inherited from the user's shell must not point the
        # server at itself or elsewhere.
        env.pop("MLFLOW_TRACKING_URI", None)
        # MLflow's job runner (GenAI jobs, trace rollups) forks seven huey
        # consumers that slow startup and are not needed for tracking; opt in
        # with MLSTACK_MLFLOW_JOB_EXECUTION=true.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = os.environ.get(
            "MLSTACK_MLFLOW_JOB_EXECUTION", "false"
        )
        return env

    def start(self) -> None:
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
