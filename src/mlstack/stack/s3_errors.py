"""Turn S3 failures into one sentence that names the endpoint and what to check.

DVC and MLflow report S3 problems in the words of the layer that failed
("Forbidden: An error occurred (403) when calling the HeadObject operation",
"too many 500 error responses"), without the endpoint or the credentials in
use. `describe_s3_error` maps the exception (or anything it wraps: s3fs and
MLflow re-raise botocore errors) to a diagnosis a user can act on.
"""

from __future__ import annotations

import enum
import os
import re
from typing import Iterator

from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

STATUS_HINT = "`mlstack stack status`"
CREDENTIALS_HINT = (
    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (`source scripts/set_env.sh` sets "
    "the stack's), or the remote's access_key_id/secret_access_key in .dvc/config.local"
)
BUCKET_HINT = (
    "`mlstack stack up` creates the stack's buckets; on MinIO run scripts/init_minio.sh"
)

# S3 error codes, grouped by what the user has to fix.
_BAD_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
_NO_BUCKET_CODES = {"NoSuchBucket"}
# MLflow's proxied artifact API: the server, not the client, talks to S3.
_PROXIED_ARTIFACT_FAILURE = re.compile(r"/mlflow-artifacts/\S*.*(\b5\d\d\b|500 error)", re.S)


class S3Problem(enum.Enum):
    UNREACHABLE = "unreachable"
    BAD_CREDENTIALS = "bad-credentials"
    ACCESS_DENIED = "access-denied"
    NO_BUCKET = "no-bucket"
    NO_CREDENTIALS = "no-credentials"
    SERVER_SIDE_S3 = "server-side-s3"  # the MLflow server failed to reach S3
    OTHER = "other"


def mask_key(access_key: str | None) -> str:
    """Enough of an access key to tell which one is in use, never all of it."""
    if not access_key:
        return "(unset)"
    if len(access_key) <= 8:
        return access_key[:2] + "…"
    return f"{access_key[:4]}…{access_key[-4:]}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _client_error_code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    # HEAD requests carry no body: only the HTTP status is known.
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, BotoConnectionError):  # EndpointConnectionError, timeouts, resets
        return True
    if isinstance(exc, (ConnectionRefusedError, ConnectionResetError, TimeoutError)):
        return True
    # aiohttp (s3fs) and urllib3 without importing either.
    return type(exc).__name__ in {"ClientConnectorError", "ServerDisconnectedError", "NewConnectionError"}


def classify_s3_error(exc: BaseException) -> tuple[S3Problem, str | None]:
    """What went wrong, and the S3 error code if the server sent one."""
    for link in _chain(exc):
        if isinstance(link, ClientError):
            code = _client_error_code(link)
            if code in _BAD_CREDENTIAL_CODES:
                return S3Problem.BAD_CREDENTIALS, code
            if code in _NO_BUCKET_CODES:
                return S3Problem.NO_BUCKET, code
            if code in _DENIED_CODES:
                return S3Problem.ACCESS_DENIED, code
            return S3Problem.OTHER, code
        if isinstance(link, (NoCredentialsError, PartialCredentialsError)):
            return S3Problem.NO_CREDENTIALS, None
        if _is_connection_failure(link):
            return S3Problem.UNREACHABLE, None
    if _PROXIED_ARTIFACT_FAILURE.search(str(exc)):
        return S3Problem.SERVER_SIDE_S3, None
    return S3Problem.OTHER, None


def describe_s3_error(
    exc: BaseException,
    endpoint: str | None,
    bucket: str | None = None,
    access_key: str | None = None,
) -> str:
    """One line naming the endpoint, the cause and what to check.

    `endpoint` is the S3 URL the failed call used (None: AWS's default);
    `access_key` defaults to AWS_ACCESS_KEY_ID and is shown masked.
    """
    where = f"S3 endpoint {endpoint or 'https://s3.amazonaws.com (AWS default)'}"
    key = mask_key(access_key if access_key is not None else os.environ.get("AWS_ACCESS_KEY_ID"))
    problem, code = classify_s3_error(exc)
    if problem is S3Problem.UNREACHABLE:
        return f"cannot connect to {where} (is the server up? {STATUS_HINT})"
    if problem is S3Problem.BAD_CREDENTIALS:
        return f"{where} rejected the credentials (AWS_ACCESS_KEY_ID={key}, {code}): {CREDENTIALS_HINT}"
    if problem is S3Problem.ACCESS_DENIED:
        target = f"bucket {bucket}" if bucket else "the request"
        return (
            f"{where} denied access to {target} for AWS_ACCESS_KEY_ID={key} ({code}): wrong "
            f"credentials, or the user's policy does not cover the bucket; {CREDENTIALS_HINT}"
        )
    if problem is S3Problem.NO_BUCKET:
        return f"bucket {bucket or '(unknown)'} does not exist at {where}: {BUCKET_HINT}"
    if problem is S3Problem.NO_CREDENTIALS:
        return f"no S3 credentials found for {where}: {CREDENTIALS_HINT}"
    if problem is S3Problem.SERVER_SIDE_S3:
        return (
            f"the MLflow server failed to store or read the artifact in {where}: check the S3 "
            f"server ({STATUS_HINT}) and the MLflow server log"
        )
    detail = f" ({code})" if code else ""
    return f"request to {where} failed{detail}: {exc}"
