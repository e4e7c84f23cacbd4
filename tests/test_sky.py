"""sky.yaml, the SkyPilot task: a GPU node, no secrets in the file, the pipeline commands."""

import re
from pathlib import Path

import pytest
import yaml

SKY = Path(__file__).resolve().parent.parent / "sky.yaml"
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY)", re.IGNORECASE)


@pytest.fixture(scope="module")
def task():
    return yaml.safe_load(SKY.read_text())


def test_asks_for_a_gpu(task):
    accelerators = task["resources"]["accelerators"]
    candidates = accelerators if isinstance(accelerators, dict) else {accelerators: 1}
    assert candidates and all(int(count) >= 1 for count in candidates.values())


def test_no_literal_secrets(task):
    for section in ("envs", "secrets"):
        for name, value in (task.get(section) or {}).items():
            if SECRET_NAME.search(name):
                assert section == "secrets", f"{name} belongs under secrets:"
                assert not value, f"{name} has a literal value in sky.yaml"
    # Credentials and endpoints must come from the launch environment.
    assert task["envs"]["MLFLOW_TRACKING_URI"] is None
    assert task["envs"]["AWS_ENDPOINT_URL_S3"] is None
    assert task["secrets"]["AWS_ACCESS_KEY_ID"] is None
    assert task["secrets"]["AWS_SECRET_ACCESS_KEY"] is None
    text = SKY.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)  # an AWS access key id


def test_setup_installs_the_project(task):
    assert "venv" in task["setup"]
    assert "pip install" in task["setup"] and "-e ." in task["setup"]


def test_run_pulls_experiments_and_pushes_in_order(task):
    run = task["run"]
    steps = [run.index(cmd) for cmd in ("dvc pull", "dvc exp run", "dvc exp push origin")]
    assert steps == sorted(steps)
    assert "set -e" in run  # a failed pull must not go on to train on missing data
