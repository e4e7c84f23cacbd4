"""An MLflow run goes through the real tracking server: metadata lands in
PostgreSQL, the artifact in the S3 bucket (proxied, the client has no S3 access)."""

import mlflow
import psycopg
import pytest

pytestmark = pytest.mark.services

S3_CLIENT_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "MLFLOW_S3_ENDPOINT_URL",
)


@pytest.fixture
def logged_run(services_stack, monkeypatch, tmp_path):
    # Only the tracking URI: artifacts must travel through the server, so the
    # client gets no S3 credentials (ambient ones removed too).
    for name in S3_CLIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", services_stack.mlflow_uri)
    mlflow.set_tracking_uri(services_stack.mlflow_uri)

    artifact = tmp_path / "confusion.txt"
    artifact.write_text("tp=3 fp=1 fn=0 tn=4\n")
    mlflow.set_experiment("stack-roundtrip")
    with mlflow.start_run(run_name="roundtrip") as run:
        mlflow.log_param("tile_size", 256)
        mlflow.log_metric("val_iou", 0.75)
        mlflow.log_artifact(str(artifact), artifact_path="eval")
    yield mlflow.get_run(run.info.run_id)
    mlflow.set_tracking_uri(None)


def test_artifact_is_proxied_into_the_bucket(services_stack, logged_run):
    assert logged_run.info.artifact_uri.startswith("mlflow-artifacts:")
    keys = [
        obj["Key"]
        for obj in services_stack.s3_client()
        .list_objects_v2(Bucket=services_stack.artifacts_bucket)
        .get("Contents", [])
    ]
    matches = [k for k in keys if logged_run.info.run_id in k and k.endswith("eval/confusion.txt")]
    assert matches, f"artifact not in s3://{services_stack.artifacts_bucket}: {keys}"
    body = services_stack.s3_client().get_object(
        Bucket=services_stack.artifacts_bucket, Key=matches[0]
    )["Body"].read()
    assert body == b"tp=3 fp=1 fn=0 tn=4\n"


def test_run_metadata_is_in_postgres(services_stack, logged_run):
    run_id = logged_run.info.run_id
    with psycopg.connect(services_stack.pg_dsn) as conn:
        status = conn.execute("SELECT status FROM runs WHERE run_uuid = %s", (run_id,)).fetchone()
        param = conn.execute(
            "SELECT value FROM params WHERE run_uuid = %s AND key = 'tile_size'", (run_id,)
        ).fetchone()
        metric = conn.execute(
            "SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'val_iou'", (run_id,)
        ).fetchone()
    assert status == ("FINISHED",)
    assert param == ("256",)
    assert metric == (0.75,)
