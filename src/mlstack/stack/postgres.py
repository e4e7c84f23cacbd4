"""PostgreSQL from the system's server binaries (initdb / pg_ctl).

The cluster lives in <state>/pg/data and listens on TCP only (no unix socket,
so it never collides with a system PostgreSQL's socket in /var/run). MLflow
connects as a dedicated, non-superuser role that owns its database.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from .config import PG_AUTH_DATABASE, PG_DATABASE, PG_SUPERUSER, PG_USER, StackConfig
from .procs import StackError, process_is_running
from .state import Credentials, StateDir

SERVER_BINARIES = ("initdb", "pg_ctl")
PG_SYSTEM_USER = "postgres"  # initdb refuses to run as root


class MissingBinaryError(StackError):
    pass


def find_pg_bindir() -> Path:
    """The directory holding initdb and pg_ctl: PATH first, then the
    versioned layouts of Debian/Ubuntu and RHEL packages (newest first)."""
    on_path = [shutil.which(name) for name in SERVER_BINARIES]
    if all(on_path):
        return Path(on_path[0]).parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    for bindir in sorted(candidates, key=_version_key, reverse=True):
        if all((Path(bindir) / name).is_file() for name in SERVER_BINARIES):
            return Path(bindir)
    raise MissingBinaryError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install them (apt-get install postgresql, "
        "dnf install postgresql-server, or conda install -c conda-forge postgresql)"
    )


def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name.removeprefix("pgsql-")
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _running_as_root() -> bool:
    return os.geteuid() == 0


class Postgres:
    name = "postgres"
    label = "PostgreSQL"
    cmdline_marker = "postgres"

    def __init__(self, config: StackConfig, state: StateDir, creds: Credentials):
        self.config, self.state, self.creds = config, state, creds

    # -- facts --------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.config.pg_port

    @property
    def log_file(self) -> Path:
        return self.state.pg_dir / "postgres.log"

    def pid(self) -> int | None:
        """The postmaster's pid, from the postmaster.pid PostgreSQL maintains."""
        try:
            return int((self.state.pg_data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, PermissionError, IndexError, ValueError):
            return None

    def is_running(self) -> bool:
        return process_is_running(self.pid(), self.cmdline_marker)

    @property
    def databases(self) -> tuple[str, ...]:
        """The databases MLflow's role owns: tracking, plus users/permissions with auth."""
        return (PG_DATABASE, PG_AUTH_DATABASE) if self.config.mlflow_auth else (PG_DATABASE,)

    def dsn(self, user: str = PG_USER, password: str | None = None) -> str:
        password = self.creds.pg_password if password is None else password
        return f"postgresql://{user}:{password}@{self.config.host}:{self.port}/{PG_DATABASE}"

    def is_healthy(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        bindir = find_pg_bindir()
        self._init_cluster(bindir)
        self._write_server_conf()
        self._pg_ctl(bindir, "start", "-w", "-t", "60", "-l", str(self.log_file))

    def stop(self) -> bool:
        if not self.is_running():
            return False
        self._pg_ctl(find_pg_bindir(), "stop", "-w", "-t", "60", "-m", "fast")
        return True

    # -- steps ----------------------------------------------------------------
    def _run_as_pg_user(self, cmd: list[str]) -> subprocess.CompletedProcess:
        program = Path(cmd[0]).name
        if _running_as_root():
            cmd = ["runuser", "-u", PG_SYSTEM_USER, "--", *cmd]
        # cwd inside pg/: the postgres user may not be able to enter ours.
        result = subprocess.run(cmd, cwd=self.state.pg_dir, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(
                f"{program} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}\nServer log: {self.log_file}"
            )
        return result

    def _pg_ctl(self, bindir: Path, *args: str) -> None:
        self._run_as_pg_user([str(bindir / "pg_ctl"), "-D", str(self.state.pg_data), *args])

    def _prepare_pg_dir(self) -> None:
        self.state.pg_dir.mkdir(parents=True, exist_ok=True)
        if not _running_as_root():
            return
        pg_user = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(self.state.pg_dir, pg_user.pw_uid, pg_user.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", PG_SYSTEM_USER, "--", "test", "-w", str(self.state.pg_dir)]
        )
        if probe.returncode != 0:
            raise StackError(
                f"the '{PG_SYSTEM_USER}' user cannot write {self.state.pg_dir} (a parent "
                "directory is not traversable); use an MLSTACK_STACK_DIR under a path "
                "other users can enter"
            )

    def _give_to_pg_user(self, path: Path) -> None:
        if _running_as_root():
            pg_user = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(path, pg_user.pw_uid, pg_user.pw_gid)

    def _init_cluster(self, bindir: Path) -> None:
        if (self.state.pg_data / "PG_VERSION").exists():
            return
        self._prepare_pg_dir()
        pwfile = self.state.pg_dir / "superuser.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.creds.pg_superuser_password + "\n")
        self._give_to_pg_user(pwfile)
        try:
            self._run_as_pg_user([
                str(bindir / "initdb"), "-D", str(self.state.pg_data),
                "-U", PG_SUPERUSER, f"--pwfile={pwfile}",
                # Password auth over TCP; local socket is disabled anyway.
                "--auth-host=scram-sha-256", "--auth-local=peer",
                "--encoding=UTF8", "--locale=C",
                *([] if self.config.durable else ["--no-sync"]),
            ])  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        postgresql_conf = self.state.pg_data / "postgresql.conf"
        with open(postgresql_conf, "a") as conf:
            conf.write("\n# Settings managed by `mlstack stack up`\ninclude 'mlstack.conf'\n")

    def _write_server_conf(self) -> None:
        # Rewritten on each start so host/port follow the current environment.
        conf = self.state.pg_data / "mlstack.conf"
        conf.write_text(
            f"listen_addresses = '{self.config.host}'\n"
            f"port = {self.port}\n"
            "unix_socket_directories = ''\n"
            + ("" if self.config.durable else "fsync = off\nsynchronous_commit = off\n")
        )
        self._give_to_pg_user(conf)

    def ensure_role_and_databases(self) -> None:
        """Create (or re-password) MLflow's role and create its databases.
        Idempotent: `up` runs it after each start and against a cluster that
        was already running."""
        superuser_dsn = (
            f"postgresql://{PG_SUPERUSER}:{self.creds.pg_superuser_password}"
            f"@{self.config.host}:{self.port}/postgres"
        )
        with psycopg.connect(superuser_dsn, autocommit=True, connect_timeout=10) as conn:
            role_exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (PG_USER,)
            ).fetchone()
            verb = "ALTER" if role_exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(PG_USER), sql.Literal(self.creds.pg_password)
                )
            )
            for database in self.databases:
                _create_database_if_missing(conn, database, owner=PG_USER)


def _create_database_if_missing(conn: psycopg.Connection, database: str, owner: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    if not exists:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )
