"""Callbacks that turn Lightning's epoch metrics into DVC plots and MLflow metrics."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import os

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from mlstack.utils.io import atomic_write_text


class EpochMetrics(pl.Callback):
    """After each epoch (validation included), append a row to a CSV and log it to MLflow.

    The CSV is rewritten whole and atomically each epoch, so `dvc plots` never sees a torn file.
    """

    def __init__(self, csv_path: Path, keys: dict[str, str], run=None) -> None:
        self.csv_path = Path(csv_path)
        self.keys = keys  # column name -> Lightning metric name
        self.run = run
        self.rows: list[dict[str, float]] = []
        self._losses: list[float] = []

    def state_dict(self) -> dict:
        # Saved in checkpoints so a resumed run's CSV keeps the epochs before the interruption.
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = list(state_dict.get("rows", []))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self._losses.append(float(loss.detach()))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        row = {"epoch": trainer.current_epoch}
        if self._losses:
            row["train_loss"] = sum(self._losses) / len(self._losses)
        self._losses = []
        for column, metric in self.keys.items():
            value = trainer.callback_metrics.get(metric)
            if value is not None:
                row[column] = float(value.item() if isinstance(value, torch.Tensor) else value)
        row["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        self.rows.append(row)
        self._write()
        if self.run is not None:
            self.run.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])

    def _write(self) -> None:
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.csv_path, buffer.getvalue())


class PortableModelCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose saved state holds paths relative to its folder.

    Lightning stores absolute paths (dirpath, best_model_path, ...) inside every checkpoint,
    so the same training in a `dvc exp run --temp` copy or a reproduction worktree would
    give a checkpoint with different bytes, hence a different DVC hash. Relative paths keep
    the bytes (and models/cd's md5) a function of seed, data and params only.
    """

    _PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")

    def state_dict(self):
        state = super().state_dict()
        root = str(self.dirpath)
        state["dirpath"] = "."
        for key in self._PATH_KEYS:
            if state.get(key):
                state[key] = os.path.relpath(state[key], root)
        state["best_k_models"] = {os.path.relpath(k, root): v
                                  for k, v in state.get("best_k_models", {}).items()}
        return state

    def load_state_dict(self, state_dict):
        root = str(self.dirpath)
        state = dict(state_dict)
        if state.get("dirpath") == ".":
            state["dirpath"] = root
            for key in self._PATH_KEYS:
                if state.get(key):
                    state[key] = os.path.join(root, state[key])
            state["best_k_models"] = {os.path.join(root, k): v
                                      for k, v in state.get("best_k_models", {}).items()}
        super().load_state_dict(state)


class ResumeState(pl.Callback):
    """Puts what a bit-identical resume needs into every checkpoint, and restores it.

    The fingerprint (params, seed, data and code hashes) says whether a checkpoint left by an
    interrupted run belongs to this run. The RNG states make the resumed epochs draw the
    same shuffles and crops as an uninterrupted run would have.
    """

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def state_dict(self) -> dict:
        import random

        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state()
        # Only tensors and plain Python values: Lightning resumes with torch.load(weights_only).
        numpy_state = (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                       float(cached))
        return {"fingerprint": self.fingerprint, "torch": torch.get_rng_state(),
                "numpy": numpy_state, "python": random.getstate()}

    def load_state_dict(self, state_dict: dict) -> None:
        import random

        import numpy as np

        torch.set_rng_state(state_dict["torch"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        random.setstate(state_dict["python"])
