"""`mlstack remote check` and `describe_s3_error`: wrong keys, a missing
bucket and a stopped server each get a message naming the endpoint, the key
in use (masked) and what to check."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from dvc_project import DVC, REMOTE_CHECK, client_env, init_project, run

from mlstack.cli import build_parser
from mlstack.stack.s3_errors import S3Problem, classify_s3_error, describe_s3_error, mask_key
from mlstack.stack.testing import s3_env, standalone_s3

ENDPOINT = "http://127.0.0.1:9"


def client_error(code: str, status: int = 403, operation: str = "ListObjectsV2") -> ClientError:
    response = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


# -- describe_s3_error on its own --------------------------------------------------


def test_unreachable_endpoint_is_named_with_what_to_run():
    exc = EndpointConnectionError(endpoint_url=f"{ENDPOINT}/dvc-store")
    message = describe_s3_error(exc, ENDPOINT)
    assert message == (
        f"cannot connect to S3 endpoint {ENDPOINT} (is the server up? `mlstack stack status`)"
    )


@pytest.mark.parametrize("code", ["InvalidAccessKeyId", "SignatureDoesNotMatch"])
def test_rejected_credentials_show_only_a_masked_key(code):
    key = "AKIA" + "Q" * 12 + "WXYZ"
    message = describe_s3_error(client_error(code), ENDPOINT, access_key=key)
    assert f"S3 endpoint {ENDPOINT} rejected the credentials (AWS_ACCESS_KEY_ID=AKIA…WXYZ" in message
    assert key not in message and "AWS_SECRET_ACCESS_KEY" in message


def test_errors_wrapped_by_s3fs_are_unwrapped():
    # s3fs turns ClientError into PermissionError/FileNotFoundError `from` the original.
    try:
        try:
            raise client_error("NoSuchBucket", 404)
        except ClientError as original:
            raise FileNotFoundError("dvc-store") from original
    except FileNotFoundError as wrapped:
        exc = wrapped
    message = describe_s3_error(exc, ENDPOINT, bucket="dvc-store")
    assert message.startswith(f"bucket dvc-store does not exist at S3 endpoint {ENDPOINT}")


def test_head_request_403_is_reported_as_denied_with_both_causes():
    # HEAD responses have no body, so only the status is known.
    exc = ClientError({"Error": {"Code": "403"}, "ResponseMetadata": {}}, "HeadObject")
    assert classify_s3_error(exc) == (S3Problem.ACCESS_DENIED, "403")
    message = describe_s3_error(exc, ENDPOINT, bucket="dvc-store", access_key="mlstackabcdef")
    assert "denied access to bucket dvc-store" in message and "wrong credentials" in message


def test_missing_credentials_and_proxied_artifact_failures():
    assert describe_s3_error(NoCredentialsError(), None).startswith(
        "no S3 credentials found for S3 endpoint https://s3.amazonaws.com"
    )
    # What an MLflow client sees when the tracking server cannot reach S3.
    proxied = Exception(
        "API request to http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/0/abc/artifacts/a.txt "
        "failed with exception HTTPConnectionPool(...): Max retries exceeded "
        "(Caused by ResponseError('too many 500 error responses'))"
    )
    assert classify_s3_error(proxied)[0] is S3Problem.SERVER_SIDE_S3
    assert "MLflow server failed to store or read the artifact" in describe_s3_error(proxied, ENDPOINT)


def test_mask_key_never_shows_a_whole_key():
    assert mask_key(None) == "(unset)"
    assert mask_key("short") == "sh…"
    assert mask_key("mlstack0123456789ab") == "mlst…89ab"


def test_remote_check_is_registered_with_the_stack_commands():
    parser = build_parser()  # the `mlstack` command line
    assert parser.parse_args(["stack", "status"]).command == "stack"
    args = parser.parse_args(["remote", "check", "--remote", "minio"])
    assert callable(args.func) and args.remote == "minio"


# -- against a moto server that checks signatures -------------------------------------

@pytest.fixture(scope="module")
def signing_s3():
    with standalone_s3(check_credentials=True) as server:
        yield server


@pytest.fixture(scope="module")
def project(signing_s3, tmp_path_factory):
    path = tmp_path_factory.mktemp("remote-check") / "project"
    init_project(path, client_env(s3_env(signing_s3), home=path.parent))
    return path


def check_with(project, signing_s3, **overrides):
    env = client_env({**s3_env(signing_s3), **overrides}, home=project.parent)
    env["AWS_MAX_ATTEMPTS"] = "1"
    return run(REMOTE_CHECK, project, env, check=False), env


@pytest.mark.faults
@pytest.mark.services
def test_accepted_credentials_pass(signing_s3, project):
    result, _ = check_with(project, signing_s3)
    assert result.returncode == 0, result.stderr
    assert f"reachable at {signing_s3.endpoint} (from AWS_ENDPOINT_URL_S3)" in result.stdout
    assert mask_key(signing_s3.creds.s3_access_key) in result.stdout
    assert signing_s3.creds.s3_access_key not in result.stdout


@pytest.mark.faults
@pytest.mark.services
def test_wrong_secret_fails_push_and_check_names_endpoint_and_key(signing_s3, project):
    (project / "data.txt").write_text("payload\n")
    result, env = check_with(project, signing_s3, AWS_SECRET_ACCESS_KEY="not-the-secret")
    run(DVC + ["add", "-q", "data.txt"], project, env)
    push = run(DVC + ["push"], project, env, check=False)
    # DVC only says "Forbidden ... (403)": no endpoint, no key.
    assert push.returncode != 0 and "403" in push.stderr

    assert result.returncode == 1
    key = signing_s3.creds.s3_access_key
    assert f"S3 endpoint {signing_s3.endpoint} rejected the credentials" in result.stderr
    assert f"AWS_ACCESS_KEY_ID={mask_key(key)}" in result.stderr
    assert "SignatureDoesNotMatch" in result.stderr
    assert key not in result.stderr and "not-the-secret" not in result.stderr


@pytest.mark.faults
@pytest.mark.services
def test_unknown_key_is_rejected(signing_s3, project):
    unknown = "AKIA" + "Z" * 12 + "0000"
    result, _ = check_with(project, signing_s3, AWS_ACCESS_KEY_ID=unknown)
    assert result.returncode == 1
    assert "rejected the credentials (AWS_ACCESS_KEY_ID=AKIA…0000, InvalidAccessKeyId)" in result.stderr


@pytest.mark.faults
@pytest.mark.services
def test_missing_bucket_is_named(signing_s3, project):
    (project / ".dvc" / "config.local").write_text('[\'remote "minio"\']\n    url = s3://no-such-bucket\n')
    try:
        result, _ = check_with(project, signing_s3)
    finally:
        (project / ".dvc" / "config.local").unlink()
    assert result.returncode == 1
    assert f"bucket no-such-bucket does not exist at S3 endpoint {signing_s3.endpoint}" in result.stderr


@pytest.mark.faults
@pytest.mark.services
def test_endpoint_from_remote_config_wins_over_environment(signing_s3, project):
    (project / ".dvc" / "config.local").write_text(
        f"['remote \"minio\"']\n    endpointurl = {signing_s3.endpoint}\n"
    )
    try:
        result, _ = check_with(project, signing_s3, AWS_ENDPOINT_URL_S3=ENDPOINT)
    finally:
        (project / ".dvc" / "config.local").unlink()
    assert result.returncode == 0, result.stderr
    assert "(from remote 'minio' endpointurl)" in result.stdout


def test_outside_a_dvc_repository_exits_2(tmp_path):
    result = run(REMOTE_CHECK + ["--repo", str(tmp_path)], tmp_path, client_env({}, tmp_path), check=False)
    assert result.returncode == 2 and "not a DVC repository" in result.stderr
