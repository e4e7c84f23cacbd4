"""train_cd on a tiny dataset: a real model comes out, and the same seed gives the same metrics."""

import lightning.pytorch as pl
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


class _Interrupt(Exception):
    pass


class _StopAfterEpoch:
    """A Lightning callback that kills training after a given epoch (like a pre-emption)."""

    def __new__(cls, epoch):
        import lightning.pytorch as pl

        class Stop(pl.Callback):
            def on_train_epoch_end(self, trainer, pl_module):
                if trainer.current_epoch == epoch:
                    raise _Interrupt(f"interrupted after epoch {epoch}")

        return Stop()


def test_interrupted_training_resumes_to_the_same_result(data_dir, tmp_path):
    params = TrainCdParams(batch_size=2, patch_size=64, max_epochs=3)
    whole = train_cd(params, 0, 1e-3, data_dir, tmp_path / "a/models", tmp_path / "a/p.csv")
    with pytest.raises(_Interrupt):
        train_cd(params, 0, 1e-3, data_dir, tmp_path / "b/models", tmp_path / "b/p.csv",
                 extra_callbacks=[_StopAfterEpoch(1)])
    assert (tmp_path / "b/models/last.ckpt").is_file()
    epochs_run = _EpochCounter()
    resumed = train_cd(params, 0, 1e-3, data_dir, tmp_path / "b/models", tmp_path / "b/p.csv",
                       extra_callbacks=[epochs_run])
    assert epochs_run.started == [1, 2]  # resumed after epoch 0, the last one checkpointed
    whole.pop("train_seconds"), resumed.pop("train_seconds")
    assert resumed == whole
    a = torch.load(tmp_path / "a/models/best.ckpt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "b/models/best.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a/p.csv").read_text() == (tmp_path / "b/p.csv").read_text()


def test_checkpoint_of_other_code_is_not_resumed(data_dir, tmp_path, monkeypatch):
    """Same params, seed and data but edited sources: the interrupted run's checkpoint
    must not be resumed, or a repro after a code change would finish the old code's run."""
    from mlstack.tracking import lineage

    params = TrainCdParams(batch_size=2, patch_size=64, max_epochs=3)
    with pytest.raises(_Interrupt):
        train_cd(params, 0, 1e-3, data_dir, tmp_path / "models", tmp_path / "p.csv",
                 extra_callbacks=[_StopAfterEpoch(1)])
    monkeypatch.setattr(lineage, "package_source_md5", lambda: "hash-of-edited-sources")
    epochs_run = _EpochCounter()
    summary = train_cd(params, 0, 1e-3, data_dir, tmp_path / "models", tmp_path / "p.csv",
                       extra_callbacks=[epochs_run])
    assert summary["epochs"] == 3
    assert epochs_run.started == [0, 1, 2]  # from scratch, not from the stale epoch


class _EpochCounter(pl.Callback):
    def __init__(self) -> None:
        self.started: list[int] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.started.append(trainer.current_epoch)


def test_checkpoint_of_other_params_is_not_resumed(data_dir, tmp_path):
    first = TrainCdParams(batch_size=2, patch_size=64, max_epochs=1)
    train_cd(first, 0, 1e-3, data_dir, tmp_path / "models", tmp_path / "p.csv")
    other = TrainCdParams(batch_size=2, patch_size=64, max_epochs=2)
    epochs_run = _EpochCounter()
    summary = train_cd(other, 0, 5e-4, data_dir, tmp_path / "models", tmp_path / "p.csv",
                       extra_callbacks=[epochs_run])
    assert epochs_run.started == [0, 1]  # from scratch: the 1-epoch checkpoint was not resumed
    assert summary["epochs"] == 2
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 1 + 2
