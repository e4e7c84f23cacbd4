"""Helpers for end-to-end tests: a throwaway copy of the project as its own git + DVC repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# What a fresh clone has: the tracked tree, without outputs, stores or environments.
COPY = ["dvc.yaml", "params.yaml", "stages", "src", ".dvcignore", ".gitignore", "pyproject.toml"]

# Tiny configurations: the whole pipeline in well under a minute on 2 CPU cores.
TINY_PARAMS = {
    "prepare": {
        "cd": {"tile_size": 64, "n_train": 4, "n_val": 2, "n_test": 2},
        "nvs": {"image_size": 32, "n_train": 8, "n_test": 2, "n_buildings": 3, "supersample": 1,
                "n_init_points": 600},
    },
    "train_cd": {"batch_size": 2, "patch_size": 64, "max_epochs": 1, "backbone": "resnet18"},
    "train_nvs": {"iterations": 30, "refine_start_iter": 4, "refine_every": 4,
                  "refine_stop_iter": 20, "reset_every": 12, "checkpoint_every": 10,
                  "log_every": 5, "progress": False},
    "evaluate": {"cd": {"tile_size": 64, "n_examples": 2}, "nvs": {"n_examples": 2}},
}


def deep_update(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def git_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("GIT_AUTHOR_NAME", "mlstack tests")
    env.setdefault("GIT_AUTHOR_EMAIL", "tests@mlstack.invalid")
    env.setdefault("GIT_COMMITTER_NAME", "mlstack tests")
    env.setdefault("GIT_COMMITTER_EMAIL", "tests@mlstack.invalid")
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra or {})
    return env


def run(cmd: list[str], cwd: Path, env: dict | None = None, check: bool = True, timeout: int = 900):
    result = subprocess.run(cmd, cwd=cwd, env=env or git_env(), capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def write_params(repo: Path, overrides: dict) -> None:
    yaml = YAML()
    path = repo / "params.yaml"
    data = yaml.load(path.read_text())
    deep_update(data, overrides)
    with open(path, "w") as fh:
        yaml.dump(data, fh)


def make_project_copy(dest: Path, overrides: dict | None = None, env: dict | None = None) -> Path:
    """Copy the project into `dest`, `git init` + `dvc init`, apply param overrides, commit."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src = PROJECT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    env = env or git_env()
    run(["git", "init", "-q", "-b", "main"], dest, env)
    run(["dvc", "init", "-q"], dest, env)
    run(["dvc", "config", "core.autostage", "true"], dest, env)
    write_params(dest, deep_update(_copy(TINY_PARAMS), overrides or {}))
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-q", "-m", "project copy"], dest, env)
    return dest


def _copy(d: dict) -> dict:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in d.items()}
