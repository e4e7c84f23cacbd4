"""NVS parameter groups: ``prepare.nvs``, ``train_nvs`` and ``evaluate.nvs`` in params.yaml.

Every field says what it is, like gsplat's ``simple_trainer.Config``. Strict models: unknown
keys are errors, no str->number coercion, NaN/inf rejected, ranges checked by ``Field``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# allow_inf_nan=False rejects NaN and +-inf for every float field.
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PrepareNvsParams(_Strict):
    model_config = _STRICT

    # Where the scene comes from: a generated satellite-like scene, a COLMAP sparse model
    # (text or binary) + images, or a nerfstudio/Blender transforms.json + images.
    source: Literal["synthetic", "colmap", "transforms"] = "synthetic"
    # DVC-tracked input folder for colmap/transforms (ignored for synthetic).
    raw_dir: str = "data/raw/nvs"
    # Synthetic scene: rendered image side in pixels (square images).
    image_size: int = Field(128, ge=16, le=2048)
    # Synthetic scene: number of training views and held-out test views.
    n_train: int = Field(24, ge=1)
    n_test: int = Field(6, ge=1)
    # Synthetic scene: largest off-nadir angle of the cameras, in degrees.
    max_off_nadir_deg: float = Field(25.0, ge=0.0, le=60.0)
    # Synthetic scene: horizontal field of view of the pinhole cameras, in degrees.
    fov_deg: float = Field(30.0, gt=1.0, lt=120.0)
    # Synthetic scene: number of box buildings on the terrain.
    n_buildings: int = Field(14, ge=0)
    # Synthetic scene: supersampling factor of the ray caster (anti-aliasing), per axis.
    supersample: int = Field(2, ge=1, le=4)
    # Initial point cloud size for synthetic scenes (a sparse SfM-like surface sample), and
    # for transforms.json scenes that ship no point cloud (random points in the scene box).
    n_init_points: int = Field(4000, ge=1)
    # Real scenes: hold out every k-th frame as a test view when the input has no split.
    test_every: int = Field(8, ge=2)


class TrainNvsParams(_Strict):
    model_config = _STRICT

    # Optimisation steps (one training view per step).
    iterations: int = Field(800, ge=1)
    # Spherical-harmonics degree of the colours (0 = view-independent RGB).
    sh_degree: int = Field(1, ge=0, le=3)
    # Raise the SH degree by one every this many steps (as 3DGS), up to sh_degree.
    sh_degree_interval: int = Field(300, ge=1)
    # Hard cap on the number of Gaussians; densification stops growing at the cap.
    max_gaussians: int = Field(12_000, ge=1)
    # Initial opacity (post-sigmoid) and scale multiplier on the kNN distance.
    init_opacity: float = Field(0.1, gt=0.0, lt=1.0)
    init_scale: float = Field(1.0, gt=0.0)
    # Per-parameter Adam learning rates (means lr is multiplied by the scene scale and
    # decays exponentially to means_lr_final_factor x its start value, as 3DGS).
    means_lr: float = Field(1.6e-4, gt=0.0)
    means_lr_final_factor: float = Field(0.01, gt=0.0, le=1.0)
    scales_lr: float = Field(5e-3, gt=0.0)
    quats_lr: float = Field(1e-3, gt=0.0)
    opacities_lr: float = Field(5e-2, gt=0.0)
    sh0_lr: float = Field(2.5e-3, gt=0.0)
    shN_lr: float = Field(2.5e-3 / 20, gt=0.0)
    # Loss = (1 - ssim_lambda) * L1 + ssim_lambda * (1 - SSIM), as 3DGS.
    ssim_lambda: float = Field(0.2, ge=0.0, le=1.0)
    # Densification (gsplat DefaultStrategy, step numbers in this run's iterations).
    refine_start_iter: int = Field(100, ge=0)
    refine_stop_iter: int = Field(500, ge=0)
    refine_every: int = Field(50, ge=1)
    # Opacity reset period; the reset is done by mlstack because gsplat 1.5.3 never fires it.
    # 0 disables it.
    reset_every: int = Field(300, ge=0)
    # Image-plane gradient threshold above which Gaussians are split/duplicated.
    grow_grad2d: float = Field(2e-4, gt=0.0)
    # 3D scale (fraction of scene scale) separating duplication (small) from splitting.
    grow_scale3d: float = Field(0.01, gt=0.0)
    # Gaussians below this opacity are pruned; above prune_scale3d x scene scale too.
    prune_opa: float = Field(0.005, gt=0.0, lt=1.0)
    prune_scale3d: float = Field(0.1, gt=0.0)
    # CPU renderer: tile side in pixels and the cap on depth-sorted Gaussians per tile.
    tile_size: int = Field(8, ge=4, le=64)
    max_gaussians_per_tile: int = Field(256, ge=1)
    # Near and far clipping planes (scene units after normalisation).
    near_plane: float = Field(0.01, gt=0.0)
    far_plane: float = Field(1e4, gt=0.0)
    # Background colour composited behind the Gaussians (RGB in [0, 1]).
    # (a list, since YAML has no tuples and the model is strict).
    background: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3)
    # Renderer: "auto" = gsplat CUDA rasterization when CUDA is available, else PyTorch.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # CPU threads for torch (0 = torch's default). 1 is deterministic on any machine and
    # avoids the large slowdown of oversubscribed thread pools when the CPU is shared.
    num_threads: int = Field(1, ge=0)
    # Write a resumable checkpoint every this many steps (0 = only at the end).
    checkpoint_every: int = Field(500, ge=0)
    # Log metrics to MLflow every this many steps (the CSV gets every step).
    log_every: int = Field(50, ge=1)
    # Show a tqdm progress bar.
    progress: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> TrainNvsParams:
        if self.far_plane <= self.near_plane:
            raise ValueError("far_plane must be greater than near_plane")
        if any(not 0.0 <= c <= 1.0 for c in self.background):
            raise ValueError("background components must lie in [0, 1]")
        return self


class EvaluateNvsParams(_Strict):
    model_config = _STRICT

    # Number of test views written as render|truth side-by-side PNGs (0 = none).
    n_examples: int = Field(6, ge=0)
    # Renderer for evaluation: "auto" = CUDA when available, else the PyTorch renderer.
    device: Literal["auto", "cpu", "cuda"] = "auto"
