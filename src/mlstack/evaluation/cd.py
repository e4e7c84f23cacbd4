"""Score the CD model on whole test images with a sliding window, plus a no-learning baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchmetrics.classification import BinaryPrecisionRecallCurve

from mlstack.data.cd_datamodule import load_stats
from mlstack.data.cd_prepare import _open_mask, _open_rgb, split_names
from mlstack.evaluation.cd_metrics import Confusion, change_metrics
from mlstack.models.cd import load_trained

PR_THRESHOLDS = 21


def load_pair(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = _open_rgb(data_dir / "A" / name)
    b = _open_rgb(data_dir / "B" / name)
    mask = _open_mask(data_dir / "label" / name) > 0
    return a, b, mask


def _to_input(a: np.ndarray, b: np.ndarray, mean, std) -> torch.Tensor:
    """(H, W, 3) uint8 pair -> normalised (1, 2, 3, H, W) float tensor."""
    pair = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2).float()
    return ((pair - mean[:, None, None]) / std[:, None, None]).unsqueeze(0)


@torch.no_grad()
def predict_probability(model, pair: torch.Tensor, tile: int) -> torch.Tensor:
    """Change probability (H, W) over a whole image, tile by tile (no centre crop).

    Borders are reflect-padded up to a multiple of the tile (and of 32, which the encoder
    needs), so every pixel is predicted exactly once.
    """
    _, _, _, h, w = pair.shape
    step = min(tile, max(h, w))
    step = -(-step // 32) * 32
    ph, pw = -(-h // step) * step, -(-w // step) * step
    flat = pair.flatten(1, 2)
    flat = F.pad(flat, (0, pw - w, 0, ph - h), mode="reflect" if min(h, w) > 1 else "constant")
    padded = flat.unflatten(1, (2, 3))
    out = torch.zeros(ph, pw)
    for y in range(0, ph, step):
        for x in range(0, pw, step):
            window = padded[..., y : y + step, x : x + step]
            out[y : y + step, x : x + step] = model(window).sigmoid()[0, 0]
    return out[:h, :w]


def difference_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """No-learning baseline score: mean absolute RGB difference after per-image standardisation."""
    def standardise(img):
        img = img.astype(np.float32)
        return (img - img.mean((0, 1))) / (img.std((0, 1)) + 1e-6)

    return np.abs(standardise(a) - standardise(b)).mean(-1)


DIFF_SCALE = 4.0  # standardised differences above this are "certainly changed"


def best_baseline_threshold(data_dir: Path) -> float:
    """The difference threshold with the best F1 on the validation split (fair to the baseline)."""
    curve = BinaryPrecisionRecallCurve(thresholds=torch.linspace(0, 1, 101))
    for name in split_names(data_dir, "val"):
        a, b, mask = load_pair(data_dir, name)
        score = torch.from_numpy(difference_map(a, b) / DIFF_SCALE).clamp(0, 1)
        curve.update(score, torch.from_numpy(mask).long())
    precision, recall, thresholds = curve.compute()
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    return float(thresholds[f1[: len(thresholds)].argmax()]) * DIFF_SCALE


def evaluate_cd(params, data_dir: Path, checkpoint: Path) -> dict:
    """Return metrics, baseline metrics, PR curve rows and a few example tiles."""
    model = load_trained(checkpoint).model.eval()
    mean, std = load_stats(data_dir)
    confusion, baseline = Confusion(), Confusion()
    curve = BinaryPrecisionRecallCurve(thresholds=PR_THRESHOLDS)
    threshold_baseline = best_baseline_threshold(data_dir)
    examples = []
    for index, name in enumerate(split_names(data_dir, "test")):
        a, b, mask = load_pair(data_dir, name)
        prob = predict_probability(model, _to_input(a, b, mean, std), params.tile_size)
        truth = torch.from_numpy(mask)
        confusion.update(prob >= params.threshold, truth)
        curve.update(prob, truth.long())
        baseline.update(torch.from_numpy(difference_map(a, b) >= threshold_baseline), truth)
        if index < params.n_examples:
            examples.append((name, a, b, mask, (prob >= params.threshold).numpy()))
    precision, recall, thresholds = curve.compute()
    pr_rows = [
        {"threshold": round(float(t), 4), "precision": float(p), "recall": float(r)}
        for p, r, t in zip(precision[:-1], recall[:-1], thresholds)
    ]
    return {
        "metrics": change_metrics(confusion),
        "confusion": confusion,
        "baseline": {**change_metrics(baseline), "threshold": threshold_baseline},
        "pr_curve": pr_rows,
        "examples": examples,
    }


def save_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path)
