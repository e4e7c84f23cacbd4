"""Train the change-detection task with Lightning; checkpoints chosen on validation F1."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import torch

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from mlstack.data.cd_datamodule import ChangeDataModule
from mlstack.models.cd import VAL_F1, build_task
from mlstack.training.callbacks import EpochMetrics, PortableModelCheckpoint, ResumeState
from mlstack.training.checkpoint_io import AtomicCheckpointIO
from mlstack.training.determinism import make_deterministic

PLOT_COLUMNS = {
    "val_loss": "val_loss",
    "val_f1": VAL_F1,
    "val_iou": "val_BinaryJaccardIndex",
}


def _trainer(params, model_dir: Path, plots_csv: Path, run, fingerprint: str,
             extra_callbacks=()) -> pl.Trainer:
    checkpoint = PortableModelCheckpoint(
        dirpath=model_dir, filename="best", monitor=VAL_F1, mode="max", save_last=True,
        enable_version_counter=False,
    )
    callbacks = [
        checkpoint,
        EarlyStopping(monitor=VAL_F1, mode="max", patience=params.patience),
        EpochMetrics(plots_csv, PLOT_COLUMNS, run),
        ResumeState(fingerprint),
        *extra_callbacks,
    ]
    return pl.Trainer(
        accelerator=params.accelerator,
        devices=params.devices,
        num_nodes=params.num_nodes,
        strategy=params.strategy,
        precision=params.precision,
        max_epochs=params.max_epochs,
        limit_train_batches=params.limit_train_batches,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=False,
        deterministic=True,
        log_every_n_steps=1,
        enable_model_summary=False,
        default_root_dir=model_dir,
    )


def run_fingerprint(params, seed: int, lr: float, data_dir: Path) -> str:
    """Everything that determines the training: a checkpoint from another run never resumes."""
    from mlstack.tracking.lineage import dvc_md5, package_source_md5

    text = json.dumps({"params": params.model_dump(), "seed": seed, "lr": lr,
                       "data": dvc_md5(data_dir), "code": package_source_md5()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resumable_checkpoint(model_dir: Path, fingerprint: str) -> Path | None:
    """last.ckpt of an interrupted run with the same fingerprint; stale files are cleared.

    models/cd is a DVC `persist` out, so it survives an interrupted run for us to resume,
    but also keeps the files of a finished run with other params: those must not leak in.
    """
    last = model_dir / "last.ckpt"
    if last.is_file():
        try:
            ckpt = torch.load(last, map_location="cpu", weights_only=False)
            states = ckpt.get("callbacks", {})
            if any(isinstance(v, dict) and v.get("fingerprint") == fingerprint for v in states.values()):
                return last
        except Exception:  # noqa: BLE001 - unreadable: start afresh
            pass
    if model_dir.exists():
        shutil.rmtree(model_dir)
    return None


def train_cd(params, seed: int, lr: float, data_dir: Path, model_dir: Path, plots_csv: Path,
             run=None, extra_callbacks=()) -> dict:
    """Fit on data_dir; write best.ckpt/last.ckpt into model_dir; return summary metrics."""
    make_deterministic(seed)
    datamodule = ChangeDataModule(data_dir, params.batch_size, params.patch_size, params.num_workers)
    task = build_task(params, lr)
    fingerprint = run_fingerprint(params, seed, lr, data_dir)
    resume = resumable_checkpoint(model_dir, fingerprint)
    trainer = _trainer(params, model_dir, plots_csv, run, fingerprint, extra_callbacks)
    start = time.perf_counter()
    if resume:
        print(f"resuming train_cd from {resume}", file=sys.stderr)
    trainer.fit(task, datamodule=datamodule, ckpt_path=resume)
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_score
    return {
        "best_val_f1": float(best) if best is not None else float("nan"),
        "epochs": trainer.current_epoch,
        "train_seconds": round(time.perf_counter() - start, 2),
        "best_checkpoint": Path(checkpoint.best_model_path).name,
    }
