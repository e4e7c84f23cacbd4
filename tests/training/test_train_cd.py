"""train_cd on a tiny dataset: a real model comes out, and the same seed gives the same metrics."""

import pytest
import torch

from mlstack.data.cd_prepare import prepare_cd
from mlstack.evaluation.cd import evaluate_cd
from mlstack.models.cd import load_init_checkpoint, build_task, load_trained
from mlstack.params import EvaluateCdParams, PrepareCdParams, TrainCdParams
from mlstack.training.cd import train_cd

pytestmark = pytest.mark.slow

TINY = TrainCdParams(batch_size=2, patch_size=64, max_epochs=2)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cd")
    prepare_cd(PrepareCdParams(tile_size=64, n_train=4, n_val=2, n_test=2), seed=0, out=out)
    return out


def _train(data_dir, out, seed=0):
    return train_cd(TINY, seed, 1e-3, data_dir, out / "models", out / "plots.csv")


def test_same_seed_same_metrics(data_dir, tmp_path):
    a = _train(data_dir, tmp_path / "a")
    b = _train(data_dir, tmp_path / "b")
    a.pop("train_seconds"), b.pop("train_seconds")
    assert a == b
    sa = torch.load(tmp_path / "a/models/best.ckpt", weights_only=False)["state_dict"]
    sb = torch.load(tmp_path / "b/models/best.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ea = evaluate_cd(EvaluateCdParams(tile_size=64), data_dir, tmp_path / "a/models/best.ckpt")
    eb = evaluate_cd(EvaluateCdParams(tile_size=64), data_dir, tmp_path / "b/models/best.ckpt")
    assert ea["metrics"] == eb["metrics"]


def test_outputs_and_plot_rows(data_dir, tmp_path):
    summary = _train(data_dir, tmp_path)
    assert summary["epochs"] == 2 and summary["best_checkpoint"] == "best.ckpt"
    rows = (tmp_path / "plots.csv").read_text().splitlines()
    assert rows[0].split(",")[:5] == ["epoch", "train_loss", "val_loss", "val_f1", "val_iou"]
    assert len(rows) == 1 + 2
    task = load_trained(tmp_path / "models/best.ckpt")
    assert task.hparams["model"] == "fcsiamdiff"
    # A trained checkpoint can initialise a new run (train_cd.init_checkpoint).
    fresh = build_task(TINY, 1e-3)
    load_init_checkpoint(fresh, tmp_path / "models/best.ckpt")
    key = next(iter(task.model.state_dict()))
    assert torch.equal(fresh.model.state_dict()[key], task.model.state_dict()[key])


def test_init_checkpoint_that_does_not_fit(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"something.else": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="does not fit"):
        load_init_checkpoint(build_task(TINY, 1e-3), path)
