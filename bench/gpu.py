"""GPU rows, from one script (under 5 minutes on one H100/H200 class GPU):

    python bench/gpu.py [--iterations 3000] [--output bench/gpu_results.json]

1. train_nvs it/s and peak memory: our train() vs a bare gsplat loop with simple_trainer's
   settings (rasterization, DefaultStrategy defaults, 0.8 L1 + 0.2 SSIM, no per-step sync),
   same scene, same initial Gaussians, same iterations.
2. train_cd samples/s: bf16 autocast vs fp32 (bare loop, same model and batch).
3. the CPU renderer vs gsplat: max pixel difference and speed on the same Gaussians.

Without CUDA it prints "skipped" and exits 0 (import-clean: nothing CUDA-only is imported
at module level). gsplat JIT-compiles its CUDA sources on first use: see bench/gpu_nvs.py.

    python bench/gpu.py --smoke-cpu

runs rows 1 and 2 tiny on the CPU (the baseline loop through the CPU renderer, which takes
gsplat's arguments), so the script is checked end to end before a GPU is spent on it.
Row 3 needs gsplat's CUDA rasterizer and is left out there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, atomic_write_json  # noqa: E402


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def device_seconds(fn, repeats: int, device: str = "cuda") -> float:
    """Median seconds of fn() with the device drained before and after each call."""
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def synthetic_scene(work: Path, image_size: int):
    from mlstack.nvs.config import PrepareNvsParams
    from mlstack.nvs.prepare import prepare_nvs
    from mlstack.nvs.scene import load_transforms

    prepare_nvs(PrepareNvsParams(image_size=image_size, supersample=1 if image_size <= 64 else 2),
                0, work / "scene")
    return load_transforms(work / "scene")


def simple_trainer_params(iterations: int, device: str):
    """TrainNvsParams set to simple_trainer's defaults (SH 3 raised every 1000 steps,
    DefaultStrategy's refine 500/100, reset 3000, refining for the first half), so both
    sides of the row train the same workload and only the machinery around it differs."""
    from mlstack.nvs.config import TrainNvsParams

    return TrainNvsParams(iterations=iterations, device=device, sh_degree=3,
                          sh_degree_interval=1000, refine_start_iter=500, refine_every=100,
                          reset_every=3000, refine_stop_iter=iterations // 2,
                          max_gaussians=10_000_000, progress=False, checkpoint_every=0)


def ours_nvs(scene, iterations: int, device: str = "cuda") -> dict:
    from mlstack.nvs.train import train

    reset_peak_memory(device)
    result = train(scene, simple_trainer_params(iterations, device), 0)  # no checkpoint write
    return {"its_per_s": iterations / result.wall_s, "peak_gib": peak_gib(device),
            "num_gaussians": len(result.splats["means"])}


def gsplat_nvs(scene, iterations: int, device: str = "cuda") -> dict:
    """simple_trainer's loop, reduced to what the timing depends on."""
    import numpy as np
    from gsplat import DefaultStrategy

    from mlstack.nvs.metrics import ssim
    from mlstack.nvs.render import rasterize  # gsplat's rasterization on CUDA tensors
    from mlstack.nvs.train import init_gaussians, learning_rates, make_optimizers

    params = simple_trainer_params(iterations, device)
    init = init_gaussians(scene.points, scene.colors, params, torch.Generator().manual_seed(0))
    splats = torch.nn.ParameterDict({k: torch.nn.Parameter(v.to(device)) for k, v in init.items()})
    optimizers = make_optimizers(splats, learning_rates(params, scene.scene_scale))
    strategy = DefaultStrategy(refine_start_iter=params.refine_start_iter,
                               refine_stop_iter=params.refine_stop_iter,
                               refine_every=params.refine_every, reset_every=params.reset_every)
    strategy.check_sanity(splats, optimizers)
    # As simple_trainer: grow/prune thresholds are relative to the scene's extent.
    state = strategy.initialize_state(scene_scale=scene.scene_scale)
    views = [(torch.from_numpy(np.linalg.inv(v.c2w)).float().to(device)[None],
              torch.from_numpy(v.K).float().to(device)[None],
              torch.from_numpy(np.array(v.image)).float().to(device) / 255.0, v.width, v.height)
             for v in scene.train]
    reset_peak_memory(device)
    synchronize(device)
    start = time.perf_counter()
    for step in range(iterations):
        viewmat, K, target, width, height = views[step % len(views)]
        colors, _, info = rasterize(
            splats["means"], splats["quats"], torch.exp(splats["scales"]),
            torch.sigmoid(splats["opacities"]), torch.cat([splats["sh0"], splats["shN"]], 1),
            viewmat, K, width, height, sh_degree=min(step // params.sh_degree_interval, params.sh_degree))
        strategy.step_pre_backward(splats, optimizers, state, step, info)
        loss = 0.8 * (colors[0] - target).abs().mean() + 0.2 * (1 - ssim(colors[0], target))
        loss.backward()
        for optimizer in optimizers.values():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        strategy.step_post_backward(splats, optimizers, state, step, info)
    synchronize(device)
    return {"its_per_s": iterations / (time.perf_counter() - start), "peak_gib": peak_gib(device),
            "num_gaussians": len(splats["means"])}


def cd_precision(repeats: int, device: str = "cuda", batch: int = 16, size: int = 256) -> dict:
    """Bare train step samples/s, fp32 vs bf16 autocast, a batch of image pairs."""
    from mlstack.models.cd import build_task
    from mlstack.params import TrainCdParams

    model = build_task(TrainCdParams(), 1e-3).model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    image = torch.randn(batch, 2, 3, size, size, device=device)
    mask = (torch.rand(batch, 1, size, size, device=device) > 0.9).float()

    def step(dtype):
        with torch.autocast(device, dtype=dtype, enabled=dtype is not torch.float32):
            loss = loss_fn(model(image).float(), mask)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    figures = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        device_seconds(lambda: step(dtype), 3, device)  # warm-up: cuDNN autotuning, allocator
        figures[name] = batch / device_seconds(lambda: step(dtype), repeats, device)
    return {**figures, "ratio_bf16_vs_fp32": figures["bf16"] / figures["fp32"]}


def renderer_parity(repeats: int) -> dict:
    from gsplat import rasterization

    from bench.nvs_render import random_scene
    from mlstack.nvs.render import rasterize_torch

    scene = {k: (v.detach() if isinstance(v, torch.Tensor) else v)
             for k, v in random_scene(20000, 256).items()}
    cuda_scene = {k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in scene.items()}
    cpu_image = rasterize_torch(**scene, tile_size=16)[0]
    gpu_image = rasterization(**cuda_scene, packed=False)[0]
    start = time.perf_counter()
    for _ in range(repeats):
        rasterize_torch(**scene, tile_size=16)
    cpu_s = (time.perf_counter() - start) / repeats
    gpu_s = device_seconds(lambda: rasterization(**cuda_scene, packed=False), repeats)
    return {"max_abs_diff": float((cpu_image - gpu_image.cpu()).abs().max()),
            "cpu_s": cpu_s, "gsplat_s": gpu_s, "speedup_gsplat": cpu_s / gpu_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--smoke-cpu", action="store_true",
                        help="rows 1-2 tiny on the CPU: checks the script, measures nothing")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "gpu_results.json")
    args = parser.parse_args(argv)
    if args.smoke_cpu:
        report = smoke_cpu()
    elif not torch.cuda.is_available():
        atomic_write_json(args.output, {"skipped": "CUDA not available"})
        print("skipped: CUDA not available (GPU rows need a CUDA machine)")
        return 0
    else:
        report = gpu_report(args.iterations, args.image_size)
    atomic_write_json(args.output, report)
    print(json.dumps(report, indent=2))
    return 0


def gpu_report(iterations: int, image_size: int) -> dict:
    from bench.gpu_nvs import build_gsplat_cuda

    report = {"device": torch.cuda.get_device_name(), "gsplat_build_s": build_gsplat_cuda()}
    report["train_nvs"] = nvs_rows(iterations, image_size, "cuda")
    report["train_cd_precision"] = cd_precision(repeats=10)
    report["renderer_parity"] = renderer_parity(repeats=3)
    return report


def nvs_rows(iterations: int, image_size: int, device: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        scene = synthetic_scene(Path(tmp), image_size)
        ours = ours_nvs(scene, iterations, device)
        bare = gsplat_nvs(scene, iterations, device)
    return {"ours": ours, "gsplat_simple_trainer": bare,
            "its_ratio": ours["its_per_s"] / bare["its_per_s"]}


def smoke_cpu() -> dict:
    return {"smoke": "cpu: the code paths only, not a measurement",
            "train_nvs": nvs_rows(iterations=4, image_size=32, device="cpu"),
            "train_cd_precision": cd_precision(repeats=1, device="cpu", batch=2, size=64)}


if __name__ == "__main__":
    sys.exit(main())
