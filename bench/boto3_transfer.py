"""The baseline for `dvc push` / `dvc pull`: a plain boto3 script, run as its own command.

    python -m bench.boto3_transfer upload   BUCKET DIR JOBS
    python -m bench.boto3_transfer download BUCKET DIR JOBS

It is what a user would write without DVC: every file of DIR to BUCKET (or back), JOBS
threads, one client configured from the environment (AWS_ENDPOINT_URL, keys, region), as
DVC is. Run as a command so it pays interpreter start and imports, as `dvc` does.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def client(jobs: int):
    import boto3
    from botocore.config import Config

    # As many pooled connections as threads: otherwise boto3 would queue requests.
    return boto3.client("s3", config=Config(max_pool_connections=jobs,
                                            s3={"addressing_style": "path"}))


def upload(bucket: str, folder: Path, jobs: int) -> None:
    s3 = client(jobs)
    files = sorted(folder.iterdir())
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda p: s3.upload_file(str(p), bucket, p.name), files))


def download(bucket: str, folder: Path, jobs: int) -> None:
    s3 = client(jobs)
    folder.mkdir(parents=True, exist_ok=True)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda k: s3.download_file(bucket, k, str(folder / k)), keys))


if __name__ == "__main__":
    action, bucket, folder, jobs = sys.argv[1:5]
    {"upload": upload, "download": download}[action](bucket, Path(folder), int(jobs))
