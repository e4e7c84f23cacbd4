"""MLflow tracking for pipeline stages: one run per stage execution.

Without ``MLFLOW_TRACKING_URI`` every stage logs to one embedded SQLite store in the
*main* repository (also from ``dvc exp run --temp/--queue`` copies under ``.dvc/tmp/exps``),
so ``mlflow ui --backend-store-uri sqlite:///.mlflow/mlflow.db`` shows every run.
"""

from mlstack.tracking.run import StageRun, stage_run, tracking_uri

__all__ = ["StageRun", "stage_run", "tracking_uri"]
