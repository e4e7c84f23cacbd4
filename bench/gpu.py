"""GPU rows, from one script (under 5 minutes on one H100/H200 class GPU):

    python bench/gpu.py [--iterations 3000] [--output bench/gpu_results.json]

1. train_nvs it/s and peak memory: our train() vs a bare gsplat loop with simple_trainer's
   settings (rasterization, DefaultStrategy defaults, 0.8 L1 + 0.2 SSIM, no per-step sync),
   same scene, same initial Gaussians, same iterations.
2. train_cd samples/s: bf16 autocast vs fp32 (bare loop, same model and batch).
3. the CPU renderer vs gsplat: max pixel difference and speed on the same Gaussians.

Without CUDA it prints "skipped" and exits 0 (import-clean: nothing CUDA-only is imported
at module level). gsplat JIT-compiles its CUDA sources on first use: see bench/gpu_nvs.py.
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


def cuda_seconds(fn, repeats: int) -> float:
    """Median seconds of fn() with the GPU drained before and after each call."""
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def synthetic_scene(work: Path, image_size: int):
    from mlstack.nvs.config import PrepareNvsParams
    from mlstack.nvs.prepare import prepare_nvs
    from mlstack.nvs.scene import load_transforms

    prepare_nvs(PrepareNvsParams(image_size=image_size), 0, work / "scene")
    return load_transforms(work / "scene")


def ours_nvs(scene, iterations: int, work: Path) -> dict:
    from mlstack.nvs.config import TrainNvsParams
    from mlstack.nvs.train import train

    params = TrainNvsParams(iterations=iterations, device="cuda", max_gaussians=300_000,
                            progress=False, checkpoint_every=0, refine_stop_iter=iterations // 2)
    torch.cuda.reset_peak_memory_stats()
    result = train(scene, params, 0, ckpt_path=work / "ours" / "last.pt")
    return {"its_per_s": iterations / result.wall_s,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def gsplat_nvs(scene, iterations: int) -> dict:
    """simple_trainer's loop, reduced to what the timing depends on."""
    import numpy as np
    from gsplat import DefaultStrategy, rasterization

    from mlstack.nvs.config import TrainNvsParams
    from mlstack.nvs.metrics import ssim
    from mlstack.nvs.train import init_gaussians, learning_rates, make_optimizers

    params = TrainNvsParams(sh_degree=3)
    init = init_gaussians(scene.points, scene.colors, params, torch.Generator().manual_seed(0))
    splats = torch.nn.ParameterDict({k: torch.nn.Parameter(v.cuda()) for k, v in init.items()})
    optimizers = make_optimizers(splats, learning_rates(params, scene.scene_scale))
    strategy = DefaultStrategy(refine_stop_iter=iterations // 2)
    state = strategy.initialize_state()
    views = [(torch.from_numpy(np.linalg.inv(v.c2w)).float().cuda()[None],
              torch.from_numpy(v.K).float().cuda()[None],
              torch.from_numpy(v.image).float().cuda() / 255.0, v.width, v.height)
             for v in scene.train]
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(iterations):
        viewmat, K, target, width, height = views[step % len(views)]
        colors, _, info = rasterization(
            splats["means"], splats["quats"], torch.exp(splats["scales"]),
            torch.sigmoid(splats["opacities"]), torch.cat([splats["sh0"], splats["shN"]], 1),
            viewmat, K, width, height, sh_degree=min(step // 1000, 3), packed=False)
        strategy.step_pre_backward(splats, optimizers, state, step, info)
        loss = 0.8 * (colors[0] - target).abs().mean() + 0.2 * (1 - ssim(colors[0], target))
        loss.backward()
        for optimizer in optimizers.values():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        strategy.step_post_backward(splats, optimizers, state, step, info)
    torch.cuda.synchronize()
    return {"its_per_s": iterations / (time.perf_counter() - start),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def cd_precision(repeats: int) -> dict:
    """Bare train step samples/s, fp32 vs bf16 autocast, batch 16 of 256 px pairs."""
    from mlstack.models.cd import build_task
    from mlstack.params import TrainCdParams

    model = build_task(TrainCdParams(), 1e-3).model.cuda().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    image = torch.randn(16, 2, 3, 256, 256, device="cuda")
    mask = (torch.rand(16, 1, 256, 256, device="cuda") > 0.9).float()

    def step(dtype):
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not torch.float32):
            loss = loss_fn(model(image).float(), mask)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    figures = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        cuda_seconds(lambda: step(dtype), 3)  # warm-up: cuDNN autotuning, allocator
        figures[name] = 16 / cuda_seconds(lambda: step(dtype), repeats)
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
    gpu_s = cuda_seconds(lambda: rasterization(**cuda_scene, packed=False), repeats)
    return {"max_abs_diff": float((cpu_image - gpu_image.cpu()).abs().max()),
            "cpu_s": cpu_s, "gsplat_s": gpu_s, "speedup_gsplat": cpu_s / gpu_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "gpu_results.json")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        atomic_write_json(args.output, {"skipped": "CUDA not available"})
        print("skipped: CUDA not available (GPU rows need a CUDA machine)")
        return 0
    from bench.gpu_nvs import build_gsplat_cuda

    report = {"device": torch.cuda.get_device_name(), "gsplat_build_s": build_gsplat_cuda()}
    with tempfile.TemporaryDirectory() as tmp:
        scene = synthetic_scene(Path(tmp), args.image_size)
        ours, bare = ours_nvs(scene, args.iterations, Path(tmp)), gsplat_nvs(scene, args.iterations)
    report["train_nvs"] = {"ours": ours, "gsplat_simple_trainer": bare,
                           "its_ratio": ours["its_per_s"] / bare["its_per_s"]}
    report["train_cd_precision"] = cd_precision(repeats=10)
    report["renderer_parity"] = renderer_parity(repeats=3)
    atomic_write_json(args.output, report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
