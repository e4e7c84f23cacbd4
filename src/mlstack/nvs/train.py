"""Train 3D Gaussians on a scene: L1 + SSIM loss, per-parameter Adam, gsplat densification."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree

from mlstack.nvs.config import TrainNvsParams
from mlstack.nvs.metrics import psnr, ssim
from mlstack.nvs.ply import encode_ply, splat_columns
from mlstack.nvs.render import rasterize
from mlstack.nvs.scene import Scene, View
from mlstack.nvs.strategy import CappedStrategy
from mlstack.tracking.lineage import package_source_md5
from mlstack.utils.io import atomic_torch_save, atomic_write_bytes

SH_C0 = 0.28209479177387814  # degree-0 SH basis constant: colour = SH_C0 * f_dc + 0.5
CKPT_VERSION = 1


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


# --------------------------------------------------------------------------- Gaussians
def init_gaussians(points: np.ndarray, colors: np.ndarray, params: TrainNvsParams,
                   generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Gaussians at the points: isotropic, scale = mean distance to the 3 nearest neighbours."""
    points = points.astype(np.float64)
    k = min(4, len(points))
    dists, _ = cKDTree(points).query(points, k=k)
    knn = np.sqrt(np.mean(np.asarray(dists).reshape(len(points), k)[:, 1:] ** 2, axis=1)) if k > 1 \
        else np.full(len(points), 0.01)
    knn = np.clip(knn, 1e-7, None) * params.init_scale
    n = len(points)
    n_sh = (params.sh_degree + 1) ** 2
    sh0 = (torch.from_numpy(colors / 255.0).float() - 0.5) / SH_C0
    quats = torch.randn(n, 4, generator=generator)
    return {
        "means": torch.from_numpy(points).float(),
        "scales": torch.log(torch.from_numpy(knn).float())[:, None].repeat(1, 3),
        "quats": quats / quats.norm(dim=-1, keepdim=True),
        "opacities": torch.logit(torch.full((n,), params.init_opacity)),
        "sh0": sh0[:, None, :],
        "shN": torch.zeros(n, n_sh - 1, 3),
    }


def learning_rates(params: TrainNvsParams, scene_scale: float) -> dict[str, float]:
    return {"means": params.means_lr * scene_scale, "scales": params.scales_lr,
            "quats": params.quats_lr, "opacities": params.opacities_lr,
            "sh0": params.sh0_lr, "shN": params.shN_lr}


def make_optimizers(splats: torch.nn.ParameterDict, lrs: dict[str, float]) -> dict[str, torch.optim.Adam]:
    # One Adam per tensor: gsplat's strategy ops rewrite each optimizer's single param group.
    return {name: torch.optim.Adam([{"params": splats[name], "lr": lr, "name": name}], eps=1e-15)
            for name, lr in lrs.items()}


def render_view(splats: torch.nn.ParameterDict, view: View, sh_degree: int,
                params: TrainNvsParams, device: torch.device, render_mode: str = "RGB"):
    """Render one view; returns (colors [1, H, W, D], alphas [1, H, W, 1], meta)."""
    viewmat = torch.from_numpy(np.linalg.inv(view.c2w)).float().to(device)[None]
    K = torch.from_numpy(view.K).float().to(device)[None]
    colors = torch.cat([splats["sh0"], splats["shN"]], dim=1)
    background = torch.tensor([params.background], device=device)
    return rasterize(
        splats["means"], splats["quats"], torch.exp(splats["scales"]),
        torch.sigmoid(splats["opacities"]), colors, viewmat, K, view.width, view.height,
        near_plane=params.near_plane, far_plane=params.far_plane, sh_degree=sh_degree,
        tile_size=params.tile_size, backgrounds=background, render_mode=render_mode,
        max_per_tile=params.max_gaussians_per_tile,
    )


# --------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    splats: dict[str, torch.Tensor]  # CPU tensors of the final Gaussians
    history: list[dict[str, float]]  # per-step metrics
    wall_s: float
    resumed_from: int = 0


def scene_fingerprint(scene: Scene) -> str:
    """Hash of the poses, intrinsics, image bytes and points: a resume must see the same data."""
    h = hashlib.sha256()
    for view in scene.train:
        for array in (view.c2w, view.K, view.image):
            h.update(np.ascontiguousarray(array).tobytes())
    h.update(np.ascontiguousarray(scene.points).tobytes())
    return h.hexdigest()


def make_strategy(params: TrainNvsParams) -> CappedStrategy:
    return CappedStrategy(
        prune_opa=params.prune_opa, grow_grad2d=params.grow_grad2d,
        grow_scale3d=params.grow_scale3d, prune_scale3d=params.prune_scale3d,
        refine_start_iter=params.refine_start_iter, refine_stop_iter=params.refine_stop_iter,
        refine_every=params.refine_every, reset_every=params.reset_every or 10**12,
        max_gaussians=params.max_gaussians,
    )


class Trainer:
    """Holds the Gaussians, optimizers and strategy state; one :meth:`step` per view."""

    def __init__(self, scene: Scene, params: TrainNvsParams, seed: int):
        self.scene, self.params, self.seed = scene, params, seed
        self.device = pick_device(params.device)
        if params.num_threads:
            torch.set_num_threads(params.num_threads)
        torch.manual_seed(seed)  # gsplat's split() samples with the global generator
        self.generator = torch.Generator().manual_seed(seed)
        self.scene_scale = scene.scene_scale
        init = init_gaussians(scene.points, scene.colors, params, self.generator)
        if len(init["means"]) > params.max_gaussians:  # respect the cap from the start
            keep = torch.randperm(len(init["means"]), generator=self.generator)[: params.max_gaussians]
            init = {k: v[keep.sort().values] for k, v in init.items()}
        self.splats = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(v.to(self.device)) for k, v in init.items()})
        self.lrs = learning_rates(params, self.scene_scale)
        self.optimizers = make_optimizers(self.splats, self.lrs)
        self.strategy = make_strategy(params)
        self.strategy.check_sanity(self.splats, self.optimizers)
        self.strategy_state = self.strategy.initialize_state(scene_scale=self.scene_scale)
        self.targets = [torch.from_numpy(np.array(v.image)).float().div(255).to(self.device) for v in scene.train]
        self.step_index = 0
        self.order: list[int] = []
        self.history: list[dict[str, float]] = []
        # code: a checkpoint written by other mlstack code is never resumed.
        self.fingerprint = {"params": params.model_dump(mode="json"), "seed": seed,
                            "scene": scene_fingerprint(scene), "code": package_source_md5()}

    def _next_view(self) -> int:
        if not self.order:  # a fresh random permutation of the views each epoch
            self.order = torch.randperm(len(self.scene.train), generator=self.generator).tolist()
        return self.order.pop()

    def _means_lr(self, step: int) -> float:
        # Exponential decay to means_lr_final_factor x the start value over the run (3DGS).
        frac = step / max(self.params.iterations, 1)
        return self.lrs["means"] * self.params.means_lr_final_factor ** frac

    def step(self) -> dict[str, float]:
        step, p = self.step_index, self.params
        index = self._next_view()
        view, target = self.scene.train[index], self.targets[index]
        sh_degree = min(step // p.sh_degree_interval, p.sh_degree)
        colors, _, info = render_view(self.splats, view, sh_degree, p, self.device)
        image = colors[0]
        self.strategy.step_pre_backward(self.splats, self.optimizers, self.strategy_state, step, info)
        l1 = torch.abs(image - target).mean()
        loss = (1 - p.ssim_lambda) * l1 + p.ssim_lambda * (1 - ssim(image, target))
        loss.backward()
        for group in self.optimizers["means"].param_groups:
            group["lr"] = self._means_lr(step)
        for optimizer in self.optimizers.values():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        # After the optimizer step, as simple_trainer does; grads were read from info.
        self.strategy.step_post_backward(self.splats, self.optimizers, self.strategy_state, step, info)
        self.step_index += 1
        row = {"step": step, "loss": float(loss.item()), "psnr": psnr(image.detach(), target),
               "num_gaussians": int(len(self.splats["means"]))}
        self.history.append(row)
        return row

    # ----------------------------------------------------------------- checkpoints
    def checkpoint(self) -> dict[str, Any]:
        return {
            "version": CKPT_VERSION,
            "fingerprint": self.fingerprint,
            "step": self.step_index,
            "splats": {k: v.detach().cpu() for k, v in self.splats.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "strategy_state": self.strategy.state_for_checkpoint(self.strategy_state),
            "order": list(self.order),
            "history": list(self.history),
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
        }

    def save(self, path: Path) -> None:
        atomic_torch_save(self.checkpoint(), path)

    def try_resume(self, path: Path) -> bool:
        """Continue from an interrupted run's checkpoint when params, seed and data match."""
        if not path.is_file():
            return False
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except Exception:  # unreadable/partial file from another version: start afresh
            return False
        if ckpt.get("version") != CKPT_VERSION or ckpt.get("fingerprint") != self.fingerprint:
            return False
        self.splats = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(v.to(self.device)) for k, v in ckpt["splats"].items()})
        self.optimizers = make_optimizers(self.splats, self.lrs)
        for name, state in ckpt["optimizers"].items():
            self.optimizers[name].load_state_dict(state)
        self.strategy_state = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v)
                               for k, v in ckpt["strategy_state"].items()}
        self.step_index, self.order, self.history = ckpt["step"], ckpt["order"], ckpt["history"]
        torch.set_rng_state(ckpt["torch_rng"])
        self.generator.set_state(ckpt["generator"])
        return True


def train(scene: Scene, params: TrainNvsParams, seed: int, ckpt_path: Path | None = None,
          on_step: Callable[[dict[str, float]], None] | None = None) -> TrainResult:
    """Train (resuming from ckpt_path when it matches); checkpoints land in ckpt_path."""
    trainer = Trainer(scene, params, seed)
    resumed = trainer.try_resume(ckpt_path) if ckpt_path else False
    start = trainer.step_index
    began = time.perf_counter()
    bar = _progress(params, start)
    while trainer.step_index < params.iterations:
        row = trainer.step()
        if on_step:
            on_step(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(psnr=f"{row['psnr']:.2f}", n=row["num_gaussians"], refresh=False)
        every = params.checkpoint_every
        if ckpt_path and every and trainer.step_index % every == 0 and trainer.step_index < params.iterations:
            trainer.save(ckpt_path)
    if bar is not None:
        bar.close()
    if ckpt_path:
        trainer.save(ckpt_path)
    splats = {k: v.detach().cpu() for k, v in trainer.splats.items()}
    return TrainResult(splats=splats, history=trainer.history, wall_s=time.perf_counter() - began,
                       resumed_from=start if resumed else 0)


def _progress(params: TrainNvsParams, start: int):
    if not params.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=params.iterations, initial=start, desc="train_nvs", dynamic_ncols=True)


# --------------------------------------------------------------------------- outputs
def splats_to_ply_bytes(splats: dict[str, torch.Tensor]) -> bytes:
    cols = splat_columns(
        splats["means"].numpy(), splats["sh0"].numpy(), splats["shN"].numpy(),
        splats["opacities"].numpy(), splats["scales"].numpy(),
        torch.nn.functional.normalize(splats["quats"], dim=-1).numpy(),
    )
    return encode_ply(cols)


def write_ply(path: Path, splats: dict[str, torch.Tensor]) -> Path:
    return atomic_write_bytes(path, splats_to_ply_bytes(splats))


def history_csv(history: list[dict[str, float]]) -> str:
    lines = ["step,loss,psnr,num_gaussians"]
    lines += [f"{r['step']},{r['loss']:.6f},{r['psnr']:.4f},{r['num_gaussians']}" for r in history]
    return "\n".join(lines) + "\n"


CKPT_RELPATH = Path("ckpts") / "last.pt"  # inside models/nvs: resumable and final


def load_trained(model_dir: Path, device: torch.device | str = "cpu"
                 ) -> tuple[torch.nn.ParameterDict, TrainNvsParams]:
    """The trained Gaussians and the params they were trained with, from one read of
    model_dir/ckpts/last.pt."""
    ckpt = torch.load(Path(model_dir) / CKPT_RELPATH, map_location="cpu", weights_only=False)
    splats = torch.nn.ParameterDict(
        {k: torch.nn.Parameter(v.to(device), requires_grad=False) for k, v in ckpt["splats"].items()})
    return splats, TrainNvsParams.model_validate(ckpt["fingerprint"]["params"], strict=False)


def train_stats(result: TrainResult, params: TrainNvsParams, device: torch.device) -> dict:
    last = result.history[-1] if result.history else {}
    return {
        "num_gaussians": int(len(result.splats["means"])),
        "final_train_psnr": last.get("psnr", math.nan),
        "final_loss": last.get("loss", math.nan),
        "iterations": params.iterations,
        "device": device.type,
    }


def train_nvs(params: TrainNvsParams, seed: int, scene_dir: Path, model_dir: Path,
              plots_csv: Path, run: Any = None) -> dict[str, Any]:
    """The train_nvs stage body: train on scene_dir, write model_dir/{ckpts,ply,stats} + CSV.

    ``run`` (a tracking StageRun, optional) receives metrics every ``log_every`` steps and
    the .ply. An interrupted run resumes from model_dir/ckpts/last.pt when it matches.
    """
    from mlstack.nvs.scene import load_transforms
    from mlstack.utils.io import atomic_write_text

    scene = load_transforms(Path(scene_dir))
    model_dir = Path(model_dir)

    def on_step(row: dict[str, float]) -> None:
        if run is not None and row["step"] % params.log_every == 0:
            run.log_metrics({k: row[k] for k in ("loss", "psnr", "num_gaussians")}, step=row["step"])

    result = train(scene, params, seed, ckpt_path=model_dir / CKPT_RELPATH, on_step=on_step)
    ply = write_ply(model_dir / "ply" / "point_cloud.ply", result.splats)
    stats = train_stats(result, params, pick_device(params.device))
    atomic_write_text(model_dir / "stats" / "train.json",
                      json.dumps(stats, indent=2, sort_keys=True) + "\n")
    atomic_write_text(Path(plots_csv), history_csv(result.history))
    if run is not None:
        run.log_artifact(ply, "ply")
    # Timings are returned for MLflow but kept out of models/nvs, whose bytes (and DVC hash)
    # must depend only on seed, data and params.
    steps = len(result.history) - result.resumed_from
    timing = {"wall_s": result.wall_s, "resumed_from": result.resumed_from,
              "its_per_s": steps / result.wall_s if result.wall_s > 0 else 0.0}
    return {**stats, **timing}
