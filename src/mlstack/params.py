"""Validated stage parameters.

Each stage reads ``params.yaml`` through :func:`load_stage_params`, which checks types,
ranges and unknown keys and stops the stage with a message that names the offending key.
The file is parsed with ruamel.yaml (YAML 1.2, as DVC parses it), so ``lr: 1e-3`` is a float.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlstack.nvs.config import EvaluateNvsParams, PrepareNvsParams, TrainNvsParams


class ParamsError(ValueError):
    """params.yaml is missing, malformed, or fails validation."""


class StrictModel(BaseModel):
    """Unknown keys are errors; no silent str->number coercion; NaN/inf are rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class PrepareCdParams(StrictModel):
    source: Literal["synthetic", "levircd", "oscd"] = "synthetic"
    raw_dir: str = "data/raw/levircd"  # DVC-tracked folder for levircd/oscd
    download: bool = False  # let TorchGeo download levircd/oscd into raw_dir (needs network)
    tile_size: int = Field(256, ge=32, le=4096)  # synthetic tile side; real data is tiled to this
    n_train: int = Field(64, ge=1)  # synthetic tiles per split
    n_val: int = Field(12, ge=1)
    n_test: int = Field(24, ge=1)


class PrepareParams(StrictModel):
    cd: PrepareCdParams = PrepareCdParams()
    nvs: PrepareNvsParams = PrepareNvsParams()


class TrainCdParams(StrictModel):
    model: Literal["fcsiamdiff", "fcsiamconc", "unet"] = "fcsiamdiff"
    backbone: str = "resnet18"
    init_checkpoint: str | None = None  # optional local state dict or Lightning checkpoint
    loss: Literal["bce", "focal", "dice", "jaccard"] = "bce"
    pos_weight: float = Field(1.0, gt=0)  # weight of the change class in the BCE loss
    batch_size: int = Field(8, ge=1)
    patch_size: int = Field(128, ge=32)  # random crop side for training (multiple of 32)
    max_epochs: int = Field(20, ge=1)
    limit_train_batches: int | float = Field(1.0, gt=0)  # Lightning semantics: int batches or fraction
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(10, ge=1)  # early-stop after this many epochs without val F1 gain
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int | str = "auto"
    num_nodes: int = Field(1, ge=1)
    strategy: str = "auto"  # e.g. "ddp" for multi-GPU / multi-node
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    num_workers: int = Field(0, ge=0)

    @field_validator("patch_size")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % 32:
            raise ValueError("must be a multiple of 32 (the encoder downsamples 5 times)")
        return value


class EvaluateCdParams(StrictModel):
    tile_size: int = Field(256, ge=32)  # sliding-window side over whole test images
    threshold: float = Field(0.5, gt=0, lt=1)  # change probability threshold
    n_examples: int = Field(4, ge=0)  # test tiles in the before/after/truth/prediction grid


class EvaluateParams(StrictModel):
    # `evaluate.register` in params.yaml (the attribute name avoids shadowing pydantic's ABC
    # `register`): register the CD and NVS models in the MLflow model registry.
    register_models: bool = Field(False, alias="register")
    cd: EvaluateCdParams = EvaluateCdParams()
    nvs: EvaluateNvsParams = EvaluateNvsParams()


class PrepareStage(StrictModel):
    seed: int = Field(ge=0)
    prepare: PrepareParams


class TrainCdStage(StrictModel):
    seed: int = Field(ge=0)
    lr: float = Field(gt=0, le=1)
    train_cd: TrainCdParams


class TrainNvsStage(StrictModel):
    seed: int = Field(ge=0)
    train_nvs: TrainNvsParams


class EvaluateStage(StrictModel):
    evaluate: EvaluateParams


STAGES: dict[str, type[StrictModel]] = {
    "prepare": PrepareStage,
    "train_cd": TrainCdStage,
    "train_nvs": TrainNvsStage,
    "evaluate": EvaluateStage,
}


def read_params_file(path: str | Path = "params.yaml") -> dict[str, Any]:
    from ruamel.yaml import YAML, YAMLError

    path = Path(path)
    try:
        with open(path) as fh:
            data = YAML(typ="safe").load(fh)
    except FileNotFoundError as err:
        raise ParamsError(f"{path}: not found") from err
    except YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: top level must be a mapping")
    return data


def _format(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid parameters"]
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"])
        value = item.get("input")
        lines.append(f"  {key}: {item['msg']} (got {value!r})")
    return "\n".join(lines)


def load_stage_params(stage: str, path: str | Path = "params.yaml") -> StrictModel:
    """Validate the part of params.yaml that `stage` reads (other stages' groups are ignored)."""
    model = STAGES[stage]
    data = read_params_file(path)
    subset = {key: data[key] for key in model.model_fields if key in data}
    try:
        return model.model_validate(subset)
    except ValidationError as err:
        raise ParamsError(_format(err, Path(path))) from None
