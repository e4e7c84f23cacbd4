"""prepare: build data/processed/cd (LEVIR-CD layout) and data/processed/nvs (transforms.json)."""

from _common import run_stage


def main() -> None:
    from pathlib import Path

    from mlstack.data.cd_prepare import prepare_cd
    from mlstack.nvs.prepare import prepare_nvs
    from mlstack.params import load_stage_params
    from mlstack.tracking import stage_run
    from mlstack.utils.io import atomic_dir, atomic_write_json

    params = load_stage_params("prepare")
    with stage_run("prepare", params.model_dump()) as run:
        with atomic_dir(Path("data/processed/cd")) as tmp:
            cd_summary = prepare_cd(params.prepare.cd, params.seed, tmp)
        with atomic_dir(Path("data/processed/nvs")) as tmp:
            nvs_summary = prepare_nvs(params.prepare.nvs, params.seed, tmp)
        summary = {"cd": cd_summary, "nvs": nvs_summary}
        atomic_write_json("metrics/prepare.json", summary)
        run.log_metrics({f"cd.pairs.{k}": v for k, v in cd_summary["pairs"].items()})
        run.log_artifact("metrics/prepare.json")


if __name__ == "__main__":
    run_stage(main)
