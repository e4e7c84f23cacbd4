"""train_cd: fit TorchGeo's ChangeDetectionTask on data/processed/cd; outs under models/cd."""

from _common import run_stage


def main() -> None:
    from pathlib import Path

    from mlstack.params import load_stage_params
    from mlstack.tracking import stage_run
    from mlstack.training.cd import train_cd
    from mlstack.utils.io import atomic_write_json

    params = load_stage_params("train_cd")
    with stage_run("train_cd", params.model_dump()) as run:
        summary = train_cd(
            params.train_cd, params.seed, params.lr,
            data_dir=Path("data/processed/cd"), model_dir=Path("models/cd"),
            plots_csv=Path("plots/train_cd.csv"), run=run,
        )
        # Wall time goes to MLflow only: DVC metrics stay bit-identical across reruns.
        run.log_metrics({"train_seconds": summary.pop("train_seconds")})
        run.log_summary({"cd.best_val_f1": summary["best_val_f1"]})
        if run.primary:  # DDP ranks > 0 re-run this script; rank 0 writes the outs
            atomic_write_json("metrics/train_cd.json", {"cd": summary})
            run.log_artifact("plots/train_cd.csv")


if __name__ == "__main__":
    run_stage(main)
