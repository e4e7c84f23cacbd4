"""`dvc push` / `dvc pull` through the S3 server with the committed .dvc/config:
the endpoint and credentials come from the environment only."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services

REPO_ROOT = Path(__file__).resolve().parents[2]
DVC = [sys.executable, "-m", "dvc"]

PROCESS_STAGE = """\
stages:
  tile_stats:
    cmd: python -c "import pathlib; n = len(list(pathlib.Path('data/raw').glob('*.tif'))); pathlib.Path('stats.txt').write_text(str(n))"
    deps: [data/raw]
    outs: [stats.txt]
"""


def run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def dvc_env(services_stack, tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DVC_"))}
    env.update(services_stack.env)
    # Prove the S3-specific variable alone is enough for dvc-s3 / s3fs.
    env.pop("AWS_ENDPOINT_URL")
    env.update(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid",
        DVC_NO_ANALYTICS="1", HOME=str(tmp_path),
    )  # fmt: skip
    return env


def make_project(path: Path, env: dict) -> None:
    path.mkdir()
    run(["git", "init", "-q", "-b", "main"], path, env)
    run(DVC + ["init", "-q"], path, env)
    # The committed remote configuration, untouched.
    shutil.copy(REPO_ROOT / ".dvc" / "config", path / ".dvc" / "config")
    raw = path / "data" / "raw"
    raw.mkdir(parents=True)
    for i in range(3):
        (raw / f"tile_{i}.tif").write_bytes(bytes([i]) * 4096)
    (path / "dvc.yaml").write_text(PROCESS_STAGE)


def test_push_then_pull_into_fresh_clone(tmp_path, dvc_env, services_stack):
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    make_project(origin, dvc_env)
    run(DVC + ["add", "-q", "data/raw"], origin, dvc_env)
    run(DVC + ["repro", "-q"], origin, dvc_env)
    run(["git", "add", "-A"], origin, dvc_env)
    run(["git", "commit", "-qm", "data"], origin, dvc_env)
    run(DVC + ["push", "-q"], origin, dvc_env)

    stored = services_stack.s3_client().list_objects_v2(Bucket=services_stack.dvc_bucket)
    assert stored.get("KeyCount", 0) >= 4  # 3 tiles + stats.txt (+ .dir manifest)

    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path, dvc_env)
    run(DVC + ["pull", "-q"], clone, dvc_env)

    for tile in (origin / "data" / "raw").iterdir():
        assert (clone / "data" / "raw" / tile.name).read_bytes() == tile.read_bytes()
    assert (clone / "stats.txt").read_text() == "3"
    assert "up to date" in run(DVC + ["status"], clone, dvc_env)
    assert "in sync" in run(DVC + ["status", "--cloud"], clone, dvc_env)
