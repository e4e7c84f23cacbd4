"""The change-detection model: TorchGeo's ChangeDetectionTask, selected on validation F1."""

from __future__ import annotations

from pathlib import Path

import torch
from torchgeo.trainers import ChangeDetectionTask

VAL_F1 = "val_BinaryF1Score"


class ChangeTask(ChangeDetectionTask):
    """ChangeDetectionTask whose LR schedule and checkpointing follow validation F1.

    TorchGeo's default monitors val_loss; for a rare change class, F1 is what we select on.
    """

    monitor = VAL_F1
    mode = "max"

    def __init__(self, *, weight_decay: float = 0.0, **kwargs) -> None:
        # Lightning's save_hyperparameters collects weight_decay from this frame too.
        super().__init__(**kwargs)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"]
        )
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=self.hparams["patience"]
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": VAL_F1}}


def build_task(params, lr: float) -> ChangeTask:
    """A randomly initialised task; never downloads weights."""
    task = ChangeTask(
        model=params.model,
        backbone=params.backbone,
        weights=None,
        in_channels=3,
        task="binary",
        loss=params.loss,
        pos_weight=torch.tensor([params.pos_weight]),
        lr=lr,
        patience=max(1, params.patience // 2),
        weight_decay=params.weight_decay,
    )
    if params.init_checkpoint:
        load_init_checkpoint(task, Path(params.init_checkpoint))
    return task


def load_init_checkpoint(task: ChangeTask, path: Path) -> None:
    """Initialise from a local file: a Lightning checkpoint or a plain model state dict."""
    if not path.is_file():
        raise FileNotFoundError(f"train_cd.init_checkpoint: {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    # Lightning checkpoints prefix the model's keys with "model."
    state = {k.removeprefix("model."): v for k, v in state.items()}
    missing, unexpected = task.model.load_state_dict(state, strict=False)
    if unexpected or len(missing) == len(task.model.state_dict()):
        raise ValueError(f"train_cd.init_checkpoint: {path} does not fit model "
                         f"{task.hparams['model']}/{task.hparams['backbone']}")


def load_trained(path: Path) -> ChangeTask:
    return ChangeTask.load_from_checkpoint(path, map_location="cpu", weights_only=False)
