"""One place that makes a run repeatable: seeds, deterministic kernels, cuDNN flags."""

from __future__ import annotations

import os

import torch


def make_deterministic(seed: int) -> None:
    """Seed Python/NumPy/torch (and dataloader workers) and pick deterministic kernels."""
    from lightning.pytorch import seed_everything

    # cuBLAS needs this workspace setting for deterministic GEMMs on CUDA.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    seed_everything(seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
