"""`dvc push` / `dvc pull` through the S3 server with the committed .dvc/config:
the endpoint and credentials come from the environment only."""

import pytest
from dvc_project import DVC, client_env, commit_all, init_project, run

pytestmark = pytest.mark.services

PROCESS_STAGE = """\
stages:
  tile_stats:
    cmd: python -c "import pathlib; n = len(list(pathlib.Path('data/raw').glob('*.tif'))); pathlib.Path('stats.txt').write_text(str(n))"
    deps: [data/raw]
    outs: [stats.txt]
"""


@pytest.fixture
def dvc_env(services_stack, tmp_path):
    env = client_env(services_stack.env, home=tmp_path)
    # Prove the S3-specific variable alone is enough for dvc-s3 / s3fs.
    env.pop("AWS_ENDPOINT_URL")
    return env


def make_project(path, env) -> None:
    init_project(path, env)
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
    commit_all(origin, dvc_env)
    run(DVC + ["push", "-q"], origin, dvc_env)

    stored = services_stack.s3_client().list_objects_v2(Bucket=services_stack.dvc_bucket)
    assert stored.get("KeyCount", 0) >= 4  # 3 tiles + stats.txt (+ .dir manifest)

    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path, dvc_env)
    run(DVC + ["pull", "-q"], clone, dvc_env)

    for tile in (origin / "data" / "raw").iterdir():
        assert (clone / "data" / "raw" / tile.name).read_bytes() == tile.read_bytes()
    assert (clone / "stats.txt").read_text() == "3"
    assert "up to date" in run(DVC + ["status"], clone, dvc_env).stdout
    assert "in sync" in run(DVC + ["status", "--cloud"], clone, dvc_env).stdout
