"""GPU benchmark of train_nvs: iterations/s, peak GPU memory and held-out PSNR.

On a CUDA machine (target: under 5 minutes on one modern GPU, H100/H200 class):

    # gsplat 1.5.3 ships CUDA sources only; the first import JIT-compiles them (2-10 min,
    # cached afterwards in ~/.cache/torch_extensions). Needs nvcc matching torch's CUDA
    # version and ninja. Restricting the architecture shortens the build a lot:
    export TORCH_CUDA_ARCH_LIST="9.0"   # H100/H200; "8.0" A100, "8.9" L4/RTX 40xx
    export MAX_JOBS=16                  # parallel nvcc jobs
    python bench/gpu_nvs.py --iterations 7000 --image-size 256

CPU smoke mode (checks the script end to end, no GPU needed):

    python bench/gpu_nvs.py --device cpu --iterations 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlstack.nvs.config import EvaluateNvsParams, PrepareNvsParams, TrainNvsParams  # noqa: E402
from mlstack.nvs.evaluate import evaluate_nvs  # noqa: E402
from mlstack.nvs.prepare import prepare_nvs  # noqa: E402
from mlstack.nvs.scene import load_transforms  # noqa: E402
from mlstack.nvs.train import train  # noqa: E402


def build_gsplat_cuda() -> float:
    """Trigger (or load the cached) gsplat JIT CUDA build; returns seconds spent."""
    began = time.perf_counter()
    from gsplat.cuda._backend import _C  # noqa: F401  (importing compiles on first use)

    if _C is None:
        raise SystemExit("gsplat CUDA extension failed to build: check nvcc, ninja, CUDA_HOME")
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--iterations", type=int, default=7000)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--max-gaussians", type=int, default=300_000)
    parser.add_argument("--scene", type=Path, help="processed scene dir (default: synthetic in a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA not available; use --device cpu for the smoke mode")

    build_s = build_gsplat_cuda() if args.device == "cuda" else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene_dir = args.scene
        if scene_dir is None:
            scene_dir = tmp / "scene"
            size = args.image_size if args.device == "cuda" else 32
            prepare_nvs(PrepareNvsParams(image_size=size, supersample=1 if size <= 64 else 2),
                        args.seed, scene_dir)
        scene = load_transforms(scene_dir)
        stop = max(1, int(args.iterations * 0.6))
        params = TrainNvsParams(
            iterations=args.iterations, device=args.device, max_gaussians=args.max_gaussians,
            refine_start_iter=min(500, stop // 4), refine_stop_iter=stop, refine_every=100,
            reset_every=3000 if args.iterations > 6000 else 0, progress=False, checkpoint_every=0,
            num_threads=0,
        )
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        result = train(scene, params, args.seed, ckpt_path=tmp / "model" / "ckpts" / "last.pt")
        metrics, _ = evaluate_nvs(EvaluateNvsParams(n_examples=0, device=args.device), scene_dir,
                                  tmp / "model", tmp / "eval")
    report = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "gsplat_build_s": round(build_s, 1),
        "iterations": args.iterations,
        "train_s": round(result.wall_s, 1),
        "its_per_s": round(args.iterations / result.wall_s, 2),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if args.device == "cuda" else 0.0,
        "num_gaussians": metrics["num_gaussians"],
        "test_psnr": round(metrics["psnr"], 3),
        "test_ssim": round(metrics["ssim"], 4),
        "baseline_psnr": round(metrics["baseline_psnr"], 3),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
