"""scripts/init_minio.sh driven with a recording stand-in for `mc` (no MinIO
binary here): it must create the buckets, version the DVC bucket, scope the
service user, never make anything public, and stop at the first failure."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "init_minio.sh"
BUCKETS = ("raw-data", "processed-data", "mlflow-artifacts", "models", "dvc-store")

FAKE_MC = """#!/usr/bin/env bash
echo "$*" >> "$MC_CALLS"
# Keep the policy document the script hands to `mc admin policy create`.
[[ "$*" == "admin policy create "* ]] && cp "$6" "$MC_POLICY_COPY"
[ -n "${MC_FAIL_ON:-}" ] && [[ "$*" == *"$MC_FAIL_ON"* ]] && { echo "mc: simulated error" >&2; exit 1; }
exit 0
"""


@pytest.fixture
def run_script(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mc").write_text(FAKE_MC)
    (bindir / "mc").chmod(0o755)
    calls = tmp_path / "calls"

    def run(**overrides):
        env = {
            "PATH": f"{bindir}:{os.environ['PATH']}",
            "MC_CALLS": str(calls),
            "MC_POLICY_COPY": str(tmp_path / "policy.json"),
            "MINIO_ROOT_USER": "root-user",
            "MINIO_ROOT_PASSWORD": "root-password",
            "MINIO_SERVICE_ACCESS_KEY": "svc-user",
            "MINIO_SERVICE_SECRET_KEY": "svc-password",
            **overrides,
        }
        result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
        return result, calls.read_text().splitlines() if calls.exists() else []

    return run


def test_creates_buckets_versioning_and_scoped_user(run_script):
    result, calls = run_script()
    assert result.returncode == 0, result.stderr
    for bucket in BUCKETS:
        assert f"mb --ignore-existing mlstack/{bucket}" in calls
    assert "version enable mlstack/dvc-store" in calls
    assert any(c.startswith("admin user add mlstack svc-user") for c in calls)
    assert any(c.startswith("admin policy attach mlstack") and "svc-user" in c for c in calls)
    assert not any(c.startswith(("anonymous", "policy set")) for c in calls)


def test_fails_loudly_on_first_error(run_script):
    result, calls = run_script(MC_FAIL_ON="version enable")
    assert result.returncode != 0
    assert "init_minio:" in result.stderr
    assert not any(c.startswith("admin user add") for c in calls)


def test_requires_credentials_and_refuses_root_as_service_user(run_script):
    result, _ = run_script(MINIO_ROOT_PASSWORD="")
    assert result.returncode != 0 and "MINIO_ROOT_PASSWORD" in result.stderr
    result, _ = run_script(MINIO_SERVICE_ACCESS_KEY="root-user")
    assert result.returncode != 0 and "must differ" in result.stderr


def test_service_policy_reaches_only_the_stack_buckets(run_script, tmp_path):
    result, _ = run_script()
    assert result.returncode == 0, result.stderr
    policy = json.loads((tmp_path / "policy.json").read_text())
    allowed = {f"arn:aws:s3:::{b}" for b in BUCKETS} | {f"arn:aws:s3:::{b}/*" for b in BUCKETS}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        # An identity policy: no Principal (that would make it a bucket policy, e.g. public).
        assert "Principal" not in statement
        assert set(statement["Resource"]) <= allowed, statement["Resource"]
        for action in statement["Action"]:
            assert action.startswith("s3:") and "*" not in action, action
