"""evaluate: CD (and NVS) metrics on held-out data -> eval/metrics.json, plots, MLflow."""

from _common import run_stage


def _evaluate_cd(params, run) -> dict:
    import csv
    import io
    from pathlib import Path

    from mlstack.evaluation.cd import evaluate_cd
    from mlstack.evaluation.figures import confusion_figure, prediction_grid
    from mlstack.utils.io import atomic_write_text

    result = evaluate_cd(params.evaluate.cd, Path("data/processed/cd"), Path("models/cd/best.ckpt"))
    plots = Path("eval/plots")
    prediction_grid(result["examples"], plots / "cd_predictions.png")
    confusion_figure(result["confusion"].as_matrix(), plots / "cd_confusion.png",
                     f"CD test, F1 {result['metrics']['f1']:.3f}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["threshold", "precision", "recall"])
    writer.writeheader()
    writer.writerows(result["pr_curve"])
    atomic_write_text(plots / "cd_pr.csv", buffer.getvalue())
    for name in ("cd_predictions.png", "cd_confusion.png", "cd_pr.csv"):
        run.log_artifact(plots / name, "plots")
    run.log_summary({f"cd.{k}": v for k, v in result["metrics"].items()})
    run.log_metrics({f"cd.baseline.{k}": v for k, v in result["baseline"].items()})
    c = result["confusion"]
    return {**result["metrics"], "baseline": result["baseline"],
            "confusion": {"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn}}


def _evaluate_nvs(params, run) -> dict:
    from pathlib import Path

    from mlstack.nvs.evaluate import evaluate_nvs

    metrics, figures = evaluate_nvs(params.evaluate.nvs, Path("data/processed/nvs"),
                                    Path("models/nvs"), Path("eval/plots/nvs"))
    for figure in figures:
        run.log_artifact(figure, "plots/nvs")
    run.log_summary({f"nvs.{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
    return metrics


def main() -> None:
    from mlstack.params import load_stage_params
    from mlstack.tracking import stage_run
    from mlstack.utils.io import atomic_write_json

    params = load_stage_params("evaluate")
    with stage_run("evaluate", params.model_dump(by_alias=True)) as run:
        metrics = {"cd": _evaluate_cd(params, run), "nvs": _evaluate_nvs(params, run)}
        atomic_write_json("eval/metrics.json", metrics)
        run.log_artifact("eval/metrics.json")
        if params.evaluate.register_models:
            from mlstack.tracking.registry import register_models

            for name, version in register_models(run).items():
                print(f"registered {name} version {version}")


if __name__ == "__main__":
    run_stage(main)
