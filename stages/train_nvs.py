"""train_nvs: 3D Gaussian splatting on data/processed/nvs; outs under models/nvs.

models/nvs/ckpts/last.pt (resumable checkpoint), models/nvs/ply/point_cloud.ply (standard
3DGS splat PLY), models/nvs/stats/train.json, plots/train_nvs.csv (per-step metrics for
``dvc plots``) and metrics/train_nvs.json. CUDA + gsplat when available, else the PyTorch
renderer. An interrupted run resumes from ckpts/last.pt when params, seed and data match
(models/nvs needs ``persist: true`` in dvc.yaml, or DVC deletes it before re-running).
"""

from _common import run_stage


def main() -> None:
    from pathlib import Path

    from mlstack.nvs.train import train_nvs
    from mlstack.params import load_stage_params
    from mlstack.tracking import stage_run
    from mlstack.utils.io import atomic_write_json

    params = load_stage_params("train_nvs")
    with stage_run("train_nvs", params.model_dump(mode="json")) as run:
        summary = train_nvs(
            params.train_nvs, params.seed, scene_dir=Path("data/processed/nvs"),
            model_dir=Path("models/nvs"), plots_csv=Path("plots/train_nvs.csv"), run=run,
        )
        run.log_metrics({"train_seconds": summary["wall_s"], "its_per_s": summary["its_per_s"]})
        run.log_summary({"nvs.num_gaussians": summary["num_gaussians"],
                         "nvs.final_train_psnr": summary["final_train_psnr"]})
        # Wall time and speed go to MLflow only: DVC metrics stay bit-identical across reruns.
        stable = {k: v for k, v in summary.items() if k not in ("wall_s", "its_per_s", "resumed_from")}
        atomic_write_json("metrics/train_nvs.json", {"nvs": stable})
        run.log_artifact("plots/train_nvs.csv")


if __name__ == "__main__":
    run_stage(main)
