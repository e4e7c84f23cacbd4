"""TorchGeo's LEVIR-CD datamodule on our processed folder, normalised with its own stats."""

from __future__ import annotations

import json
from pathlib import Path

import kornia.augmentation as K
import torch
from torchgeo.datamodules import LEVIRCDDataModule


def load_stats(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    stats = json.loads((Path(data_dir) / "stats.json").read_text())
    return torch.tensor(stats["mean"]), torch.tensor(stats["std"])


class ChangeDataModule(LEVIRCDDataModule):
    """LEVIRCDDataModule with dataset statistics, flips/rot90 for training, whole-tile eval.

    Validation and test see whole tiles (not TorchGeo's default centre crop), so the
    checkpoint is chosen on what evaluate will measure.
    """

    def __init__(self, data_dir: Path, batch_size: int, patch_size: int, num_workers: int):
        self.mean, self.std = load_stats(data_dir)
        super().__init__(
            batch_size=batch_size,
            patch_size=patch_size,
            num_workers=num_workers,
            root=str(data_dir),
        )
        normalize = K.AugmentationSequential(
            K.VideoSequential(K.Normalize(mean=self.mean, std=self.std)),
            data_keys=None,
            keepdim=True,
            same_on_batch=True,
        )
        # Geometric augmentation happens in on_after_batch_transfer instead: with kornia 0.8,
        # VideoSequential's RandomCrop gives a (B, 1, H, W) mask the crop window of a
        # different sample than its (B, 2, C, H, W) image (measured: 23 % of mask pixels
        # misaligned), which silently stops the model from learning.
        self.train_aug = normalize
        self.val_aug = normalize
        self.test_aug = normalize

    def on_after_batch_transfer(self, batch, dataloader_idx):
        batch = super().on_after_batch_transfer(batch, dataloader_idx)
        if self.trainer is not None and self.trainer.training:
            batch["image"], batch["mask"] = random_crop_dihedral(
                batch["image"], batch["mask"], self.patch_size[0]
            )
        return batch


def random_crop_dihedral(
    image: torch.Tensor, mask: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: one random crop and one of the 8 flips/rotations, shared by both dates and
    the mask, so pixels and labels stay aligned. Uses the global torch RNG (seeded)."""
    images, masks = [], []
    height, width = image.shape[-2:]
    for img, msk in zip(image, mask):
        y = int(torch.randint(0, max(height - size, 0) + 1, ()))
        x = int(torch.randint(0, max(width - size, 0) + 1, ()))
        img, msk = img[..., y : y + size, x : x + size], msk[..., y : y + size, x : x + size]
        k, flip = (int(v) for v in torch.randint(0, 4, (2,)))
        img, msk = torch.rot90(img, k, dims=(-2, -1)), torch.rot90(msk, k, dims=(-2, -1))
        if flip % 2:
            img, msk = img.flip(-1), msk.flip(-1)
        images.append(img)
        masks.append(msk)
    return torch.stack(images), torch.stack(masks)
