"""The DVC benchmark rows: the boto3 baseline really moves the files, and the quick
push/pull and no-op repro rows come out with finite ratios on a real moto server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import dvc_ops  # noqa: E402

pytest.importorskip("moto")


@pytest.fixture(scope="module")
def s3():
    from mlstack.stack.testing import s3_env, standalone_s3

    with standalone_s3() as server:
        yield server, dvc_ops.dvc_env(s3_env(server))


def test_boto3_baseline_round_trips_every_file(s3, tmp_path):
    server, env = s3
    env = {**env, "PYTHONPATH": str(ROOT)}
    source = tmp_path / "source"
    source.mkdir()
    payload = {f"f{i}.bin": os.urandom(1000 + i) for i in range(12)}
    for name, data in payload.items():
        (source / name).write_bytes(data)
    for action, folder in (("upload", source), ("download", tmp_path / "back")):
        subprocess.run(dvc_ops.boto3_command(action, folder), env=env, check=True, cwd=tmp_path)
    assert {p.name: p.read_bytes() for p in (tmp_path / "back").iterdir()} == payload


def test_quick_push_pull_rows(tmp_path):
    rows = dvc_ops.bench_push_pull(tmp_path, dvc_ops.DvcSizes(n_files=16, file_kib=16,
                                                              repeats=1))
    assert [r.name for r in rows] == ["dvc_push", "dvc_pull"]
    for row in rows:
        assert row.ours > 0 and row.baseline > 0 and row.ratio > 0
        assert row.met in (True, False)
    # the pulled workspace holds exactly what was added: DVC finds every hash matching
    assert len(list((tmp_path / "repo" / "data" / "raw").iterdir())) == 16
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "-q"], cwd=tmp_path / "repo",
                            env=dvc_ops.dvc_env({}))
    assert status.returncode == 0


def test_minimal_control_project_reproduces(tmp_path):
    from helpers import git_env

    env = git_env({})
    repo = dvc_ops.make_minimal_project(tmp_path / "minimal", env)
    repro_s, status_s, ratio = dvc_ops.noop_pair(repo, env, repeats=1)
    assert (repo / "out.txt").read_text() == "input\n"
    assert repro_s > 0 and status_s > 0 and ratio > 0
