"""docker-compose.yml checked by parsing it (no Docker engine needed)."""

import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
REQUIRED_VAR = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]*\}$")
SECRET_KEYS = ("PASSWORD", "SECRET", "ACCESS_KEY", "ROOT_USER")
BUCKETS = ("raw-data", "processed-data", "mlflow-artifacts", "models", "dvc-store")


def environment(service: str) -> dict:
    return SERVICES[service].get("environment", {})


def test_all_services_present():
    assert set(SERVICES) == {"postgres", "minio", "minio-init", "mlflow"}


@pytest.mark.parametrize("service", ["postgres", "minio", "mlflow"])
def test_long_running_services_have_healthchecks(service):
    assert SERVICES[service]["healthcheck"]["test"]


def test_postgres_pinned_with_pg_isready_and_named_volume():
    postgres = SERVICES["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+[-\w]*", postgres["image"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]


def test_minio_images_are_pinned_quay_releases():
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.[\dT-]+Z", SERVICES["minio"]["image"])
    assert re.fullmatch(r"quay\.io/minio/mc:RELEASE\.[\dT-]+Z", SERVICES["minio-init"]["image"])
    assert "--console-address" in SERVICES["minio"]["command"]


def test_mlflow_image_tag_is_pinned():
    build = SERVICES["mlflow"]["build"]["dockerfile_inline"]
    base = re.search(r"FROM (\S+)", build).group(1)
    assert re.fullmatch(r"ghcr\.io/mlflow/mlflow:v\d+\.\d+\.\d+", base)
    assert "psycopg" in build and "boto3" in build


def with_defaults(value: str) -> str:
    """Interpolate ${VAR:-default} as compose does when VAR is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def test_every_port_is_published_on_loopback_by_default():
    published = []
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            address, host_port, container_port = with_defaults(mapping).split(":")
            assert address == "127.0.0.1", (name, mapping)
            published.append(host_port)
    assert sorted(published) == ["5000", "5432", "9000", "9001"]


def test_secrets_come_from_env_and_are_required():
    for name, service in SERVICES.items():
        for key, value in environment(name).items():
            if any(marker in key for marker in SECRET_KEYS):
                assert REQUIRED_VAR.match(str(value)), f"{name}.{key} = {value!r}"


def test_no_literal_or_defaulted_secret_anywhere():
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    assert "minioadmin" not in text
    # A secret variable must never fall back to a default value.
    assert not re.search(r"\$\{\w*(PASSWORD|SECRET|ACCESS_KEY|ROOT_USER)\w*:-", text)
    for service in SERVICES.values():
        for part in service.get("command", []):
            assert not re.search(r"(?i)password|secret", str(part)), part


def test_depends_on_waits_for_health_and_init():
    assert SERVICES["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    mlflow_deps = SERVICES["mlflow"]["depends_on"]
    assert mlflow_deps["postgres"]["condition"] == "service_healthy"
    assert mlflow_deps["minio-init"]["condition"] == "service_completed_successfully"


def test_mlflow_uses_postgres_proxied_s3_and_allowed_hosts():
    command = " ".join(SERVICES["mlflow"]["command"])
    assert "--serve-artifacts" in command
    assert "--artifacts-destination=s3://mlflow-artifacts" in command
    assert "--allowed-hosts=" in command
    assert environment("mlflow")["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql")
    assert "/health" in " ".join(SERVICES["mlflow"]["healthcheck"]["test"])
    # The scoped user, not MinIO's root account.
    assert "MINIO_SERVICE_ACCESS_KEY" in environment("mlflow")["AWS_ACCESS_KEY_ID"]
    assert "MINIO_ROOT" not in str(environment("mlflow"))


def test_init_service_runs_the_init_script():
    init = SERVICES["minio-init"]
    assert any("init_minio.sh" in part for part in init["entrypoint"])
    assert any(v.startswith("./scripts/init_minio.sh:") for v in init["volumes"])


def test_env_example_has_placeholders_for_every_required_variable():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (REPO_ROOT / "docker-compose.yml").read_text()))
    example = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required <= set(example), required - set(example)
    for key in required:
        if any(marker in key for marker in ("PASSWORD", "SECRET")):
            assert example[key].startswith("change-me"), key


def test_root_credentials_reach_only_minio_and_its_init_job():
    for name in SERVICES:
        uses_root = any("MINIO_ROOT" in str(v) for v in environment(name).values())
        assert uses_root == (name in ("minio", "minio-init")), name


def test_no_bucket_is_made_public():
    for path in ("docker-compose.yml", "scripts/init_minio.sh"):
        text = (REPO_ROOT / path).read_text()
        # `mc anonymous set ...` (formerly `mc policy set`) opens a bucket to everyone.
        assert not re.search(r"^\s*mc\s+(anonymous|policy\s+set)", text, re.M), path
        assert '"Principal"' not in text, path


def test_the_init_job_publishes_no_port():
    assert "ports" not in SERVICES["minio-init"]
