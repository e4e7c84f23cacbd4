"""Train the change-detection task with Lightning; checkpoints chosen on validation F1."""

from __future__ import annotations

import time
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from mlstack.data.cd_datamodule import ChangeDataModule
from mlstack.models.cd import VAL_F1, build_task
from mlstack.training.callbacks import EpochMetrics, PortableModelCheckpoint
from mlstack.training.checkpoint_io import AtomicCheckpointIO
from mlstack.training.determinism import make_deterministic

PLOT_COLUMNS = {
    "val_loss": "val_loss",
    "val_f1": VAL_F1,
    "val_iou": "val_BinaryJaccardIndex",
}


def _trainer(params, model_dir: Path, plots_csv: Path, run) -> pl.Trainer:
    checkpoint = PortableModelCheckpoint(
        dirpath=model_dir, filename="best", monitor=VAL_F1, mode="max", save_last=True,
        enable_version_counter=False,
    )
    callbacks = [
        checkpoint,
        EarlyStopping(monitor=VAL_F1, mode="max", patience=params.patience),
        EpochMetrics(plots_csv, PLOT_COLUMNS, run),
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


def train_cd(params, seed: int, lr: float, data_dir: Path, model_dir: Path, plots_csv: Path,
             run=None) -> dict:
    """Fit on data_dir; write best.ckpt/last.ckpt into model_dir; return summary metrics."""
    make_deterministic(seed)
    datamodule = ChangeDataModule(data_dir, params.batch_size, params.patch_size, params.num_workers)
    task = build_task(params, lr)
    trainer = _trainer(params, model_dir, plots_csv, run)
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule)
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_score
    return {
        "best_val_f1": float(best) if best is not None else float("nan"),
        "epochs": trainer.current_epoch,
        "train_seconds": round(time.perf_counter() - start, 2),
        "best_checkpoint": Path(checkpoint.best_model_path).name,
    }
