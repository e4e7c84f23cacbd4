"""The S3 server: MinIO when a `minio` binary is available, else moto.

moto's server speaks the S3 protocol over HTTP but is a development server:
it keeps objects in memory (they vanish on `down`) and accepts any
credentials. `status` says so plainly so nobody mistakes it for MinIO.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .config import DATA_BUCKETS, DVC_BUCKET, VERSIONED_BUCKETS, StackConfig
from .procs import (
    ensure_port_free,
    process_is_running,
    spawn_detached,
    stop_process_group,
    wait_until_ready,
)
from .state import Credentials, StateDir

REGION = "us-east-1"  # MinIO's default; moto accepts it too
ALL_BUCKETS = (*DATA_BUCKETS, DVC_BUCKET)
# What the server's command line contains, to recognise our process by pid.
_MARKERS = {"minio": "minio server", "moto": "moto.server"}


def s3_client(endpoint: str, creds: Credentials, timeout: float = 10.0):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds.s3_access_key,
        aws_secret_access_key=creds.s3_secret_key,
        region_name=REGION,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 1},
            # MinIO and moto predate the CRC checksums boto3 now sends by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def s3_client_env(endpoint: str, creds: Credentials) -> dict[str, str]:
    """The environment any S3 client (MLflow server, DVC, boto3) needs for `endpoint`."""
    return {
        "AWS_ACCESS_KEY_ID": creds.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": creds.s3_secret_key,
        "AWS_DEFAULT_REGION": REGION,
        # botocore >= 1.31 reads these; s3fs (DVC) and boto3 pick them up.
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL": endpoint,
        # MLflow's own S3 artifact client reads this one.
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        # Only send/verify the newer CRC checksums when S3 requires them:
        # MinIO releases and moto differ in their support.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }


def minio_binary() -> str | None:
    return os.environ.get("MLSTACK_MINIO_BIN") or shutil.which("minio")


class S3Server:
    name = "s3"
    label = "S3 server"

    def __init__(self, config: StackConfig, state: StateDir, creds: Credentials, kind: str):
        self.config, self.state, self.creds, self.kind = config, state, creds, kind

    @classmethod
    def choose(cls, config: StackConfig, state: StateDir, creds: Credentials) -> "S3Server":
        """MinIO if installed, else moto; a running server keeps its recorded kind."""
        recorded = state.read_runtime().get("s3_kind")
        if recorded and process_is_running(state.read_pid(cls.name), _MARKERS[recorded]):
            return cls(config, state, creds, recorded)
        return cls(config, state, creds, "minio" if minio_binary() else "moto")

    # -- facts --------------------------------------------------------------
    @property
    def description(self) -> str:
        if self.kind == "minio":
            return "MinIO"
        return "development S3 server (moto), objects kept in memory"

    @property
    def cmdline_marker(self) -> str:
        return _MARKERS[self.kind]

    @property
    def port(self) -> int:
        return self.config.s3_port

    @property
    def endpoint(self) -> str:
        return self.config.s3_endpoint

    @property
    def log_file(self) -> Path:
        return self.state.log_file(self.name)

    def pid(self) -> int | None:
        return self.state.read_pid(self.name)

    def is_running(self) -> bool:
        return process_is_running(self.pid(), self.cmdline_marker)

    def client(self):
        return s3_client(self.endpoint, self.creds, timeout=2.0)

    def is_healthy(self) -> bool:
        try:
            self.client().list_buckets()
            return True
        except (BotoCoreError, ClientError):
            return False

    # -- lifecycle ------------------------------------------------------------
    def _command(self) -> list[str]:
        host = self.config.host
        if self.kind == "minio":
            self.state.s3_data.mkdir(parents=True, exist_ok=True)
            return [
                minio_binary(), "server", str(self.state.s3_data),
                "--address", f"{host}:{self.port}",
                "--console-address", f"{host}:{self.config.s3_console_port}",
            ]  # fmt: skip
        # `-m moto.server` with our interpreter: no reliance on PATH.
        return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(self.port)]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.kind == "minio":
            env["MINIO_ROOT_USER"] = self.creds.s3_access_key
            env["MINIO_ROOT_PASSWORD"] = self.creds.s3_secret_key
        return env

    def check_ports(self) -> None:
        ensure_port_free(self.label, self.config.host, self.port)
        if self.kind == "minio":
            ensure_port_free("MinIO console", self.config.host, self.config.s3_console_port)

    def start(self) -> None:
        pid = spawn_detached(self._command(), self.log_file, self._environment(), self.state.root)
        self.state.write_pid(self.name, pid)
        wait_until_ready(
            self.description, self.is_healthy, pid, self.cmdline_marker, self.log_file, 30
        )

    def stop(self) -> bool:
        stopped = stop_process_group(self.pid() or 0, self.cmdline_marker)
        self.state.remove_pid(self.name)
        return stopped

    def ensure_buckets(self) -> None:
        """Create the stack's buckets (idempotent); version the ones DVC and
        the model store can use versions of. No bucket gets a public policy."""
        client = s3_client(self.endpoint, self.creds)
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for bucket in ALL_BUCKETS:
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
        for bucket in VERSIONED_BUCKETS:
            client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
