"""The change-detection model: TorchGeo's ChangeDetectionTask, selected on validation F1."""

from __future__ import annotations

from pathlib import Path

import torch
from torchgeo.trainers import ChangeDetectionTask

VAL_F1 = "val_BinaryF1Score"


class ChangeTask(ChangeDetectionTask):
    """ChangeDetectionTask whose checkpointing follows validation F1, with a cosine LR decay.

    TorchGeo's default monitors val_loss with ReduceLROnPlateau; for a rare change class F1
    is what we select on, and on a short CPU budget a cosine decay over the run settles the
    weights where plateau detection would not have fired yet.
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
        epochs = max(1, self.trainer.max_epochs or 1)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=lr_floor(self.hparams["lr"]))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def lr_floor(lr: float) -> float:
    return lr * 0.02


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
    if "state_dict" in state:  # a Lightning checkpoint: keep the network, drop loss buffers
        state = {k.removeprefix("model."): v for k, v in state["state_dict"].items()
                 if k.startswith("model.")}
    missing, unexpected = task.model.load_state_dict(state, strict=False)
    if unexpected or len(missing) == len(task.model.state_dict()):
        raise ValueError(f"train_cd.init_checkpoint: {path} does not fit model "
                         f"{task.hparams['model']}/{task.hparams['backbone']}")


def load_trained(path: Path) -> ChangeTask:
    return ChangeTask.load_from_checkpoint(path, map_location="cpu", weights_only=False)
