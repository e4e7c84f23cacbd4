"""A throw-away git + DVC project using the committed .dvc/config, and the
commands the tests run in it (each as a user would: a subprocess)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mlstack.tracking.lineage import file_md5

REPO_ROOT = Path(__file__).resolve().parents[2]
DVC = [sys.executable, "-m", "dvc"]
REMOTE_CHECK = [sys.executable, "-m", "mlstack.stack.remote", "check"]


def client_env(s3_env: dict[str, str], home: Path) -> dict[str, str]:
    """This process's environment minus ambient AWS/DVC settings, plus `s3_env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DVC_"))}
    env.update(s3_env)
    env.update(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid",
        DVC_NO_ANALYTICS="1", HOME=str(home),
    )  # fmt: skip
    return env


def run(cmd, cwd, env, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


def init_project(path: Path, env: dict) -> None:
    path.mkdir()
    run(["git", "init", "-q", "-b", "main"], path, env)
    run(DVC + ["init", "-q"], path, env)
    # The committed remote configuration, untouched.
    shutil.copy(REPO_ROOT / ".dvc" / "config", path / ".dvc" / "config")


def commit_all(path: Path, env: dict, message: str = "data") -> None:
    run(["git", "add", "-A"], path, env)
    run(["git", "commit", "-qm", message], path, env)


def md5_of(path: Path) -> str:
    return file_md5(path)


def tree_md5s(root: Path) -> dict[str, str]:
    """md5 of every file below `root`, by relative path."""
    return {str(p.relative_to(root)): md5_of(p) for p in sorted(root.rglob("*")) if p.is_file()}
