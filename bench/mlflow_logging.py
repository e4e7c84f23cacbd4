"""What StageRun logging costs a training step, on the embedded store and on a real server.

train_cd logs through StageRun once per epoch (EpochMetrics: one journaled, synchronous
log_batch of the epoch's row). Its cost per training step is that call divided by the
steps of an epoch at the project's default params (params.yaml: n_train / batch_size).
The call and a bare train step are timed in turn (call, step, call, step ...).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.common import ROOT, Row, env_vars, isolated_mlflow, quiet, timed

EPOCH_ROW = {"train_loss": 0.31, "val_loss": 0.29, "val_f1": 0.61, "val_iou": 0.44, "lr": 2e-3}


def default_steps_per_epoch() -> int:
    from mlstack.params import read_params_file

    params = read_params_file(ROOT / "params.yaml")
    return math.ceil(params["prepare"]["cd"]["n_train"] / params["train_cd"]["batch_size"])


@contextlib.contextmanager
def in_dir(path: Path) -> Iterator[None]:
    """stage_run hashes dvc.yaml's outs when it finds one: run away from the repository."""
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def log_vs_step(step: Callable[[], None], repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of one epoch-row log_metrics call and of one train step, taken in turn."""
    from mlstack.tracking import stage_run

    logs, steps = [], []
    with quiet(), stage_run("bench_logging", {"bench": True}) as run:  # no "View run" lines
        run.log_metrics(EPOCH_ROW, step=0)  # warm-up: first call creates metric keys
        step()
        for epoch in range(1, repeats + 1):
            logs.append(timed(lambda: run.log_metrics(EPOCH_ROW, step=epoch)))
            steps.append(timed(step))
    return logs, steps


def overhead_row(name: str, backend: str, logs: list[float], steps: list[float]) -> Row:
    per_step = statistics.median(logs) / default_steps_per_epoch()
    step_s = statistics.median(steps)
    return Row(name, f"StageRun logging ({backend}) per train step vs the step",
               "s/step", per_step, step_s, per_step / step_s, "< 0.02", len(logs),
               note=f"one log call per epoch = {statistics.median(logs) * 1e3:.1f} ms over "
                    f"{default_steps_per_epoch()} steps; logging every step would cost "
                    f"{statistics.median(logs) / step_s:.1%} of it")


def bench_embedded(work: Path, step: Callable[[], None], repeats: int) -> Row:
    (work / "cwd").mkdir(parents=True, exist_ok=True)
    with isolated_mlflow(work / "store"), in_dir(work / "cwd"):
        logs, steps = log_vs_step(step, repeats)
    return overhead_row("mlflow_sqlite", "embedded SQLite", logs, steps)


def bench_server(work: Path, step: Callable[[], None], repeats: int) -> Row:
    from mlstack.stack.testing import missing_prerequisite, running_stack

    reason = missing_prerequisite()
    if reason:
        return Row("mlflow_server", "StageRun logging (mlflow server) per train step",
                   "s/step", math.nan, math.nan, math.nan, "< 0.02", 0,
                   note=f"skipped: {reason}")
    (work / "cwd").mkdir(parents=True, exist_ok=True)
    with running_stack() as stack, isolated_mlflow(work / "store"), env_vars(stack.env), \
            in_dir(work / "cwd"):
        logs, steps = log_vs_step(step, repeats)
    return overhead_row("mlflow_server", "mlflow server on loopback, PostgreSQL", logs, steps)
