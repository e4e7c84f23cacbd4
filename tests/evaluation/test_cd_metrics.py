"""Metric maths against hand-computed confusion matrices."""

import pytest
import torch

from mlstack.evaluation.cd_metrics import Confusion, change_metrics


def test_counts_from_tensors():
    pred = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    truth = torch.tensor([[1, 0, 1, 0], [1, 0, 0, 0]])
    c = Confusion()
    c.update(pred, truth)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 4)
    assert c.as_matrix() == [[4, 1], [1, 2]]


def test_hand_computed_example():
    # tp=30 fp=10 fn=20 tn=940 (n=1000)
    m = change_metrics(Confusion(tp=30, fp=10, fn=20, tn=940))
    assert m["precision"] == pytest.approx(30 / 40)
    assert m["recall"] == pytest.approx(30 / 50)
    assert m["f1"] == pytest.approx(2 * 30 / (60 + 10 + 20))
    assert m["iou"] == pytest.approx(30 / 60)
    assert m["overall_accuracy"] == pytest.approx(0.97)
    # p_o = 0.97; p_e = (40*50 + 960*950) / 1000^2 = 0.914
    assert m["kappa"] == pytest.approx((0.97 - 0.914) / (1 - 0.914))


def test_perfect_and_inverted_predictions():
    perfect = change_metrics(Confusion(tp=5, fp=0, fn=0, tn=95))
    assert perfect["f1"] == perfect["iou"] == perfect["kappa"] == 1.0
    inverted = change_metrics(Confusion(tp=0, fp=95, fn=5, tn=0))
    assert inverted["f1"] == 0.0 and inverted["kappa"] < 0


def test_no_change_anywhere_is_not_a_division_error():
    m = change_metrics(Confusion(tp=0, fp=0, fn=0, tn=100))
    assert m["f1"] == 0.0 and m["overall_accuracy"] == 1.0 and m["kappa"] == 0.0


def test_accumulation_equals_one_global_matrix():
    torch.manual_seed(0)
    pred, truth = torch.rand(4, 8, 8) > 0.5, torch.rand(4, 8, 8) > 0.7
    tiled, whole = Confusion(), Confusion()
    for p, t in zip(pred, truth):
        tiled.update(p, t)
    whole.update(pred, truth)
    assert change_metrics(tiled) == change_metrics(whole)
