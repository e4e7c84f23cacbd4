"""Figures people would rather look at than read: prediction grids and confusion matrices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mlstack.utils.io import atomic_path  # noqa: E402


def _error_overlay(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """White = hit, red = false alarm, blue = miss, black = correct no-change."""
    out = np.zeros((*truth.shape, 3), np.uint8)
    out[truth & pred] = (255, 255, 255)
    out[~truth & pred] = (230, 40, 40)
    out[truth & ~pred] = (40, 90, 230)
    return out


def prediction_grid(examples, path: Path) -> None:
    """Rows of before | after | truth | prediction (coloured by hit/false alarm/miss)."""
    rows = max(len(examples), 1)
    fig, axes = plt.subplots(rows, 4, figsize=(12, 3 * rows), squeeze=False)
    for row, (name, a, b, truth, pred) in zip(axes, examples):
        panels = [(a, f"{name} before"), (b, "after"), (truth, "truth"),
                  (_error_overlay(truth, pred), "prediction (red FP, blue FN)")]
        for ax, (img, title) in zip(row, panels):
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    _save(fig, path)


def confusion_figure(matrix: list[list[int]], path: Path, title: str) -> None:
    m = np.array(matrix, dtype=float)
    share = m / max(m.sum(), 1)
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(share, cmap="Blues")
    for (i, j), value in np.ndenumerate(m):
        ax.text(j, i, f"{int(value):,}\n{share[i, j]:.2%}", ha="center", va="center",
                color="black" if share[i, j] < 0.5 else "white", fontsize=9)
    ax.set_xticks([0, 1], ["no change", "change"])
    ax.set_yticks([0, 1], ["no change", "change"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
