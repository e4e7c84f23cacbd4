"""DVC command costs: a no-op `dvc repro` against `dvc status`, and `dvc push` / `dvc pull`
throughput against plain boto3 on the same files and the same S3 server (moto).

Commands are timed from outside, as a user waits for them (interpreter start included).
boto3 uses as many threads as DVC's default S3 jobs (4 x CPUs), so both sides may keep the
same number of requests in flight.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.common import Row, paired, timed

DVC = [sys.executable, "-m", "dvc"]
JOBS = 4 * (os.cpu_count() or 1)  # DVC's default number of S3 jobs
BASELINE_BUCKET = "raw-data"  # one of the stack's buckets; DVC's remote is dvc-store


@dataclass(frozen=True)
class DvcSizes:
    n_files: int = 256
    file_kib: int = 64
    repeats: int = 5


QUICK = DvcSizes(n_files=48, file_kib=32, repeats=2)


def run(cmd: list[str], cwd: Path, env: dict) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


# -- dvc repro with nothing to do ----------------------------------------------


def bench_noop_repro(work: Path, repeats: int) -> Row:
    """A tiny project copy (tests/helpers.py), reproduced once, then repro vs status."""
    from helpers import git_env, make_project_copy

    env = git_env({"MLSTACK_MLFLOW_DIR": str(work / "mlflow-store")})
    env.pop("MLFLOW_TRACKING_URI", None)
    repo = make_project_copy(work / "repo", env=env)
    run(DVC + ["repro"], repo, env)
    repro_s, status_s, ratio = paired(lambda: timed(lambda: run(DVC + ["repro"], repo, env)),
                                      lambda: timed(lambda: run(DVC + ["status"], repo, env)),
                                      repeats=repeats)
    return Row("dvc_repro_noop", "`dvc repro` with nothing to do vs `dvc status` (s)", "s",
               repro_s, status_s, ratio, "<= 1.2", repeats,
               note="tiny pipeline copy after one full repro")


# -- dvc push / pull ---------------------------------------------------------------


def dvc_env(s3_env: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DVC_"))}
    env.update(s3_env, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="bench", GIT_COMMITTER_NAME="bench",
               GIT_AUTHOR_EMAIL="bench@example.invalid",
               GIT_COMMITTER_EMAIL="bench@example.invalid")
    return env


def make_data_repo(repo: Path, env: dict, sizes: DvcSizes) -> Path:
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(DVC + ["init", "-q"], repo, env)
    run(DVC + ["remote", "add", "-d", "bench", "s3://dvc-store"], repo, env)
    data = repo / "data" / "raw"
    data.mkdir(parents=True)
    for i in range(sizes.n_files):  # incompressible and unique: no dedup shortcut
        (data / f"tile_{i:04d}.bin").write_bytes(os.urandom(sizes.file_kib * 1024))
    run(DVC + ["add", "-q", "data/raw"], repo, env)
    return data


def empty_bucket(client, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


class PushPull:
    """One side-by-side pair of runs per call; each returns MiB/s."""

    def __init__(self, repo: Path, data: Path, env: dict, client, work: Path) -> None:
        self.repo, self.data, self.env, self.client, self.work = repo, data, env, client, work
        self.files = sorted(data.iterdir())
        self.mib = sum(p.stat().st_size for p in self.files) / 2**20

    def dvc_push(self) -> float:
        empty_bucket(self.client, "dvc-store")
        return self.mib / timed(lambda: run(DVC + ["push", "-q"], self.repo, self.env))

    def dvc_pull(self) -> float:
        shutil.rmtree(self.data)
        shutil.rmtree(self.repo / ".dvc" / "cache", ignore_errors=True)
        return self.mib / timed(lambda: run(DVC + ["pull", "-q"], self.repo, self.env))

    def boto3_upload(self) -> float:
        empty_bucket(self.client, BASELINE_BUCKET)
        upload = lambda p: self.client.upload_file(str(p), BASELINE_BUCKET, p.name)  # noqa: E731
        return self.mib / timed(lambda: self._parallel(upload, self.files))

    def boto3_download(self) -> float:
        target = self.work / "download"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        fetch = lambda p: self.client.download_file(BASELINE_BUCKET, p.name, str(target / p.name))  # noqa: E731
        return self.mib / timed(lambda: self._parallel(fetch, self.files))

    @staticmethod
    def _parallel(fn, items) -> None:
        with ThreadPoolExecutor(JOBS) as pool:
            list(pool.map(fn, items))


def bench_push_pull(work: Path, sizes: DvcSizes) -> list[Row]:
    from mlstack.stack.s3 import s3_client
    from mlstack.stack.testing import s3_env, standalone_s3

    with standalone_s3() as server:
        env = dvc_env(s3_env(server))
        data = make_data_repo(work / "repo", env, sizes)
        bench = PushPull(work / "repo", data, env, s3_client(server.endpoint, server.creds), work)
        push = paired(bench.dvc_push, bench.boto3_upload, repeats=sizes.repeats)
        pull = paired(bench.dvc_pull, bench.boto3_download, repeats=sizes.repeats)
    note = f"{sizes.n_files} files x {sizes.file_kib} KiB = {bench.mib:.0f} MiB, {JOBS} jobs, moto"
    return [Row(f"dvc_{name}", f"`dvc {name}` vs boto3 {what} (MiB/s)", "MiB/s", *figures,
                ">= 0.8", sizes.repeats, note=note)
            for name, what, figures in (("push", "upload", push), ("pull", "download", pull))]
