"""`mlstack stack up|down|status` (also `python -m mlstack.stack ...`)."""

from __future__ import annotations

import argparse
import sys

from .manager import Stack, ServiceStatus
from .procs import StackError


def _format_status(stack: Stack, rows: list[ServiceStatus]) -> str:
    header = ("SERVICE", "DESCRIPTION", "PID", "PORT", "STATE")
    table = [header] + [
        (r.name, r.description, str(r.pid or "-"), str(r.port), r.state) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.append(f"state dir: {stack.state.root}")
    if any(r.running for r in rows):
        lines.append(f"MLflow UI: {stack.config.mlflow_uri}")
        lines.append(f"S3 endpoint: {stack.config.s3_endpoint}")
        if stack.s3.kind == "minio":
            lines.append(f"MinIO console: http://{stack.config.host}:{stack.config.s3_console_port}")
        if stack.config.mlflow_auth:
            lines.append(
                f"MLflow auth: basic (user and password in {stack.state.env_file}, "
                "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)"
            )
        lines.append(f"client environment: source {stack.state.env_file}")
    return "\n".join(lines)


def cmd_up(args: argparse.Namespace) -> int:
    stack = Stack()
    stack.up()
    print(_format_status(stack, stack.status()))
    return 0 if stack.is_healthy() else 1


def cmd_down(args: argparse.Namespace) -> int:
    stack = Stack()
    if not stack.services:
        print(f"no stack state in {stack.state.root}; nothing to stop")
    stack.down()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    stack = Stack()
    rows = stack.status()
    if not rows:
        print(f"no stack state in {stack.state.root} (run `mlstack stack up`)")
        return 3
    print(_format_status(stack, rows))
    # 0: all healthy; 3: nothing running (as LSB init scripts); 1: degraded.
    if all(r.healthy for r in rows):
        return 0
    return 3 if not any(r.running for r in rows) else 1


def _guarded(func):
    """Turn StackError into a one-line message and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except StackError as exc:
            print(f"mlstack stack {args.stack_command}: error: {exc}", file=sys.stderr)
            return 2

    return run


DESCRIPTION = (
    "Native (no Docker) services stack on the ports of docker-compose.yml. "
    "Configure with MLSTACK_STACK_DIR, MLSTACK_HOST, MLSTACK_PG_PORT, "
    "MLSTACK_S3_PORT, MLSTACK_S3_CONSOLE_PORT, MLSTACK_MLFLOW_PORT, "
    "MLSTACK_MLFLOW_WORKERS, MLSTACK_MLFLOW_ALLOWED_HOSTS, "
    "MLSTACK_MLFLOW_JOB_EXECUTION, MLSTACK_MLFLOW_AUTH, MLSTACK_MINIO_BIN."
)


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="stack_command", metavar="{up,down,status}")
    commands.required = True
    for name, func, help_text in (
        ("up", cmd_up, "start the services (idempotent) and write env.sh"),
        ("down", cmd_down, "stop the services this stack started"),
        ("status", cmd_status, "show each service's pid, port and health"),
    ):
        commands.add_parser(name, help=help_text).set_defaults(func=_guarded(func))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `stack up|down|status` on the `mlstack` CLI's subparsers; returns the
    `stack` parser."""
    parser = subparsers.add_parser(
        "stack",
        help="run PostgreSQL, an S3 server and the MLflow server as native processes",
        description=DESCRIPTION,
    )
    _add_commands(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlstack.stack", description=DESCRIPTION)
    _add_commands(parser)
    args = parser.parse_args(argv)
    return args.func(args)
