"""`mlstack link`: tie MLflow runs to the commit or experiment ref that kept them.

The experiment's own commit exists only after `dvc exp run` finishes, so the runs cannot
know it while they run. Afterwards, a run is identified by its outputs: it matches a commit
when every ``dvc.out.<path>.md5`` it recorded equals that commit's ``dvc.lock``. Matching
runs (and their pipeline run) get ``mlstack.final_commit``, ``mlstack.final_ref`` and the
final ``dvc.lock.<stage>.<path>.md5`` hashes, so their tags alone identify code and data.
"""

from __future__ import annotations

import subprocess
from typing import Any

from ruamel.yaml import YAML

FINAL_COMMIT = "mlstack.final_commit"
FINAL_REF = "mlstack.final_ref"


class LinkError(LookupError):
    pass


def git(*args: str, cwd=None) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise LinkError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def experiment_refs(cwd=None) -> dict[str, str]:
    """DVC experiment name -> ref (refs/exps/<baseline>/<name>)."""
    out = git("for-each-ref", "--format=%(refname)", "refs/exps/", cwd=cwd)
    refs = [line for line in out.splitlines() if line.count("/") >= 4]
    return {ref.rsplit("/", 1)[1]: ref for ref in refs}


def lock_outs(rev: str, cwd=None) -> dict[str, dict[str, str]]:
    """stage -> {out path: md5} from dvc.lock at `rev`."""
    lock = YAML(typ="safe").load(git("show", f"{rev}:dvc.lock", cwd=cwd))
    return {name: {o["path"]: o["md5"] for o in stage.get("outs", []) if "md5" in o}
            for name, stage in lock.get("stages", {}).items()}


def _matches(run: Any, outs: dict[str, str]) -> bool:
    recorded = {k[len("dvc.out."):-len(".md5")]: v for k, v in run.data.tags.items()
                if k.startswith("dvc.out.") and k.endswith(".md5")}
    return bool(recorded) and recorded == {p: outs.get(p) for p in recorded}


def link(client: Any, experiment_id: str, rev: str, cwd=None) -> list[str]:
    """Tag the runs whose outputs are the ones committed at `rev`; return their ids."""
    commit = git("rev-parse", f"{rev}^{{commit}}", cwd=cwd)
    lock = lock_outs(commit, cwd=cwd)
    tags = {FINAL_COMMIT: commit, FINAL_REF: rev}
    tags.update({f"dvc.lock.{stage}.{path}.md5": md5
                 for stage, outs in lock.items() for path, md5 in outs.items()})
    linked, parents = [], set()
    for stage, outs in lock.items():
        runs = client.search_runs([experiment_id], f"tags.`mlstack.stage` = '{stage}'",
                                  max_results=5000)
        for run in runs:
            if _matches(run, outs):
                _tag(client, run.info.run_id, tags)
                linked.append(run.info.run_id)
                if "mlflow.parentRunId" in run.data.tags:
                    parents.add(run.data.tags["mlflow.parentRunId"])
    for parent in parents:
        children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'",
                                      max_results=100)
        # A pipeline run is linked only when every stage it ran produced the committed outs.
        if all(child.info.run_id in linked for child in children):
            _tag(client, parent, tags)
            linked.append(parent)
    return linked


def _tag(client: Any, run_id: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
