"""What every benchmark shares: paired timing, medians, result rows, quiet Lightning.

Absolute times on a shared 2-core machine are noise; a ratio of two measurements taken
side by side (ours, baseline, ours, baseline, ...) on the same data is not. Every row
therefore holds the median of per-pair ratios, with the medians of both sides beside it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "src", ROOT / "tests"):  # mlstack itself, and tests/helpers.py
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


@dataclass
class Row:
    """One line of the results table: ours / baseline, with its goal and verdict."""

    name: str
    compares: str
    unit: str
    ours: float  # median of our side
    baseline: float  # median of the baseline side
    ratio: float  # median of the per-pair ratios (ours / baseline, or as the row defines)
    goal: str  # e.g. ">= 0.9"
    repeats: int
    note: str = ""
    details: list[dict] = field(default_factory=list)

    @property
    def met(self) -> bool | None:
        if not math.isfinite(self.ratio):
            return None
        op, target = self.goal.split()
        value = float(target)
        return {">=": self.ratio >= value, "<=": self.ratio <= value,
                "<": self.ratio < value, ">": self.ratio > value}[op]

    def to_dict(self) -> dict:
        return {**asdict(self), "met": self.met}


def paired(ours: Callable[[], float], baseline: Callable[[], float], repeats: int,
           warmup: int = 1) -> tuple[float, float, float]:
    """Run A, B, A, B ...; each callable returns its own figure (e.g. samples/s).

    Returns (median ours, median baseline, median of the per-pair ratios ours/baseline):
    pairing keeps the ratio meaningful when the machine's speed drifts during the run.
    """
    for _ in range(warmup):
        ours(), baseline()
    a, b = [], []
    for _ in range(repeats):
        a.append(ours())
        b.append(baseline())
    ratios = [x / y for x, y in zip(a, b)]
    return statistics.median(a), statistics.median(b), statistics.median(ratios)


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence progress bars and Lightning's banner lines (they would bury the table)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"mlstack-bench-{prefix}-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def isolated_mlflow(store: Path) -> Iterator[None]:
    """Stage runs made while benchmarking go to a throwaway store, never the user's."""
    with env_vars({"MLSTACK_MLFLOW_DIR": str(store), "MLFLOW_TRACKING_URI": None}):
        yield


@contextlib.contextmanager
def env_vars(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def atomic_write_json(path: Path, data: object) -> None:
    """Write to a temporary file in the same folder, then rename: never a torn results.json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
