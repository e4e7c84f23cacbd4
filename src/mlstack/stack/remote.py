"""`mlstack remote check`: can the default DVC remote be reached with the
credentials in this shell?

`dvc push` against a stopped S3 server or with wrong keys fails with
"Could not connect to the endpoint URL" or a bare "Forbidden (403) when
calling the HeadObject operation". This check resolves the remote the way
dvc-s3 does (remote config first, then the AWS environment and profile),
makes one cheap request and names the endpoint, the key in use and the fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .config import find_project_root
from .s3_errors import describe_s3_error, mask_key

# Endpoint variables botocore reads, in its order of precedence.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
EXIT_OK, EXIT_PROBLEM, EXIT_CONFIG = 0, 1, 2
NO_ENDPOINT_NOTE = (
    "note: neither the remote's endpointurl nor AWS_ENDPOINT_URL_S3 is set, so DVC talks to "
    "AWS S3; for the mlstack services run `source scripts/set_env.sh` first"
)


class RemoteConfigError(Exception):
    """The remote cannot be checked: none configured, not S3, not a DVC repo."""


@dataclass(frozen=True)
class S3Remote:
    name: str
    url: str
    options: dict  # the remote's section of the merged DVC config

    @property
    def bucket(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def prefix(self) -> str:
        return urlsplit(self.url).path.lstrip("/")

    def endpoint_and_source(self) -> tuple[str | None, str]:
        """The endpoint dvc-s3 will use and where that setting comes from."""
        if self.options.get("endpointurl"):
            return self.options["endpointurl"], f"remote '{self.name}' endpointurl"
        for variable in ENDPOINT_VARIABLES:
            if os.environ.get(variable):
                return os.environ[variable], variable
        return None, "no endpoint set (AWS S3)"


def load_default_remote(repo: Path | None = None, name: str | None = None) -> S3Remote:
    """The named (else the default) remote from the merged DVC config
    (system, global, repo, local), as `dvc push` sees it."""
    from dvc.config import Config

    root = find_project_root(repo)
    if not (root / ".dvc").is_dir():
        raise RemoteConfigError(f"{root} is not a DVC repository (no .dvc directory)")
    config = Config(dvc_dir=str(root / ".dvc"))
    name = name or config.get("core", {}).get("remote")
    if not name:
        raise RemoteConfigError("no default DVC remote (set one with `dvc remote default NAME`)")
    options = config.get("remote", {}).get(name)
    if options is None:
        raise RemoteConfigError(f"DVC remote '{name}' is not configured")
    if urlsplit(options["url"]).scheme != "s3":
        raise RemoteConfigError(f"DVC remote '{name}' is {options['url']}, not an s3:// remote")
    return S3Remote(name=name, url=options["url"], options=dict(options))


def _client_for(remote: S3Remote, endpoint: str | None, timeout: float):
    options = remote.options
    session = boto3.Session(
        profile_name=options.get("profile"),
        aws_access_key_id=options.get("access_key_id"),
        aws_secret_access_key=options.get("secret_access_key"),
        aws_session_token=options.get("session_token"),
    )
    client = session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=options.get("region"),
        verify=options.get("ssl_verify"),
        # One quick attempt: the check is there to answer fast.
        config=BotoConfig(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
    )
    credentials = session.get_credentials()
    return client, (credentials.access_key if credentials else None)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


def check_remote(remote: S3Remote, timeout: float = 5.0) -> CheckResult:
    """List at most one object under the remote's prefix: that needs the
    server up, the credentials accepted and the bucket present."""
    endpoint, source = remote.endpoint_and_source()
    client, access_key = _client_for(remote, endpoint, timeout)
    shown_endpoint = endpoint or client.meta.endpoint_url
    try:
        client.list_objects_v2(Bucket=remote.bucket, Prefix=remote.prefix, MaxKeys=1)
    except (BotoCoreError, ClientError) as exc:
        message = describe_s3_error(exc, shown_endpoint, remote.bucket, access_key)
        if endpoint is None:
            message += f"\n{NO_ENDPOINT_NOTE}"
        return CheckResult(False, message)
    return CheckResult(
        True,
        f"DVC remote '{remote.name}' ({remote.url}) is reachable at {shown_endpoint} "
        f"(from {source}); AWS_ACCESS_KEY_ID={mask_key(access_key)} accepted; "
        f"bucket {remote.bucket} exists",
    )


def cmd_check(args: argparse.Namespace) -> int:
    try:
        remote = load_default_remote(Path(args.repo) if args.repo else None, args.remote)
    except RemoteConfigError as exc:
        print(f"mlstack remote check: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    result = check_remote(remote, timeout=args.timeout)
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_PROBLEM


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="remote_command", metavar="{check}")
    commands.required = True
    check = commands.add_parser(
        "check",
        help="diagnose the default DVC remote: server up, credentials accepted, bucket present",
        description="Exit status: 0 ok, 1 the remote has a problem, 2 no usable S3 remote configured.",
    )
    check.add_argument("-r", "--remote", help="remote name (default: the DVC default remote)")
    check.add_argument("--repo", help="DVC repository (default: the one around the current directory)")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds per connection attempt")
    check.set_defaults(func=cmd_check)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `remote check` on the `mlstack` CLI's subparsers."""
    parser = subparsers.add_parser("remote", help="check the DVC remote (S3) from this shell")
    _add_commands(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlstack.stack.remote", description=__doc__)
    _add_commands(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
