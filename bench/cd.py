"""train_cd throughput against a bare PyTorch loop, and the loader against the train step.

Both sides use the same FCSiamDiff/ResNet-18, batch, crop, data, thread count and
deterministic-kernel setting; the only difference is the machinery around the step
(Lightning Trainer, TorchGeo's ChangeDetectionTask with its torchmetrics, our callbacks,
the progress bar). Epoch 0 of every run is a warm-up; epoch 1 is measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import torch

from bench.common import Row, paired, quiet
from mlstack.data.cd_datamodule import ChangeDataModule
from mlstack.data.cd_prepare import prepare_cd
from mlstack.models.cd import build_task
from mlstack.params import PrepareCdParams, TrainCdParams
from mlstack.training.cd import train_cd
from mlstack.training.determinism import make_deterministic

SEED = 0
LR = 2e-3
MEASURED_EPOCH = 1  # epoch 0 warms up allocators and kernels


@dataclass(frozen=True)
class CdSizes:
    tile_size: int = 128
    n_train: int = 96  # 12 steps per epoch at the project's batch of 8
    batch_size: int = 8
    patch_size: int = 64
    repeats: int = 5


QUICK = CdSizes(tile_size=64, n_train=8, batch_size=4, patch_size=64, repeats=2)


def make_dataset(out: Path, sizes: CdSizes) -> Path:
    prepare_cd(PrepareCdParams(tile_size=sizes.tile_size, n_train=sizes.n_train, n_val=2,
                               n_test=1), seed=SEED, out=out)
    return out


def train_params(sizes: CdSizes) -> TrainCdParams:
    return TrainCdParams(batch_size=sizes.batch_size, patch_size=sizes.patch_size,
                         max_epochs=MEASURED_EPOCH + 1, accelerator="cpu", devices=1)


class EpochClock(pl.Callback):
    """Samples and wall seconds of each training epoch's batches (validation excluded)."""

    def __init__(self) -> None:
        self.epochs: list[tuple[int, float]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start, self._samples = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._samples += len(batch["image"])
        self._last = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.epochs.append((self._samples, self._last - self._start))


def ours_samples_per_s(data_dir: Path, work: Path, sizes: CdSizes) -> float:
    """The real train_cd path (the one stages/train_cd.py calls), timed from a callback."""
    clock = EpochClock()
    with quiet():
        train_cd(train_params(sizes), SEED, LR, data_dir, work / "models", work / "plots.csv",
                 extra_callbacks=[clock])
    samples, seconds = clock.epochs[MEASURED_EPOCH]
    return samples / seconds


def training_datamodule(data_dir: Path, sizes: CdSizes) -> ChangeDataModule:
    """ChangeDataModule outside a Trainer, applying its *training* augmentation."""
    datamodule = ChangeDataModule(data_dir, sizes.batch_size, sizes.patch_size, num_workers=0)
    datamodule.setup("fit")
    # on_after_batch_transfer picks train_aug + the crop/dihedral when trainer.training.
    datamodule.trainer = SimpleNamespace(training=True)
    return datamodule


def training_batches(datamodule: ChangeDataModule):
    for batch in datamodule.train_dataloader():
        yield datamodule.on_after_batch_transfer(batch, 0)


class BareStep:
    """forward + BCE(pos_weight) + backward + AdamW on the same network, nothing else."""

    def __init__(self, sizes: CdSizes) -> None:
        params = train_params(sizes)
        self.model = build_task(params, LR).model.train()
        self.loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([params.pos_weight]))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR,
                                           weight_decay=params.weight_decay)

    def __call__(self, batch: dict) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(batch["image"]), batch["mask"].float())
        loss.backward()
        self.optimizer.step()


def bare_samples_per_s(data_dir: Path, sizes: CdSizes) -> float:
    make_deterministic(SEED)  # the same kernels as train_cd selects
    datamodule, step = training_datamodule(data_dir, sizes), BareStep(sizes)
    for epoch in range(MEASURED_EPOCH + 1):
        start, samples = time.perf_counter(), 0
        for batch in training_batches(datamodule):
            step(batch)
            samples += len(batch["image"])
        seconds = time.perf_counter() - start
    return samples / seconds


def bench_train_cd(data_dir: Path, work: Path, sizes: CdSizes) -> Row:
    runs = iter(range(10**6))
    ours, bare, ratio = paired(
        lambda: ours_samples_per_s(data_dir, work / f"run{next(runs)}", sizes),
        lambda: bare_samples_per_s(data_dir, sizes),
        repeats=sizes.repeats, warmup=0)
    return Row("train_cd", "Lightning+TorchGeo train_cd vs bare PyTorch loop (samples/s)",
               "samples/s", ours, bare, ratio, ">= 0.9", sizes.repeats,
               note=f"batch {sizes.batch_size}, crop {sizes.patch_size}, "
                    f"{torch.get_num_threads()} threads")


def loader_samples_per_s(datamodule: ChangeDataModule) -> float:
    start, samples = time.perf_counter(), 0
    for batch in training_batches(datamodule):
        samples += len(batch["image"])
    return samples / (time.perf_counter() - start)


def step_samples_per_s(step: BareStep, batches: list[dict]) -> float:
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    return sum(len(b["image"]) for b in batches) / (time.perf_counter() - start)


def bench_dataloader(data_dir: Path, sizes: CdSizes) -> Row:
    """Loading+augmenting alone vs the train step alone on already-loaded batches."""
    make_deterministic(SEED)
    datamodule, step = training_datamodule(data_dir, sizes), BareStep(sizes)
    batches = list(training_batches(datamodule))
    repeats = max(3, sizes.repeats)
    loader, train, ratio = paired(lambda: loader_samples_per_s(datamodule),
                                  lambda: step_samples_per_s(step, batches), repeats=repeats)
    return Row("cd_dataloader", "ChangeDataModule train loader vs train-step consumption "
               "(samples/s)", "samples/s", loader, train, ratio, ">= 1", repeats,
               note="num_workers=0: loading is serial with the step, so this ratio is the "
                    "headroom before the loader would limit training")
