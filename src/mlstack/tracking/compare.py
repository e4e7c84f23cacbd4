"""`mlstack compare`: one row per pipeline run across everything in MLflow.

Like `dvc exp show`, but over every clone and machine that logs to the same server: the
params that differ between the rows, the headline metrics, duration and the identifiers
needed to rebuild each row (experiment name, commit, data hashes).
"""

from __future__ import annotations

from typing import Any

from mlstack.tracking.lineage import ROLE_TAG

METRICS = [("cd.f1", "CD F1"), ("cd.iou", "CD IoU"), ("cd.kappa", "CD kappa"),
           ("nvs.psnr", "NVS PSNR"), ("nvs.ssim", "NVS SSIM")]


def pipeline_runs(client: Any, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise LookupError(f"MLflow experiment '{experiment}' not found at {client.tracking_uri}")
    return client.search_runs([exp.experiment_id], f"tags.`{ROLE_TAG}` = 'pipeline'",
                              order_by=["attributes.start_time ASC"], max_results=5000)


def differing_params(runs: list) -> list[str]:
    keys = sorted({k for r in runs for k in r.data.params})
    return [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]


def _duration(run) -> str:
    if not run.info.end_time:
        return "running"
    seconds = (run.info.end_time - run.info.start_time) / 1000
    return f"{seconds / 60:.1f} min"


def table(runs: list) -> tuple[list[str], list[list[str]]]:
    params = differing_params(runs) if len(runs) > 1 else []
    header = ["run", "experiment", *params, *(label for _, label in METRICS),
              "duration", "commit", "dvc baseline"]
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        rows.append([
            run.info.run_id[:8],
            tags.get("dvc.exp_name", tags.get("mlflow.runName", "")),
            *(run.data.params.get(p, "") for p in params),
            *(f"{metrics[m]:.4f}" if m in metrics else "" for m, _ in METRICS),
            _duration(run),
            (tags.get("mlstack.final_commit") or tags.get("mlflow.source.git.commit", ""))[:10],
            tags.get("dvc.baseline_rev", "")[:10],
        ])
    return header, rows


def render(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*row) for row in rows)])
