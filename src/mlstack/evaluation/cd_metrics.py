"""Binary change-detection metrics from one global confusion matrix.

Every metric is for the *change* class and is computed from the summed counts over the
whole test set (not averaged per tile), which is how LEVIR-CD results are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def update(self, pred: torch.Tensor, truth: torch.Tensor) -> None:
        """Add the counts of boolean tensors of the same shape."""
        pred, truth = pred.bool(), truth.bool()
        self.tp += int((pred & truth).sum())
        self.fp += int((pred & ~truth).sum())
        self.fn += int((~pred & truth).sum())
        self.tn += int((~pred & ~truth).sum())

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def as_matrix(self) -> list[list[int]]:
        """Rows are the truth (no change, change), columns the prediction."""
        return [[self.tn, self.fp], [self.fn, self.tp]]


def _ratio(num: float, den: float) -> float:
    # An empty denominator means the quantity is undefined; 0 is the conservative report.
    return num / den if den else 0.0


def change_metrics(c: Confusion) -> dict[str, float]:
    precision = _ratio(c.tp, c.tp + c.fp)
    recall = _ratio(c.tp, c.tp + c.fn)
    n = c.total
    accuracy = _ratio(c.tp + c.tn, n)
    # Cohen's kappa: agreement beyond what the marginals give by chance.
    expected = _ratio((c.tp + c.fp) * (c.tp + c.fn) + (c.fn + c.tn) * (c.fp + c.tn), n * n)
    kappa = _ratio(accuracy - expected, 1 - expected) if expected < 1 else 0.0
    return {
        "f1": _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
        "iou": _ratio(c.tp, c.tp + c.fp + c.fn),
        "precision": precision,
        "recall": recall,
        "overall_accuracy": accuracy,
        "kappa": kappa,
    }
