"""The services stack (PostgreSQL, S3, MLflow server) as native processes.

`Stack` drives `mlstack stack up|down|status`; `mlstack.stack.testing`
provides the pytest session fixture built on it.
"""

from .config import DATA_BUCKETS, DVC_BUCKET, MLFLOW_ARTIFACTS_BUCKET, StackConfig
from .manager import ServiceStatus, Stack
from .procs import PortTakenError, StackError
from .postgres import MissingBinaryError

__all__ = [
    "DATA_BUCKETS",
    "DVC_BUCKET",
    "MLFLOW_ARTIFACTS_BUCKET",
    "MissingBinaryError",
    "PortTakenError",
    "ServiceStatus",
    "Stack",
    "StackConfig",
    "StackError",
]
