"""`dvc push` / `dvc pull` when the S3 server is down, dies mid-transfer, or
the push itself is killed: failures name the endpoint, and nothing
half-uploaded is ever taken for a complete object.

Each test gets its own moto server (not the session stack's) so it can stop,
kill and restart it. moto keeps objects in memory, so a restarted server is
empty: the tests then check that `dvc push` notices and uploads everything.
"""

import os
import signal
import subprocess

import pytest
from dvc_project import DVC, REMOTE_CHECK, client_env, commit_all, init_project, md5_of, run, tree_md5s

from mlstack.stack.testing import kill_abruptly, restart, s3_env, standalone_s3

pytestmark = [pytest.mark.faults, pytest.mark.services]

# Just above s3fs's multipart threshold (two 50 MiB parts), so the upload
# takes several requests and can be interrupted half-way.
LARGE_FILE_MIB = 101


@pytest.fixture
def s3():
    with standalone_s3() as server:
        yield server


@pytest.fixture
def env(s3, tmp_path):
    env = client_env(s3_env(s3), home=tmp_path)
    # Fail at once instead of after ~13 s of botocore retries.
    env["AWS_MAX_ATTEMPTS"] = "1"
    return env


def add_small_files(project, env):
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    for i in range(3):
        (raw / f"tile_{i}.tif").write_bytes(os.urandom(2048))
    run(DVC + ["add", "-q", "data/raw"], project, env)


def add_large_file(project, env):
    # One random MiB, numbered per copy: unique content at a fraction of urandom's cost.
    block = os.urandom(2**20 - 8)
    with open(project / "data" / "scene.tif", "wb") as handle:
        for index in range(LARGE_FILE_MIB):
            handle.write(index.to_bytes(8, "big") + block)
    run(DVC + ["add", "-q", "data/scene.tif"], project, env)


@pytest.fixture
def origin(tmp_path, env):
    project = tmp_path / "origin"
    init_project(project, env)
    add_small_files(project, env)
    return project


def remote_key(md5: str) -> str:
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def assert_clone_restores(origin, clone, env):
    """A fresh clone pulls byte-identical data and DVC sees nothing missing."""
    run(["git", "clone", "-q", str(origin), str(clone)], origin.parent, env)
    run(DVC + ["pull", "-q"], clone, env)
    assert tree_md5s(clone / "data") == tree_md5s(origin / "data")
    assert "up to date" in run(DVC + ["status"], clone, env).stdout
    assert "in sync" in run(DVC + ["status", "--cloud"], clone, env).stdout


def start_push(project, env) -> subprocess.Popen:
    return subprocess.Popen(
        DVC + ["push"], cwd=project, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_for_multipart_upload(s3, push: subprocess.Popen) -> None:
    """Return once a multipart upload is in progress on the server."""
    from mlstack.stack.procs import wait_for

    client = s3.client()

    def uploading() -> bool:
        assert push.poll() is None, f"push ended before the upload started:\n{push.stdout.read()}"
        return bool(client.list_multipart_uploads(Bucket="dvc-store").get("Uploads"))

    assert wait_for(uploading, timeout=60, interval=0.01), "no multipart upload seen"


def test_push_with_server_down_names_endpoint_then_recovers(s3, env, origin, tmp_path):
    commit_all(origin, env)
    s3.stop()

    push = run(DVC + ["push"], origin, env, check=False)
    assert push.returncode != 0
    assert s3.endpoint in push.stdout + push.stderr  # DVC names the URL, not what to do
    check = run(REMOTE_CHECK, origin, env, check=False)
    assert check.returncode == 1
    assert f"cannot connect to S3 endpoint {s3.endpoint}" in check.stderr
    assert "mlstack stack status" in check.stderr

    restart(s3)
    run(DVC + ["push"], origin, env)
    assert_clone_restores(origin, tmp_path / "clone", env)


def test_server_killed_mid_push_then_push_uploads_everything(s3, env, origin, tmp_path):
    add_large_file(origin, env)
    commit_all(origin, env)

    push = start_push(origin, env)
    wait_for_multipart_upload(s3, push)
    kill_abruptly(s3)
    output, _ = push.communicate(timeout=120)
    assert push.returncode != 0, output
    assert s3.endpoint in output

    restart(s3)  # empty again: moto keeps objects in memory
    cloud_status = run(DVC + ["status", "--cloud"], origin, env).stdout
    assert "new:" in cloud_status and "data/scene.tif" in cloud_status
    run(DVC + ["push"], origin, env)
    assert_clone_restores(origin, tmp_path / "clone", env)


def test_killed_push_leaves_no_partial_object(s3, env, origin):
    add_large_file(origin, env)
    commit_all(origin, env)
    large = origin / "data" / "scene.tif"
    key = remote_key(md5_of(large))

    push = start_push(origin, env)
    wait_for_multipart_upload(s3, push)
    os.killpg(push.pid, signal.SIGKILL)  # Ctrl-C is not enough: kill as the OOM killer would
    push.communicate()

    client = s3.client()
    listed = client.list_objects_v2(Bucket="dvc-store", Prefix=key).get("Contents", [])
    # An unfinished multipart upload is not an object: neither S3 nor DVC sees it.
    assert listed == [], listed
    assert client.list_multipart_uploads(Bucket="dvc-store").get("Uploads")
    cloud_status = run(DVC + ["status", "--cloud"], origin, env).stdout
    assert "data/scene.tif" in cloud_status

    run(DVC + ["push"], origin, env)
    stored = client.head_object(Bucket="dvc-store", Key=key)
    assert stored["ContentLength"] == large.stat().st_size
    # The pulled copy is verified in the test above; here: DVC agrees it is complete.
    assert "in sync" in run(DVC + ["status", "--cloud"], origin, env).stdout
