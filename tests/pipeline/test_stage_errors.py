"""Stages stop with one clear line (no traceback) on bad params or data, writing no outs."""

import contextlib
import os
import subprocess
import sys

import pytest

from helpers import PROJECT, git_env, make_project_copy, run, write_params


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_project_copy(tmp_path_factory.mktemp("errors") / "repo")


def _stage(repo, name):
    return run([sys.executable, f"stages/{name}.py"], repo, git_env(), check=False)


def test_bad_param_stops_stage_naming_the_key(repo):
    write_params(repo, {"train_cd": {"batch_size": -1}})
    try:
        result = _stage(repo, "train_cd")
    finally:
        write_params(repo, {"train_cd": {"batch_size": 2}})
    assert result.returncode == 2
    assert "train_cd.batch_size" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (repo / "models").exists()


def test_wrong_raw_layout_stops_prepare_naming_the_folder(repo):
    (repo / "data/raw/levircd/images").mkdir(parents=True)
    write_params(repo, {"prepare": {"cd": {"source": "levircd"}}})
    try:
        result = _stage(repo, "prepare")
    finally:
        write_params(repo, {"prepare": {"cd": {"source": "synthetic"}}})
    assert result.returncode == 2
    assert "data/raw/levircd" in result.stderr and "Traceback" not in result.stderr
    assert not (repo / "data/processed/cd").exists()


@contextlib.contextmanager
def _tmpfs(path, options):
    """A small tmpfs mounted at `path` (root only; skips where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_output_directory(repo):
    with _tmpfs(repo / "data" / "processed", "ro,size=1m"):
        result = _stage(repo, "prepare")
    assert result.returncode == 2, result.stderr
    assert "cannot write data/processed/cd" in result.stderr and "Read-only" in result.stderr
    assert "Traceback" not in result.stderr


def test_full_disk(repo):
    with _tmpfs(repo / "data" / "processed", "size=64k") as mount:
        result = _stage(repo, "prepare")
        leftovers = list(mount.iterdir())
    assert result.returncode == 2, result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert leftovers == []  # the half-written temporary folder was removed
