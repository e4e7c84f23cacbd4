"""`mlstack stack up|down|status` as a user runs it (a subprocess per command)."""

import argparse
import os
import signal
import socket
import subprocess
import sys

import pytest

from mlstack.stack import StackConfig
from mlstack.stack.cli import add_parser
from mlstack.stack.procs import pick_free_port, process_is_running
from mlstack.stack.s3 import S3Server
from mlstack.stack.state import StateDir

pytestmark = pytest.mark.services


def stack_cli(*args, state_dir, **env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTACK_")}
    env.update(MLSTACK_STACK_DIR=str(state_dir), **env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "mlstack.stack", *args], env=env, capture_output=True, text=True
    )


def pids_of(stack):
    return {row.name: row.pid for row in stack.status()}


def test_second_up_reuses_running_services(services_stack):
    before = pids_of(services_stack.stack)
    # No port variables: the ports recorded by the first `up` must win over
    # the defaults, otherwise this would try (and fail) to bind 5432 etc.
    result = stack_cli("up", state_dir=services_stack.state_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already running") == 3
    assert pids_of(services_stack.stack) == before


def test_status_names_each_service_pid_port_and_health(services_stack):
    result = stack_cli("status", state_dir=services_stack.state_dir)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    config = services_stack.stack.config
    for row, port in (
        ("postgres", config.pg_port),
        ("s3", config.s3_port),
        ("mlflow", config.mlflow_port),
    ):
        fields = lines[row].split()
        assert str(port) in fields and "healthy" in fields, lines[row]
        assert any(f.isdigit() and int(f) == pids_of(services_stack.stack)[row] for f in fields)
    assert "development S3 server (moto)" in lines["s3"]
    assert services_stack.mlflow_uri in result.stdout


def test_up_reports_a_port_taken_by_someone_else(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        result = stack_cli(
            "up",
            state_dir=tmp_path / "state",
            MLSTACK_PG_PORT=str(pick_free_port()),
            MLSTACK_S3_PORT=str(pick_free_port()),
            MLSTACK_MLFLOW_PORT=str(taken),
        )
    assert result.returncode == 2
    assert f"port {taken}" in result.stderr and "MLflow server" in result.stderr
    assert "MLSTACK_MLFLOW_PORT" in result.stderr
    # Checked before anything starts: nothing to clean up.
    assert not list((tmp_path / "state" / "run").glob("*.pid"))
    assert not (tmp_path / "state" / "pg" / "data").exists()


def test_down_stops_only_processes_it_started(tmp_path):
    state = StateDir(tmp_path / "state")
    state.create()
    s3 = S3Server(
        StackConfig(state_dir=state.root, s3_port=pick_free_port()), state, state.credentials(), "moto"
    )
    s3.start()
    s3_pid = s3.pid()
    # A stranger whose pid ended up in our pid file (e.g. a recycled pid).
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    state.write_pid("mlflow", stranger.pid)
    try:
        result = stack_cli("down", state_dir=state.root)
        assert result.returncode == 0, result.stderr
        assert "S3 server: stopped" in result.stdout
        assert "MLflow server: not running" in result.stdout
        assert stranger.poll() is None, "down signalled a process it did not start"
        assert not process_is_running(s3_pid, "moto.server")
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait()
        s3.stop()


def test_add_parser_registers_stack_commands():
    parser = argparse.ArgumentParser(prog="mlstack")
    add_parser(parser.add_subparsers(dest="command"))
    for command in ("up", "down", "status"):
        args = parser.parse_args(["stack", command])
        assert callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["stack"])
