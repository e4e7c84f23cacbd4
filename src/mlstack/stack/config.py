"""Configuration of the native services stack, read from the environment.

The defaults match docker-compose.yml (PostgreSQL 5432, S3 API 9000, MinIO
console 9001, MLflow 5000) so a shell set up for one works with the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# Buckets every deployment of the stack provides (compose init service,
# scripts/init_minio.sh and the native stack create the same set).
DATA_BUCKETS = ("raw-data", "processed-data", "mlflow-artifacts", "models")
DVC_BUCKET = "dvc-store"
MLFLOW_ARTIFACTS_BUCKET = "mlflow-artifacts"
# Versioned so a DVC remote can be switched to `version_aware = true` and so
# overwritten model files keep their history.
VERSIONED_BUCKETS = (DVC_BUCKET, "models")

PG_DATABASE = "mlflow"
# Users and permissions of MLflow's basic-auth app (MLSTACK_MLFLOW_AUTH=true).
PG_AUTH_DATABASE = "mlflow_auth"
MLFLOW_ADMIN_USER = "admin"
PG_USER = "mlflow"
PG_SUPERUSER = "postgres"

DEFAULT_PORTS = {"postgres": 5432, "s3": 9000, "s3_console": 9001, "mlflow": 5000}


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding .dvc or .git (else `start`)."""
    start = (start or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".dvc").is_dir() or (candidate / ".git").exists():
            return candidate
    return start


def _flag_from_env(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r} is not true or false")


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{name}={port} is outside 1-65535")
    return port


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its state and which loopback ports it serves on."""

    state_dir: Path
    host: str = "127.0.0.1"
    pg_port: int = DEFAULT_PORTS["postgres"]
    s3_port: int = DEFAULT_PORTS["s3"]
    s3_console_port: int = DEFAULT_PORTS["s3_console"]
    mlflow_port: int = DEFAULT_PORTS["mlflow"]
    mlflow_workers: int = 2
    # False trades crash safety for speed (initdb --no-sync, fsync=off): for
    # throw-away test stacks only.
    durable: bool = True
    # Extra Host headers MLflow accepts besides localhost/127.0.0.1 (e.g. a
    # cluster node name when the port is forwarded).
    mlflow_extra_allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    # MLflow's basic-auth app: every request needs a user and password.
    mlflow_auth: bool = False

    @classmethod
    def from_env(cls) -> "StackConfig":
        state_dir = os.environ.get("MLSTACK_STACK_DIR") or find_project_root() / ".stack"
        extra_hosts = os.environ.get("MLSTACK_MLFLOW_ALLOWED_HOSTS", "")
        return cls(
            state_dir=Path(state_dir).resolve(),
            host=os.environ.get("MLSTACK_HOST", "127.0.0.1"),
            pg_port=_port_from_env("MLSTACK_PG_PORT", DEFAULT_PORTS["postgres"]),
            s3_port=_port_from_env("MLSTACK_S3_PORT", DEFAULT_PORTS["s3"]),
            s3_console_port=_port_from_env(
                "MLSTACK_S3_CONSOLE_PORT", DEFAULT_PORTS["s3_console"]
            ),
            mlflow_port=_port_from_env("MLSTACK_MLFLOW_PORT", DEFAULT_PORTS["mlflow"]),
            mlflow_workers=int(os.environ.get("MLSTACK_MLFLOW_WORKERS", "2")),
            mlflow_extra_allowed_hosts=tuple(h for h in extra_hosts.split(",") if h),
            mlflow_auth=_flag_from_env("MLSTACK_MLFLOW_AUTH"),
        )

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def mlflow_uri(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"
