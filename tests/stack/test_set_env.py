"""scripts/set_env.sh exports the client environment of either stack."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKSUM_VARS = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}


def sourced_env(script: Path, **env) -> dict[str, str]:
    result = subprocess.run(
        ["bash", "-c", f'source "{script}" >/dev/null && env -0'],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr.decode()
    return dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)


@pytest.mark.services
def test_native_stack_environment(services_stack):
    env = sourced_env(
        REPO_ROOT / "scripts" / "set_env.sh", MLSTACK_STACK_DIR=str(services_stack.state_dir)
    )
    for key, value in services_stack.env.items():
        assert env[key] == value, key
    assert env["AWS_ENDPOINT_URL_S3"] == services_stack.s3_endpoint


def test_compose_environment_uses_the_scoped_user_only(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "set_env.sh", tmp_path / "scripts")
    (tmp_path / ".env").write_text(
        "MINIO_ROOT_USER=root\nMINIO_ROOT_PASSWORD=rootsecret\nPOSTGRES_PASSWORD=pgsecret\n"
        "MINIO_SERVICE_ACCESS_KEY=svc\nMINIO_SERVICE_SECRET_KEY='svcsecret'\nMLFLOW_PORT=5050\n"
    )
    env = sourced_env(tmp_path / "scripts" / "set_env.sh", MLSTACK_STACK_DIR=str(tmp_path / "none"))
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5050"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("svc", "svcsecret")
    assert env["AWS_ENDPOINT_URL_S3"] == env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert CHECKSUM_VARS.items() <= env.items()
    assert not {"rootsecret", "pgsecret"} & set(env.values())


def test_without_services_it_explains_what_to_do(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "set_env.sh", tmp_path / "scripts")
    result = subprocess.run(
        ["bash", "-c", f'source "{tmp_path}/scripts/set_env.sh"'],
        env={"PATH": "/usr/bin:/bin", "MLSTACK_STACK_DIR": str(tmp_path / "none")},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "mlstack stack up" in result.stderr
