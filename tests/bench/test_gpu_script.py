"""bench/gpu.py imports without CUDA, skips cleanly when there is none, and its CPU smoke
mode runs the train_nvs and precision rows end to end (so a lent GPU is not spent on a typo)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_skips_without_cuda(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--output", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout
    assert json.loads(out.read_text())["skipped"]


def test_cpu_smoke_runs_the_nvs_and_precision_rows(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke-cpu",
                             "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    nvs = report["train_nvs"]
    assert nvs["ours"]["its_per_s"] > 0 and nvs["gsplat_simple_trainer"]["its_per_s"] > 0
    assert nvs["gsplat_simple_trainer"]["num_gaussians"] > 0
    precision = report["train_cd_precision"]
    assert precision["fp32"] > 0 and precision["bf16"] > 0
