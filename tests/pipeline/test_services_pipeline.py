"""The pipeline against the real services: runs in the MLflow server, data in S3, registry."""

import json

import pytest
from mlflow import MlflowClient

from helpers import git_env, make_project_copy, run

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def served_repo(services_stack, tmp_path_factory):
    env = git_env({**services_stack.env, "MLSTACK_EXPERIMENT": "served-pipeline"})
    repo = make_project_copy(tmp_path_factory.mktemp("served") / "repo",
                             overrides={"evaluate": {"register": True}}, env=env)
    # The committed .dvc/config: default remote `minio` -> s3://dvc-store, endpoint from env.
    (repo / ".dvc" / "config").write_text(_project_dvc_config())
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "remote"], repo, env)
    run(["dvc", "repro"], repo, env)
    return repo, env


def _project_dvc_config():
    from helpers import PROJECT

    return (PROJECT / ".dvc" / "config").read_text()


def test_runs_land_in_the_server_with_artifacts(served_repo, services_stack):
    client = MlflowClient(services_stack.mlflow_uri)
    exp = client.get_experiment_by_name("served-pipeline")
    runs = client.search_runs([exp.experiment_id], "tags.`mlstack.stage` = 'evaluate'")
    assert len(runs) == 1
    evaluate = runs[0]
    assert evaluate.data.tags["dvc.remote_url"] == "s3://dvc-store"
    paths = {a.path for a in client.list_artifacts(evaluate.info.run_id, "plots")}
    assert "plots/cd_predictions.png" in paths
    # Proxied artifacts really are in the S3 bucket.
    keys = [o["Key"] for o in services_stack.s3_client().list_objects_v2(
        Bucket=services_stack.artifacts_bucket).get("Contents", [])]
    assert any(k.endswith("cd_predictions.png") for k in keys)


def test_models_are_registered_with_dvc_hashes_in_the_models_bucket(served_repo, services_stack):
    repo, _ = served_repo
    client = MlflowClient(services_stack.mlflow_uri)
    lock = (repo / "dvc.lock").read_text()
    for name in ("mlstack-cd", "mlstack-nvs"):
        (version,) = client.search_model_versions(f"name = '{name}'")
        assert version.source.startswith("s3://models/")
        assert version.tags["dvc.md5"] in lock
    keys = [o["Key"] for o in services_stack.s3_client().list_objects_v2(Bucket="models")["Contents"]]
    assert any(k.endswith("best.ckpt") for k in keys) and any(k.endswith(".ply") for k in keys)


def test_push_then_pull_into_a_fresh_clone_restores_every_output(served_repo, tmp_path):
    repo, env = served_repo
    run(["dvc", "push"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "results"], repo, env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    run(["dvc", "pull"], clone, env)
    for out in ("data/processed/cd/stats.json", "models/cd/best.ckpt",
                "models/nvs/ply/point_cloud.ply", "eval/plots/cd_predictions.png"):
        assert (clone / out).read_bytes() == (repo / out).read_bytes(), out
    status = run(["dvc", "status"], clone, env)
    assert "up to date" in status.stdout
    assert json.loads((clone / "eval/metrics.json").read_text()) == json.loads(
        (repo / "eval/metrics.json").read_text())


def test_reproduce_names_a_data_hash_missing_from_the_remote(served_repo, services_stack):
    import sys

    repo, env = served_repo
    client = MlflowClient(services_stack.mlflow_uri)
    exp = client.get_experiment_by_name("served-pipeline")
    (train,) = client.search_runs([exp.experiment_id], "tags.`mlstack.stage` = 'train_cd'")
    md5 = train.data.tags["dvc.dep.data/processed/cd.md5"]
    s3 = services_stack.s3_client()
    s3.delete_object(Bucket="dvc-store", Key=f"files/md5/{md5[:2]}/{md5[2:]}")
    result = run([sys.executable, "-m", "mlstack.cli", "reproduce", train.info.run_id,
                  "--data", "pull"], repo, env, check=False)
    assert result.returncode == 2
    assert f"data hash {md5} (data/processed/cd) not found in the DVC remote" in result.stderr


SCREENSHOTS = __import__("pathlib").Path("/tmp/mlstack-screenshots")
SCREENSHOTS.mkdir(exist_ok=True)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium():
    import os
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing on CI (.ci/run installs Debian's chromium)")
        pytest.skip("Chromium not found (Debian: apt-get install chromium)")
    return path


def test_mlflow_ui_in_a_real_browser_shows_the_runs_lr(served_repo, services_stack, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    client = MlflowClient(services_stack.mlflow_uri)
    exp = client.get_experiment_by_name("served-pipeline")
    (train,) = client.search_runs([exp.experiment_id], "tags.`mlstack.stage` = 'train_cd'")
    base = services_stack.mlflow_uri.rstrip("/")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # The UI polls the server, so the network never goes idle: wait for content instead.
        page.goto(f"{base}/#/experiments/{exp.experiment_id}/runs", wait_until="domcontentloaded")
        # The runs table lists the pipeline run (its stage runs are nested under it).
        page.get_by_text("pipeline", exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / "mlflow_experiment.png"))
        page.goto(f"{base}/#/experiments/{exp.experiment_id}/runs/{train.info.run_id}",
                  wait_until="domcontentloaded")
        page.get_by_text("train_cd.batch_size").first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        page.screenshot(path=str(SCREENSHOTS / "mlflow_run.png"), full_page=True)
        browser.close()
    assert "lr" in body and train.data.params["lr"] in body
