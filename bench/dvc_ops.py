"""DVC command costs: a no-op `dvc repro` against `dvc status`, and `dvc push` / `dvc pull`
throughput against plain boto3 on the same files and the same S3 server (moto).

Both sides are commands timed from outside, as a user waits for them (interpreter start
and imports included): `dvc push` against `python -m bench.boto3_transfer upload`. boto3
uses as many threads as DVC's default S3 jobs (4 x CPUs), so both sides may keep the same
number of requests in flight. Files are 128 KiB, about the median size of this project's
DVC cache (PNG tiles); the payload (64 MiB) is a sixth of what a full pipeline pushes.
The fixed cost of a `dvc push` with nothing to push is reported beside the ratio.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, Row, paired, timed

DVC = [sys.executable, "-m", "dvc"]
JOBS = 4 * (os.cpu_count() or 1)  # DVC's default number of S3 jobs
BASELINE_BUCKET = "raw-data"  # one of the stack's buckets; DVC's remote is dvc-store


@dataclass(frozen=True)
class DvcSizes:
    n_files: int = 512
    file_kib: int = 128
    repeats: int = 5


QUICK = DvcSizes(n_files=48, file_kib=32, repeats=2)


def run(cmd: list[str], cwd: Path, env: dict) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


# -- dvc repro with nothing to do ----------------------------------------------


def bench_noop_repro(work: Path, repeats: int) -> Row:
    """A tiny project copy (tests/helpers.py), reproduced once, then repro vs status.

    The same pair on a one-stage DVC project is the control: what `dvc repro` costs over
    `dvc status` in any project (DVC imports networkx and builds the stage graph for repro
    only), so the row shows how much of the gap this pipeline adds on top.
    """
    from helpers import git_env, make_project_copy

    env = git_env({"MLSTACK_MLFLOW_DIR": str(work / "mlflow-store")})
    env.pop("MLFLOW_TRACKING_URI", None)
    ours = noop_pair(make_project_copy(work / "repo", env=env), env, repeats)
    control = noop_pair(make_minimal_project(work / "minimal", env), env, repeats)
    details = [{"project": name, "repro_s": round(pair[0], 3), "status_s": round(pair[1], 3),
                "ratio": round(pair[2], 3)}
               for name, pair in (("mlstack (tiny params)", ours),
                                  ("one-stage DVC project", control))]
    return Row("dvc_repro_noop", "`dvc repro` with nothing to do vs `dvc status` (s)", "s",
               *ours, "<= 1.2", repeats, details=details,
               note=f"tiny pipeline copy after one full repro; a one-stage DVC project: "
                    f"{control[2]:.2f}")


def noop_pair(repo: Path, env: dict, repeats: int) -> tuple[float, float, float]:
    run(DVC + ["repro"], repo, env)
    return paired(lambda: timed(lambda: run(DVC + ["repro"], repo, env)),
                  lambda: timed(lambda: run(DVC + ["status"], repo, env)), repeats=repeats)


def make_minimal_project(repo: Path, env: dict) -> Path:
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(DVC + ["init", "-q"], repo, env)
    (repo / "in.txt").write_text("input\n")
    run(DVC + ["stage", "add", "-q", "-n", "copy", "-d", "in.txt", "-o", "out.txt",
               "cp in.txt out.txt"], repo, env)
    return repo


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


def boto3_command(action: str, folder: Path) -> list[str]:
    return [sys.executable, "-m", "bench.boto3_transfer", action, BASELINE_BUCKET,
            str(folder), str(JOBS)]


class PushPull:
    """One side-by-side pair of runs per call; each returns MiB/s."""

    def __init__(self, repo: Path, data: Path, env: dict, client, work: Path) -> None:
        self.repo, self.data, self.client, self.work = repo, data, client, work
        self.env = {**env, "PYTHONPATH": str(ROOT)}  # for python -m bench.boto3_transfer
        self.files = sorted(data.iterdir())
        self.mib = sum(p.stat().st_size for p in self.files) / 2**20

    def dvc_push(self) -> float:
        empty_bucket(self.client, "dvc-store")
        return self.mib / timed(lambda: run(DVC + ["push", "-q"], self.repo, self.env))

    def dvc_pull(self) -> float:
        shutil.rmtree(self.data)
        shutil.rmtree(self.repo / ".dvc" / "cache", ignore_errors=True)
        return self.mib / timed(lambda: run(DVC + ["pull", "-q"], self.repo, self.env))

    def dvc_push_nothing(self) -> float:
        """Seconds of a `dvc push` whose objects are all on the remote already."""
        return timed(lambda: run(DVC + ["push", "-q"], self.repo, self.env))

    def boto3_upload(self) -> float:
        empty_bucket(self.client, BASELINE_BUCKET)
        command = boto3_command("upload", self.data)
        return self.mib / timed(lambda: run(command, self.repo, self.env))

    def boto3_download(self) -> float:
        target = self.work / "download"
        shutil.rmtree(target, ignore_errors=True)
        command = boto3_command("download", target)
        return self.mib / timed(lambda: run(command, self.repo, self.env))


def bench_push_pull(work: Path, sizes: DvcSizes) -> list[Row]:
    from mlstack.stack.s3 import s3_client
    from mlstack.stack.testing import s3_env, standalone_s3

    with standalone_s3() as server:
        env = dvc_env(s3_env(server))
        data = make_data_repo(work / "repo", env, sizes)
        bench = PushPull(work / "repo", data, env, s3_client(server.endpoint, server.creds), work)
        push = paired(bench.dvc_push, bench.boto3_upload, repeats=sizes.repeats)
        nothing_s = min(bench.dvc_push_nothing() for _ in range(3))
        pull = paired(bench.dvc_pull, bench.boto3_download, repeats=sizes.repeats)
    note = (f"{sizes.n_files} files x {sizes.file_kib} KiB = {bench.mib:.0f} MiB, {JOBS} jobs, "
            f"moto; both sides are whole commands; a dvc push with nothing to push takes "
            f"{nothing_s:.2f} s")
    return [Row(f"dvc_{name}", f"`dvc {name}` vs boto3 {what} (MiB/s)", "MiB/s", *figures,
                ">= 0.8", sizes.repeats, note=note)
            for name, what, figures in (("push", "upload", push), ("pull", "download", pull))]
