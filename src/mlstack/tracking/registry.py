"""Register the trained CD and NVS models in the MLflow model registry, tagged with DVC hashes.

The files go to ``MLSTACK_MODEL_STORE`` (``s3://models`` with the services stack) when it
is set, and the registered version points there; otherwise they are logged as artifacts
of the evaluate run and the version points at those.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlstack.tracking.lineage import dvc_md5

MODEL_STORE_ENV = "MLSTACK_MODEL_STORE"
REGISTERED = {"mlstack-cd": Path("models/cd"), "mlstack-nvs": Path("models/nvs")}
# What a user needs to load each model; resumable optimizer state stays in DVC only.
FILES = {"mlstack-cd": ["best.ckpt"], "mlstack-nvs": ["ply/point_cloud.ply", "ckpts/last.pt"]}


def _upload_to_store(store: str, name: str, md5: str, folder: Path, files: list[str]) -> str:
    import boto3

    bucket, _, prefix = store.removeprefix("s3://").partition("/")
    key_root = "/".join(p for p in (prefix, name, md5.removesuffix(".dir")) if p)
    client = boto3.client("s3")  # endpoint and credentials from the environment
    for rel in files:
        client.upload_file(str(folder / rel), bucket, f"{key_root}/{rel}")
    return f"s3://{bucket}/{key_root}"


def register_models(run) -> dict[str, str]:
    """Register every trained model; return {name: version}. Skipped while offline."""
    if not run.online:
        print("warning: tracking server unreachable: models not registered (re-run evaluate "
              "with the server up)", file=sys.stderr)
        return {}
    client, store = run.client, os.environ.get(MODEL_STORE_ENV)
    versions = {}
    logged = client.get_run(run.run_id)  # artifact root and commit tag do not change below
    for name, folder in REGISTERED.items():
        if not folder.exists():
            continue
        md5 = dvc_md5(folder)
        if store:
            source = _upload_to_store(store, name, md5, folder, FILES[name])
        else:
            for rel in FILES[name]:
                run.log_artifact(folder / rel, f"model/{name}/{Path(rel).parent}".rstrip("/."))
            source = f"{logged.info.artifact_uri}/model/{name}"
        if not client.search_registered_models(f"name = '{name}'"):
            client.create_registered_model(name, description=f"mlstack {folder} (DVC-tracked)")
        version = client.create_model_version(
            name, source, run_id=run.run_id,
            tags={"dvc.path": str(folder), "dvc.md5": md5,
                  "mlflow.source.git.commit": logged.data.tags.get(
                      "mlflow.source.git.commit", "")},
        )
        versions[name] = version.version
    return versions
