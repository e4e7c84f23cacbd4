"""What a run needs to be rebuilt from git and DVC alone: hashes, refs, remote, grouping.

DVC writes a stage's ``dvc.lock`` entry only *after* the stage finishes, so reading
``dvc.lock`` inside a stage records stale hashes. Instead we hash the stage's data/model
dependencies ourselves, the way DVC does (file: md5 of the bytes; folder: md5 of DVC's
JSON listing of ``{"md5", "relpath"}`` entries, plus ``.dir``), so they match ``dvc.lock``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

PIPELINE_KEY_TAG = "mlstack.pipeline_key"
ROLE_TAG = "mlstack.role"


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


PACKAGE_DIR = Path(__file__).resolve().parents[1]


def package_source_md5(package: Path = PACKAGE_DIR) -> str:
    """md5 of every .py file of the installed mlstack package (relative path + bytes).

    Part of the resume fingerprints: a checkpoint written by other code must not be resumed,
    or a `dvc repro` after a code change would re-export the old model under the new code's
    dvc.lock hashes. Only sources count (no __pycache__), so the hash is the same in every
    checkout of a commit.
    """
    digest = hashlib.md5()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def dvc_md5(path: Path) -> str:
    """The md5 DVC records for `path` in dvc.lock (".dir"-suffixed for folders)."""
    path = Path(path)
    if path.is_file():
        return file_md5(path)
    entries = sorted(
        ({"md5": file_md5(f), "relpath": f.relative_to(path).as_posix()}
         for f in path.rglob("*") if f.is_file()),
        key=lambda e: e["relpath"],
    )
    listing = json.dumps(entries, sort_keys=True).encode()
    return hashlib.md5(listing).hexdigest() + ".dir"


def load_dvc_yaml(root: Path = Path(".")) -> dict:
    return YAML(typ="safe").load((root / "dvc.yaml").read_text())


def _out_paths(stage: dict) -> list[str]:
    paths = []
    for section in ("outs", "metrics", "plots"):
        for item in stage.get(section, []) or []:
            paths.append(next(iter(item)) if isinstance(item, dict) else item)
    return paths


def pipeline_outputs(dvc_yaml: dict) -> set[str]:
    return {p for stage in dvc_yaml["stages"].values() for p in _out_paths(stage)}


def data_deps(stage_name: str, dvc_yaml: dict) -> list[str]:
    """A stage's deps that are data or models: other stages' outs, or DVC-tracked (.dvc) data."""
    outs = pipeline_outputs(dvc_yaml)
    deps = dvc_yaml["stages"][stage_name].get("deps", [])
    return [d for d in deps if d in outs or Path(f"{d}.dvc").exists()]


def stage_outs(stage_name: str, dvc_yaml: dict) -> list[str]:
    return _out_paths(dvc_yaml["stages"][stage_name])


def hash_paths(paths: list[str]) -> dict[str, str]:
    return {p: dvc_md5(Path(p)) for p in paths if Path(p).exists()}


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout


def dirty_files(dvc_yaml: dict) -> list[str]:
    """Tracked files that differ from HEAD, ignoring what the pipeline itself writes."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    if status is None:
        return []
    written = pipeline_outputs(dvc_yaml) | {"dvc.lock"}
    changed = [line[3:].strip() for line in status.splitlines() if line.strip()]
    return [p for p in changed if p not in written and not any(p.startswith(w.rstrip("/") + "/") for w in written)]


def remote_url(root: Path = Path(".")) -> str | None:
    """URL of the default DVC remote (config.local overrides config, as in DVC)."""
    from configobj import ConfigObj

    merged: dict[str, Any] = {}
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        if path.exists():
            for section, values in ConfigObj(str(path)).items():
                merged.setdefault(section, {}).update(values)
    default = merged.get("core", {}).get("remote")
    if not default:
        return None
    return merged.get(f'remote "{default}"', {}).get("url")


def remote_object_url(remote: str, md5: str) -> str:
    """Where DVC 3 stores an object in a remote: files/md5/<2 chars>/<rest>."""
    return f"{remote.rstrip('/')}/files/md5/{md5[:2]}/{md5[2:]}"


def _dvc_ancestor() -> tuple[int, float] | None:
    """The `dvc` process running this stage (repro / exp run), identified by pid + start time."""
    try:
        import psutil

        for parent in psutil.Process().parents():
            cmdline = " ".join(parent.cmdline())
            if "dvc" in cmdline and any(w in cmdline for w in ("repro", "exp", "queue")):
                return parent.pid, parent.create_time()
    except Exception:  # noqa: BLE001 - best effort; a fresh key is the safe fallback
        return None
    return None


def pipeline_key() -> str:
    """One key per pipeline execution, shared by the stages it runs.

    `dvc exp run` names each experiment (`DVC_EXP_NAME`), also in queues and sweeps; a plain
    `dvc repro` is identified by its own dvc process. `MLSTACK_PIPELINE_KEY` overrides.
    """
    if os.environ.get("MLSTACK_PIPELINE_KEY"):
        return os.environ["MLSTACK_PIPELINE_KEY"]
    if os.environ.get("DVC_EXP_NAME"):
        baseline = os.environ.get("DVC_EXP_BASELINE_REV", "")
        return f"exp:{os.environ['DVC_EXP_NAME']}@{baseline[:12]}"
    ancestor = _dvc_ancestor()
    if ancestor:
        return f"repro:{os.uname().nodename}:{ancestor[0]}:{ancestor[1]:.2f}"
    return f"stage:{os.uname().nodename}:{os.getpid()}:{os.times().elapsed:.2f}"


def lineage_tags(stage: str) -> tuple[dict[str, str], dict[str, str]]:
    """(tags, data-dependency hashes) for a stage that is about to run."""
    dvc_yaml = load_dvc_yaml()
    deps = hash_paths(data_deps(stage, dvc_yaml))
    dirty = dirty_files(dvc_yaml)
    tags = {
        "git.dirty": str(bool(dirty)).lower(),
        PIPELINE_KEY_TAG: pipeline_key(),
    }
    if dirty:
        tags["git.dirty_files"] = ",".join(dirty)[:4000]
    remote = remote_url()
    if remote:
        tags["dvc.remote_url"] = remote
    for path, md5 in deps.items():
        tags[f"dvc.dep.{path}.md5"] = md5
    return tags, deps
