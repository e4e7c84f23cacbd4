"""Run every CPU benchmark, print the table, write bench/results.json (atomically).

    python bench/run.py            # the full set, under ~10 minutes on 2 cores
    python bench/run.py --quick    # tiny sizes, 1-2 minutes
    python bench/run.py --only train_cd,prepare

Every row is a ratio of two measurements taken side by side in this run, on the same
data (median of several pairs): see the README's Benchmarks section for what each compares.
GPU rows come from bench/gpu.py (CUDA only).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Row, atomic_write_json, scratch_dir  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
BENCHMARKS = ("train_cd", "cd_dataloader", "prepare", "nvs_render", "mlflow", "dvc_repro",
              "dvc_push_pull")


def cd_rows(work: Path, quick: bool, only: set[str]) -> list[Row]:
    from bench import cd

    sizes = cd.QUICK if quick else cd.CdSizes()
    data = cd.make_dataset(work / "cd-data", sizes)
    rows = []
    if "train_cd" in only:
        rows.append(cd.bench_train_cd(data, work / "train_cd", sizes))
    if "cd_dataloader" in only:
        rows.append(cd.bench_dataloader(data, sizes))
    if "mlflow" in only:
        rows.extend(mlflow_rows(work / "mlflow", data, sizes, quick))
    return rows


def mlflow_rows(work: Path, data: Path, sizes, quick: bool) -> list[Row]:
    from bench import cd, mlflow_logging

    cd.make_deterministic(cd.SEED)
    batch = next(cd.training_batches(cd.training_datamodule(data, sizes)))
    bare_step = cd.BareStep(sizes)
    step = lambda: bare_step(batch)  # noqa: E731
    repeats = 5 if quick else 10
    return [mlflow_logging.bench_embedded(work / "sqlite", step, repeats),
            mlflow_logging.bench_server(work / "server", step, repeats)]


def prepare_rows(work: Path, quick: bool, only: set[str]) -> list[Row]:
    from bench import prepare

    return [prepare.bench_prepare(work, prepare.QUICK if quick else prepare.PrepareSizes())]


def nvs_rows(work: Path, quick: bool, only: set[str]) -> list[Row]:
    from bench import nvs_render

    return [nvs_render.bench_nvs_render(nvs_render.QUICK if quick else nvs_render.RenderSizes())]


def dvc_repro_rows(work: Path, quick: bool, only: set[str]) -> list[Row]:
    from bench import dvc_ops

    return [dvc_ops.bench_noop_repro(work, repeats=2 if quick else 9)]


def dvc_push_pull_rows(work: Path, quick: bool, only: set[str]) -> list[Row]:
    from bench import dvc_ops

    return dvc_ops.bench_push_pull(work, dvc_ops.QUICK if quick else dvc_ops.DvcSizes())


# Each group shares its setup (the CD rows share one dataset).
GROUPS: list[tuple[set[str], Callable[[Path, bool, set[str]], list[Row]]]] = [
    ({"train_cd", "cd_dataloader", "mlflow"}, cd_rows),
    ({"prepare"}, prepare_rows),
    ({"nvs_render"}, nvs_rows),
    ({"dvc_repro"}, dvc_repro_rows),
    ({"dvc_push_pull"}, dvc_push_pull_rows),
]


def run_all(quick: bool, only: set[str]) -> list[Row]:
    rows = []
    with scratch_dir("run") as work:
        for names, make_rows in GROUPS:
            if names & only:
                started = time.perf_counter()
                group = make_rows(work / make_rows.__name__, quick, names & only)
                print(f"  {', '.join(r.name for r in group)}: {time.perf_counter() - started:.0f} s",
                      file=sys.stderr)
                rows.extend(group)
    return rows


def verdict(row: Row) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[row.met]


def fmt(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def markdown_table(rows: list[Row]) -> str:
    lines = ["| row | ours | baseline | unit | ratio | goal | verdict | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {fmt(r.ours)} | {fmt(r.baseline)} | {r.unit} | "
                     f"{fmt(r.ratio)} | {r.goal} | {verdict(r)} | {r.note} |")
    for r in rows:
        if r.details:
            keys = list(r.details[0])
            lines += ["", f"{r.name}:", "", "| " + " | ".join(keys) + " |",
                      "|" + "---|" * len(keys)]
            lines += ["| " + " | ".join(str(d[k]) for k in keys) + " |" for d in r.details]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (1-2 minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.only = set(args.only.split(",")) if args.only else set(BENCHMARKS)
    unknown = args.only - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    started = time.perf_counter()
    rows = run_all(args.quick, args.only)
    atomic_write_json(args.output, {
        "quick": args.quick,
        "machine": {"cpus": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__, "platform": platform.platform()},
        "seconds": round(time.perf_counter() - started, 1),
        "rows": [r.to_dict() for r in rows],
    })
    print(markdown_table(rows))
    print(f"\n{len(rows)} rows in {time.perf_counter() - started:.0f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
