"""compare, link and reproduce on a real tiny pipeline run."""

import json
import sys

import pytest
from mlflow import MlflowClient

from helpers import run

pytestmark = pytest.mark.slow


def _mlstack(repo, env, *args, check=True):
    return run([sys.executable, "-m", "mlstack.cli", *args], repo, env, check=check)


def _client(repro_repo):
    return MlflowClient(f"sqlite:///{repro_repo['store'] / 'mlflow.db'}")


def _pipeline_runs(repro_repo):
    client = _client(repro_repo)
    exp = client.get_experiment_by_name("mlstack")
    return client.search_runs([exp.experiment_id], "tags.`mlstack.role` = 'pipeline'",
                              order_by=["attributes.start_time ASC"])


def test_compare_prints_one_row_per_pipeline_run(repro_repo):
    out = _mlstack(repro_repo["repo"], repro_repo["env"], "compare", "--md").stdout
    lines = out.strip().splitlines()
    assert lines[0].startswith("| run | experiment |")
    assert "CD F1" in lines[0] and "NVS PSNR" in lines[0] and "commit" in lines[0]
    assert len(lines) == 2 + len(_pipeline_runs(repro_repo))
    first = _pipeline_runs(repro_repo)[0]
    assert f"{first.data.metrics['cd.f1']:.4f}" in out


def test_link_tags_runs_with_the_commit_that_kept_them(repro_repo):
    repo, env = repro_repo["repo"], repro_repo["env"]
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "keep the workspace result", "--allow-empty"], repo, env)
    head = run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()
    out = _mlstack(repo, env, "link", "--rev", "HEAD").stdout
    assert "linked" in out
    client = _client(repro_repo)
    exp = client.get_experiment_by_name("mlstack")
    linked = client.search_runs([exp.experiment_id], f"tags.`mlstack.final_commit` = '{head}'")
    stages = {r.data.tags.get("mlstack.stage", "pipeline") for r in linked}
    assert {"train_cd", "evaluate"} <= stages
    evaluate = next(r for r in linked if r.data.tags.get("mlstack.stage") == "evaluate")
    lock = run(["git", "show", "HEAD:dvc.lock"], repo, env).stdout
    assert evaluate.data.tags["dvc.lock.evaluate.eval/metrics.json.md5"] in lock


def test_reproduce_prints_reproduced(repro_repo):
    repo, env = repro_repo["repo"], repro_repo["env"]
    evaluate_runs = [r for r in _client(repro_repo).search_runs(
        [_client(repro_repo).get_experiment_by_name("mlstack").experiment_id],
        "tags.`mlstack.stage` = 'evaluate'", order_by=["attributes.start_time ASC"])]
    target = evaluate_runs[0]  # the first repro (clean tree, baseline commit)
    result = _mlstack(repo, env, "reproduce", target.info.run_id, "--data", "regenerate")
    assert "reproduced" in result.stdout and "bit-exact" in result.stdout, result.stderr[-2000:]


def test_reproduce_names_a_missing_commit(repro_repo):
    client = _client(repro_repo)
    exp = client.get_experiment_by_name("mlstack")
    fake = client.create_run(exp.experiment_id, tags={"mlflow.source.git.commit": "f" * 40,
                                                      "git.dirty": "false"})
    result = _mlstack(repro_repo["repo"], repro_repo["env"], "reproduce", fake.info.run_id,
                      check=False)
    assert result.returncode == 2
    assert f"commit {'f' * 40} not found" in result.stderr


def test_reproduce_names_a_missing_experiment_ref(repro_repo):
    client = _client(repro_repo)
    exp = client.get_experiment_by_name("mlstack")
    fake = client.create_run(exp.experiment_id, tags={"dvc.exp_name": "long-gone-exp"})
    result = _mlstack(repro_repo["repo"], repro_repo["env"], "reproduce", fake.info.run_id,
                      check=False)
    assert result.returncode == 2
    assert "experiment ref for DVC experiment 'long-gone-exp' not found" in result.stderr
