"""Bring the native stack up, down, and report on it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from .config import StackConfig
from .mlflow_server import MlflowServer
from .postgres import Postgres, find_pg_bindir
from .procs import ensure_port_free
from .s3 import S3Server, s3_client_env
from .state import StateDir

Reporter = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    description: str
    pid: int | None
    port: int
    running: bool
    healthy: bool

    @property
    def state(self) -> str:
        if not self.running:
            return "stopped"
        return "healthy" if self.healthy else "UNHEALTHY"


def _recorded_config(config: StackConfig, state: StateDir) -> StackConfig:
    """`config` with the host/ports recorded by the last `up`, so status and
    down talk to what is running even if the environment changed since."""
    recorded = state.read_runtime().get("config", {})
    known = {f.name for f in dataclasses.fields(StackConfig)} - {"state_dir"}
    overrides = {k: v for k, v in recorded.items() if k in known}
    if "mlflow_extra_allowed_hosts" in overrides:
        overrides["mlflow_extra_allowed_hosts"] = tuple(overrides["mlflow_extra_allowed_hosts"])
    return dataclasses.replace(config, **overrides)


class Stack:
    """The three services, in start order: PostgreSQL, S3, MLflow."""

    def __init__(self, config: StackConfig | None = None):
        requested = config or StackConfig.from_env()
        self.state = StateDir(requested.state_dir)
        self._build(_recorded_config(requested, self.state))
        if not self.any_running():
            # Nothing is running: the caller's configuration applies.
            self._build(requested)

    def _build(self, config: StackConfig) -> None:
        self.config = config
        self.creds = self.state.credentials() if self.state.root.exists() else None
        if self.creds is None:
            return
        self.postgres = Postgres(config, self.state, self.creds)
        self.s3 = S3Server.choose(config, self.state, self.creds)
        self.mlflow = MlflowServer(config, self.state, self.creds, self.server_s3_env())

    @property
    def services(self) -> list:
        if self.creds is None:
            return []
        return [self.postgres, self.s3, self.mlflow]

    def any_running(self) -> bool:
        return any(service.is_running() for service in self.services)

    # -- environment ----------------------------------------------------------
    def server_s3_env(self) -> dict[str, str]:
        """What any S3 client of this stack (MLflow server, DVC, boto3) needs."""
        return s3_client_env(self.config.s3_endpoint, self.creds)

    def client_env(self) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.config.mlflow_uri,
            # evaluate's registered model files land in the `models` bucket
            "MLSTACK_MODEL_STORE": "s3://models",
            **self.mlflow.client_credentials(),
            **self.server_s3_env(),
        }

    # -- commands -------------------------------------------------------------
    def up(self, report: Reporter = print) -> None:
        self.state.create()
        self._build(self.config)
        pending = [service for service in self.services if not service.is_running()]
        for service in self.services:
            if service not in pending:
                report(f"{service.label}: already running (pid {service.pid()})")
        self._preflight(pending)
        started = []
        try:
            for service in self.services:
                if service in pending:
                    report(f"{service.label}: starting on {self.config.host}:{service.port}")
                    service.start()
                    started.append(service)
                self._provision(service)
        except BaseException:
            # Leave nothing half-started behind: stop what this call started.
            for service in reversed(started):
                service.stop()
            raise
        self._record()
        report(f"environment written to {self.state.env_file}")

    def _provision(self, service) -> None:
        """What the next service needs from a running one (idempotent, so a
        service that was already running gets it too)."""
        if service is self.postgres:
            self.postgres.ensure_role_and_databases()
        elif service is self.s3:
            self.s3.ensure_buckets()

    def _preflight(self, pending: list) -> None:
        """Fail before starting anything: missing binaries, taken ports."""
        if self.postgres in pending:
            find_pg_bindir()
            ensure_port_free(self.postgres.label, self.config.host, self.postgres.port)
        if self.s3 in pending:
            self.s3.check_ports()
        if self.mlflow in pending:
            self.mlflow.check_prerequisites()
            ensure_port_free(self.mlflow.label, self.config.host, self.mlflow.port)

    def _record(self) -> None:
        config = dataclasses.asdict(self.config)
        config.pop("state_dir")
        self.state.write_runtime({"config": config, "s3_kind": self.s3.kind})
        self.state.write_env(self.client_env())

    def down(self, report: Reporter = print) -> None:
        for service in reversed(self.services):
            if service.stop():
                report(f"{service.label}: stopped")
            else:
                report(f"{service.label}: not running")
        if self.services:
            # Without running services these would only mislead set_env.sh.
            (self.state.root / "stack.json").unlink(missing_ok=True)
            self.state.env_file.unlink(missing_ok=True)

    def status(self) -> list[ServiceStatus]:
        rows = []
        for service in self.services:
            running = service.is_running()
            rows.append(
                ServiceStatus(
                    name=service.name,
                    description=getattr(service, "description", service.label),
                    pid=service.pid() if running else None,
                    port=service.port,
                    running=running,
                    healthy=running and service.is_healthy(),
                )
            )
        return rows

    def is_healthy(self) -> bool:
        rows = self.status()
        return bool(rows) and all(row.healthy for row in rows)
