"""One tiny `dvc repro` in a throwaway git+DVC copy, shared by the pipeline tests."""

import pytest

from helpers import git_env, make_project_copy, run


@pytest.fixture(scope="session")
def repro_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    store = root / "mlflow-store"
    env = git_env({"MLSTACK_MLFLOW_DIR": str(store)})
    env.pop("MLFLOW_TRACKING_URI", None)
    repo = make_project_copy(root / "repo", env=env)
    first = run(["dvc", "repro"], repo, env)
    return {"repo": repo, "env": env, "store": store, "first": first}
