"""DVC stage train_nvs: 3D Gaussian splatting on data/processed/nvs -> models/nvs/.

Outputs (like gsplat's simple_trainer): models/nvs/ckpts/last.pt (resumable checkpoint),
models/nvs/ply/point_cloud.ply (standard 3DGS splat PLY), models/nvs/stats/train.json, and
plots/train_nvs.csv with per-step metrics for ``dvc plots``. Logged to MLflow via stage_run.

An interrupted run resumes from models/nvs/ckpts/last.pt when params, seed and data match
(needs ``persist: true`` on models/nvs in dvc.yaml, or DVC deletes it before re-running).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlstack.nvs.errors import SceneError
from mlstack.nvs.scene import load_transforms
from mlstack.nvs.train import history_csv, pick_device, stats_json, train, write_ply
from mlstack.params import ParamsError, load_stage_params
from mlstack.tracking.run import stage_run
from mlstack.utils.io import OutputError, atomic_write_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--scene", default="data/processed/nvs")
    parser.add_argument("--out", default="models/nvs")
    parser.add_argument("--plots", default="plots/train_nvs.csv")
    args = parser.parse_args(argv)
    try:
        stage = load_stage_params("train_nvs", args.params)
        scene = load_transforms(Path(args.scene))
        run_stage(stage, scene, Path(args.out), Path(args.plots))
    except (ParamsError, SceneError, OutputError) as err:
        print(f"train_nvs: {err}", file=sys.stderr)
        return 2
    return 0


def run_stage(stage, scene, out: Path, plots: Path) -> dict:
    params = stage.train_nvs
    logged = {"seed": stage.seed, "train_nvs": params.model_dump(mode="json")}
    with stage_run("train_nvs", params=logged) as run:
        def on_step(row: dict) -> None:
            if row["step"] % params.log_every == 0:
                run.log_metrics({k: row[k] for k in ("loss", "psnr", "num_gaussians")}, step=row["step"])

        result = train(scene, params, stage.seed, ckpt_path=out / "ckpts" / "last.pt", on_step=on_step)
        ply = write_ply(out / "ply" / "point_cloud.ply", result.splats)
        stats = stats_json(result, params, pick_device(params.device))
        atomic_write_text(out / "stats" / "train.json", stats)
        atomic_write_text(plots, history_csv(result.history))
        summary = json.loads(stats)
        run.log_metrics({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        run.log_artifact(ply, "ply")
        run.log_artifact(plots, "plots")
    print(f"train_nvs: {summary['num_gaussians']} Gaussians, train PSNR "
          f"{summary['final_train_psnr']:.2f} dB, {summary['wall_s'] / 60:.1f} min")
    return summary


if __name__ == "__main__":
    sys.exit(main())
