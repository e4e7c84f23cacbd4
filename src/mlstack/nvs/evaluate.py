"""The NVS part of the evaluate stage: render held-out views, score them, save comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mlstack.nvs.config import EvaluateNvsParams, TrainNvsParams
from mlstack.nvs.errors import SceneError
from mlstack.nvs.metrics import psnr, ssim
from mlstack.nvs.scene import Scene, View, load_transforms
from mlstack.nvs.train import CKPT_RELPATH, load_trained, pick_device, render_view


def nearest_train_view(scene: Scene, view: View) -> View:
    """The training view whose camera centre is closest: a no-learning baseline."""
    centres = np.stack([v.c2w[:3, 3] for v in scene.train])
    return scene.train[int(np.argmin(np.linalg.norm(centres - view.c2w[:3, 3], axis=1)))]


@torch.no_grad()
def render_test_view(splats, view: View, params: TrainNvsParams, device) -> tuple[np.ndarray, np.ndarray]:
    """(rgb [H, W, 3] in [0, 1], expected z-depth [H, W]) of one view."""
    colors, _, _ = render_view(splats, view, params.sh_degree, params, device, render_mode="RGB+ED")
    out = colors[0].cpu()
    return out[..., :3].clamp(0, 1).numpy(), out[..., 3].numpy()


def evaluate_nvs(params: EvaluateNvsParams, scene_dir: Path, model_dir: Path,
                 out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """Metrics over the test views and the paths of render|truth side-by-side PNGs."""
    scene = load_transforms(Path(scene_dir))
    if not scene.test:
        raise SceneError(f"{scene_dir}: the scene has no test views")
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / CKPT_RELPATH).is_file():
        raise SceneError(f"{model_dir}: no trained model ({CKPT_RELPATH} missing)")
    device = pick_device(params.device)
    splats, train_params = load_trained(model_dir, device)
    scale = float(scene.extra.get("normalization", {}).get("scale", 1.0))
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "baseline_psnr": [], "depth_mae": []}
    examples: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, view in enumerate(scene.test):
        rgb, depth = render_test_view(splats, view, train_params, device)
        truth = torch.from_numpy(view.image).float() / 255
        pred = torch.from_numpy(rgb)
        scores["psnr"].append(psnr(pred, truth))
        scores["ssim"].append(float(ssim(pred, truth)))
        baseline = torch.from_numpy(nearest_train_view(scene, view).image).float() / 255
        scores["baseline_psnr"].append(psnr(baseline, truth))
        if view.depth is not None:  # report in the scene's original units (metres)
            scores["depth_mae"].append(float(np.abs(depth - view.depth).mean()) / scale)
        if i < params.n_examples:
            examples.append(_save_side_by_side(out_dir, view, rgb))
    metrics = {k: float(np.mean(v)) for k, v in scores.items() if v}
    metrics["num_gaussians"] = int(len(splats["means"]))
    metrics["n_test_views"] = len(scene.test)
    return metrics, examples


def _save_side_by_side(out_dir: Path, view: View, rgb: np.ndarray) -> Path:
    render = np.round(rgb * 255).astype(np.uint8)
    gap = np.full((view.height, 4, 3), 255, np.uint8)
    path = out_dir / f"nvs_{Path(view.name).stem}.png"
    Image.fromarray(np.concatenate([render, gap, view.image], axis=1)).save(path)
    return path
