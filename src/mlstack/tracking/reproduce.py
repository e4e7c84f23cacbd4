"""`mlstack reproduce RUN_ID`: rebuild a run from its tags alone and compare the metrics.

1. Resolve the code: the linked final commit, else the DVC experiment ref, else the run's
   commit if its tree was clean. Check it out into a fresh git worktree.
2. Resolve the data: `dvc pull` the data dependencies whose md5s the run recorded (each must
   still be in the remote), or regenerate them with the pipeline (`--data regenerate`).
3. `dvc repro --force` the rest, then compare the fresh metrics with the run's: equal
   (bit-exact on CPU, within a tolerance on GPU) prints "reproduced".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstack.tracking.link import FINAL_COMMIT, LinkError, experiment_refs, git
from mlstack.tracking.lineage import dvc_md5, load_dvc_yaml, pipeline_outputs
from mlstack.tracking.run import embedded_store_dir, flatten, uses_server

METRIC_FILES = ("eval/metrics.json", "metrics/train_cd.json", "metrics/train_nvs.json")


class ReproduceError(LookupError):
    """Something the run points at (commit, experiment ref, data hash) cannot be found."""


@dataclass
class Outcome:
    compared: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (run, fresh)
    differences: dict[str, tuple[float, float]] = field(default_factory=dict)
    data: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (run, fresh) md5

    @property
    def reproduced(self) -> bool:
        return bool(self.compared) and not self.differences and all(a == b for a, b in self.data.values())


def resolve_commit(tags: dict[str, str], repo: Path) -> tuple[str, str]:
    """(commit sha, how it was found) from a run's tags."""
    if tags.get(FINAL_COMMIT):
        return _existing_commit(tags[FINAL_COMMIT], "linked final commit", repo), "final commit"
    name = tags.get("dvc.exp_name")
    if name:
        refs = experiment_refs(cwd=repo)
        if name not in refs:
            raise ReproduceError(
                f"experiment ref for DVC experiment '{name}' not found in {repo} "
                "(was it removed, or made in another clone? `dvc exp pull` it, or "
                "`mlstack link` the commit that kept it)")
        return git("rev-parse", refs[name], cwd=repo), f"experiment ref {refs[name]}"
    commit = tags.get("mlflow.source.git.commit")
    if not commit:
        raise ReproduceError("the run records no git commit, experiment ref or final commit")
    if tags.get("git.dirty") == "true":
        raise ReproduceError(
            f"the run was made from a dirty tree on {commit[:10]} ({tags.get('git.dirty_files')}) "
            "and was never linked to a commit; commit it and run `mlstack link`")
    return _existing_commit(commit, "commit", repo), "commit"


def _existing_commit(sha: str, what: str, repo: Path) -> str:
    try:
        return git("rev-parse", "--verify", f"{sha}^{{commit}}", cwd=repo)
    except LinkError:
        raise ReproduceError(f"{what} {sha} not found in {repo} (fetch it first)") from None


def data_hashes(tags: dict[str, str]) -> dict[str, str]:
    return {k[len("dvc.dep."):-len(".md5")]: v for k, v in tags.items()
            if k.startswith("dvc.dep.") and k.endswith(".md5")}


def _run(cmd: list[str], cwd: Path, env: dict, what: str) -> None:
    print(f"$ {' '.join(cmd)}", file=sys.stderr)
    result = subprocess.run(cmd, cwd=cwd, env=env, text=True, stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0:
        raise ReproduceError(f"{what} failed in {cwd} (exit {result.returncode})")


def check_remote_has(worktree: Path, hashes: dict[str, str]) -> None:
    from dvc.repo import Repo

    with Repo(str(worktree)) as repo:
        odb = repo.cloud.get_remote_odb()
        missing = [f"{md5} ({path})" for path, md5 in hashes.items() if not odb.exists(md5)]
        if missing:
            raise ReproduceError(f"data hash {', '.join(missing)} not found in the DVC remote "
                                 f"{odb.fs.unstrip_protocol(odb.path)}; it was never pushed or "
                                 "has been garbage-collected")


def fresh_metrics(worktree: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    for name in METRIC_FILES:
        path = worktree / name
        if path.exists():
            for key, value in flatten(json.loads(path.read_text())).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values[key] = float(value)
    return values


def compare(run_metrics: dict[str, float], fresh: dict[str, float], rtol: float) -> Outcome:
    outcome = Outcome()
    for key in sorted(set(run_metrics) & set(fresh)):
        pair = (run_metrics[key], fresh[key])
        outcome.compared[key] = pair
        same = pair[0] == pair[1] if rtol == 0 else math.isclose(*pair, rel_tol=rtol, abs_tol=rtol)
        if not same:
            outcome.differences[key] = pair
    return outcome


def _child_env(experiment: str) -> dict[str, str]:
    env = dict(os.environ)
    if not uses_server():
        env["MLSTACK_MLFLOW_DIR"] = str(embedded_store_dir())
    env["MLSTACK_EXPERIMENT"] = f"{experiment}-reproductions"
    env.pop("DVC_EXP_NAME", None)
    return env


def reproduce(client: Any, run_id: str, repo: Path, data: str = "auto", rtol: float = 0.0,
              keep: bool = False) -> Outcome:
    run = client.get_run(run_id)
    tags = run.data.tags
    commit, how = resolve_commit(tags, repo)
    print(f"run {run_id}: code from {how} {commit[:12]}", file=sys.stderr)
    hashes = data_hashes(tags)
    experiment = client.get_experiment(run.info.experiment_id).name
    env = _child_env(experiment)
    worktree = Path(tempfile.mkdtemp(prefix="mlstack-reproduce-"))
    try:
        git("worktree", "add", "--detach", str(worktree), commit, cwd=repo)
        pulled = _provide_data(worktree, hashes, data, env)
        stages = [s for s in load_dvc_yaml(worktree)["stages"] if s not in pulled]
        _run(["dvc", "repro", "--force", "--single-item", *stages], worktree, env, "dvc repro")
        outcome = compare(run.data.metrics, fresh_metrics(worktree), rtol)
        outcome.data = {p: (md5, dvc_md5(worktree / p)) for p, md5 in hashes.items()
                        if (worktree / p).exists()}
        return outcome
    finally:
        if not keep:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=repo,
                           capture_output=True)
            shutil.rmtree(worktree, ignore_errors=True)


def _provide_data(worktree: Path, hashes: dict[str, str], mode: str, env: dict) -> set[str]:
    """Pull the run's data deps (returns the stages whose outs were pulled), or regenerate."""
    if mode == "regenerate" or not hashes:
        return set()
    if mode == "auto" and not (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")):
        print("no S3 endpoint configured: regenerating the data with the pipeline", file=sys.stderr)
        return set()
    check_remote_has(worktree, hashes)
    _run(["dvc", "pull", *hashes], worktree, env, "dvc pull")
    dvc_yaml = load_dvc_yaml(worktree)
    outs = pipeline_outputs(dvc_yaml)
    return {name for name, stage in dvc_yaml["stages"].items()
            if any(p in hashes for p in stage.get("outs", []) if isinstance(p, str) and p in outs)}
