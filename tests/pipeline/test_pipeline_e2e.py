"""End to end: the real pipeline in a throwaway git+DVC copy of the project, tiny params."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from helpers import run

pytestmark = pytest.mark.slow


def _client(store):
    return MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")


def _all_runs(store):
    client = _client(store)
    exp = client.get_experiment_by_name("mlstack")
    return client.search_runs([exp.experiment_id], "", max_results=1000)


def _runs(store, stage=None):
    """Stage runs (not the pipeline runs that group them), optionally of one stage."""
    runs = [r for r in _all_runs(store) if "mlstack.stage" in r.data.tags]
    return [r for r in runs if stage is None or r.data.tags["mlstack.stage"] == stage]


def test_repro_writes_cd_metrics(repro_repo):
    metrics = json.loads((repro_repo["repo"] / "eval/metrics.json").read_text())
    cd = metrics["cd"]
    for key in ("f1", "iou", "precision", "recall", "overall_accuracy", "kappa"):
        assert 0.0 <= cd[key] <= 1.0 or (key == "kappa" and -1 <= cd[key] <= 1)
    c = cd["confusion"]
    # Whole test images (2 tiles of 64x64), not a centre crop.
    assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == 2 * 64 * 64
    assert "baseline" in cd
    nvs = metrics["nvs"]
    for key in ("psnr", "ssim", "depth_mae", "baseline_psnr"):
        assert isinstance(nvs[key], float)
    assert 5 < nvs["psnr"] < 60 and nvs["n_test_views"] == 2  # 30 steps: a real but rough fit
    for out in ("models/cd/best.ckpt", "plots/train_cd.csv", "eval/plots/cd_predictions.png",
                "eval/plots/cd_confusion.png", "eval/plots/cd_pr.csv",
                "models/nvs/ply/point_cloud.ply", "models/nvs/ckpts/last.pt", "plots/train_nvs.csv"):
        assert (repro_repo["repo"] / out).is_file(), out


def test_every_stage_logged_to_embedded_mlflow(repro_repo):
    runs = _runs(repro_repo["store"])
    stages = {r.data.tags["mlstack.stage"] for r in runs}
    assert {"prepare", "train_cd", "train_nvs", "evaluate"} <= stages
    for r in runs:
        assert r.info.status == "FINISHED"
        assert "mlflow.source.git.commit" in r.data.tags
    (train,) = _runs(repro_repo["store"], "train_cd")
    assert float(train.data.params["lr"]) == pytest.approx(0.002)
    assert train.data.params["train_cd.batch_size"] == "2"
    (evaluate,) = _runs(repro_repo["store"], "evaluate")
    assert "cd.f1" in evaluate.data.metrics
    artifacts = {a.path for a in _client(repro_repo["store"]).list_artifacts(evaluate.info.run_id, "plots")}
    assert "plots/cd_predictions.png" in artifacts


def test_second_repro_runs_nothing(repro_repo):
    repo, env = repro_repo["repo"], repro_repo["env"]
    before = len(_runs(repro_repo["store"]))
    second = run(["dvc", "repro"], repo, env)
    assert "Running stage" not in second.stdout
    assert len(_runs(repro_repo["store"])) == before
    status = run(["dvc", "status"], repo, env)
    assert "up to date" in status.stdout


def test_exp_run_set_lr_reruns_only_train_and_evaluate(repro_repo):
    repo, env = repro_repo["repo"], repro_repo["env"]
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "baseline with lock", "--allow-empty"], repo, env)
    result = run(["dvc", "exp", "run", "-S", "lr=1e-3"], repo, env)
    ran = {line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("Running stage")}
    assert "train_cd" in ran and "evaluate" in ran
    assert "prepare" not in ran and "train_nvs" not in ran
    train_runs = _runs(repro_repo["store"], "train_cd")
    lrs = sorted(float(r.data.params["lr"]) for r in train_runs)
    assert 0.001 in lrs
    newest = max(train_runs, key=lambda r: r.info.start_time)
    assert float(newest.data.params["lr"]) == pytest.approx(0.001)
    assert newest.data.tags.get("dvc.exp_name")


def test_runs_record_dvc_hashes_that_match_dvc_lock(repro_repo):
    from ruamel.yaml import YAML

    lock = YAML(typ="safe").load((repro_repo["repo"] / "dvc.lock").read_text())
    # The workspace's dvc.lock is that of the newest runs (the last test ran an experiment).
    runs = _runs(repro_repo["store"])
    evaluate = max(_runs(repro_repo["store"], "evaluate"), key=lambda r: r.info.start_time)
    deps = {d["path"]: d["md5"] for d in lock["stages"]["evaluate"]["deps"]}
    for path in ("data/processed/cd", "models/cd"):
        assert evaluate.data.tags[f"dvc.dep.{path}.md5"] == deps[path]
    train = max(_runs(repro_repo["store"], "train_cd"), key=lambda r: r.info.start_time)
    outs = {o["path"]: o["md5"] for o in lock["stages"]["train_cd"]["outs"]}
    assert train.data.tags["dvc.out.models/cd.md5"] == outs["models/cd"]
    # -S lr=1e-3 edited params.yaml: the experiment's tree differs from its baseline commit.
    assert train.data.tags["git.dirty"] == "true" and "params.yaml" in train.data.tags["git.dirty_files"]
    # Datasets by reference, digest = DVC md5.
    inputs = {d.dataset.name: d.dataset.digest for d in train.inputs.dataset_inputs}
    assert inputs == {"data/processed/cd": deps["data/processed/cd"]}


def test_one_pipeline_run_groups_a_repro(repro_repo):
    runs = _all_runs(repro_repo["store"])
    parents = [r for r in runs if r.data.tags.get("mlstack.role") == "pipeline"]
    first_parent = min(parents, key=lambda r: r.info.start_time)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == first_parent.info.run_id]
    assert {c.data.tags["mlstack.stage"] for c in children} == {
        "prepare", "train_cd", "train_nvs", "evaluate"}
    # The parent carries every param and the summary metrics: one row per experiment.
    assert "prepare.cd.n_train" in first_parent.data.params and "lr" in first_parent.data.params
    assert "cd.f1" in first_parent.data.metrics and "nvs.psnr" in first_parent.data.metrics
