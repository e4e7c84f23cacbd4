"""The training augmentation keeps both dates and the mask aligned (see README pitfall)."""

import torch

from mlstack.data.cd_datamodule import ChangeDataModule, random_crop_dihedral
from mlstack.data.cd_prepare import channel_stats
from mlstack.data.cd_synthetic import write_levircd_layout
from mlstack.utils.io import atomic_write_json


def test_crop_and_dihedral_are_shared_by_dates_and_mask():
    torch.manual_seed(0)
    image = torch.rand(6, 2, 3, 64, 64)
    # The mask is a function of the image, so any misalignment shows up as disagreement.
    mask = (image[:, 1, :1] > 0.5).long()
    out_image, out_mask = random_crop_dihedral(image, mask, 32)
    assert out_image.shape == (6, 2, 3, 32, 32) and out_mask.shape == (6, 1, 32, 32)
    assert torch.equal((out_image[:, 1, :1] > 0.5).long(), out_mask)


def test_datamodule_batches_are_aligned_and_normalised(tmp_path):
    write_levircd_layout(tmp_path, seed=1, counts={"train": 4, "val": 1, "test": 1}, size=64)
    atomic_write_json(tmp_path / "stats.json", channel_stats(tmp_path))
    dm = ChangeDataModule(tmp_path, batch_size=4, patch_size=32, num_workers=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    raw = batch["image"].clone()
    batch["mask"] = (raw[:, 1, :1] > 128.5).long()

    class _Training:
        training = True

    dm.trainer = _Training()
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["image"].shape == (4, 2, 3, 32, 32)
    restored = out["image"] * dm.std[None, None, :, None, None] + dm.mean[None, None, :, None, None]
    assert torch.equal((restored[:, 1, :1] > 128.5).long(), out["mask"])
    assert abs(float(out["image"].mean())) < 1.0
