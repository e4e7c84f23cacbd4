"""SIGTERM in the middle of `dvc repro`'s train_cd: the next `dvc repro` resumes from the
persisted last.ckpt and ends with the same metrics as an uninterrupted run."""

import json
import os
import signal
import subprocess
import time

import pytest

from helpers import git_env, make_project_copy, run

pytestmark = [pytest.mark.faults, pytest.mark.slow]

LONGER = {"train_cd": {"max_epochs": 12, "patience": 12}, "prepare": {"cd": {"n_train": 8}}}


def _epochs_done(repo):
    csv = repo / "plots" / "train_cd.csv"
    return len(csv.read_text().splitlines()) - 1 if csv.exists() else 0


def test_sigterm_then_repro_resumes_to_the_same_metrics(tmp_path):
    env = git_env({"MLSTACK_MLFLOW_DIR": str(tmp_path / "store")})
    reference = make_project_copy(tmp_path / "reference", overrides=LONGER, env=env)
    run(["dvc", "repro"], reference, env)

    repo = make_project_copy(tmp_path / "repo", overrides=LONGER, env=env)
    proc = subprocess.Popen(["dvc", "repro"], cwd=repo, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _epochs_done(repo) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "train_cd finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGTERM)  # what a pre-empted job gets
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert (repo / "models/cd/last.ckpt").is_file()

    resumed = run(["dvc", "repro"], repo, env)
    assert "resuming train_cd from models/cd/last.ckpt" in resumed.stdout + resumed.stderr
    for name in ("metrics/train_cd.json", "eval/metrics.json"):
        assert json.loads((repo / name).read_text())["cd"] == \
            json.loads((reference / name).read_text())["cd"], name
    assert (repo / "plots/train_cd.csv").read_text() == (reference / "plots/train_cd.csv").read_text()
