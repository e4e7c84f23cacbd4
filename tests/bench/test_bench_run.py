"""Smoke test of bench/run.py --quick on the fast benchmarks: rows, ratios, results.json."""

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import run as bench_run  # noqa: E402
from bench.common import Row, paired  # noqa: E402

FAST = ["train_cd", "cd_dataloader", "prepare", "nvs_render"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    assert bench_run.main(["--quick", "--only", ",".join(FAST), "--output", str(out)]) == 0
    return json.loads(out.read_text())


def test_every_requested_row_has_a_positive_finite_ratio(results):
    rows = {row["name"]: row for row in results["rows"]}
    assert {"train_cd", "cd_dataloader", "prepare", "nvs_render_cpu"} == set(rows)
    for row in rows.values():
        for key in ("ours", "baseline", "ratio"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["name"], key, row[key])
        assert row["met"] in (True, False)
        assert row["goal"].split()[0] in (">=", "<=", "<", ">")
    assert results["quick"] is True


def test_renderer_table_covers_each_config(results):
    row = next(r for r in results["rows"] if r["name"] == "nvs_render_cpu")
    assert len(row["details"]) == 2
    assert all(d["peak_mib"] > 0 and d["frame_s"] > 0 for d in row["details"])


def test_paired_takes_the_median_of_pair_ratios():
    a, b = iter([2.0, 4.0, 100.0]), iter([1.0, 1.0, 1.0])
    ours, base, ratio = paired(lambda: next(a), lambda: next(b), repeats=3, warmup=0)
    assert (ours, base, ratio) == (4.0, 1.0, 4.0)


def test_goal_verdicts_and_table():
    rows = [Row("x", "x", "s", 1.0, 2.0, 0.5, ">= 0.9", 3),
            Row("y", "y", "s", 1.0, 1.0, 1.0, "<= 1.2", 3),
            Row("z", "z", "s", math.nan, math.nan, math.nan, "< 0.02", 0, note="skipped")]
    assert [r.met for r in rows] == [False, True, None]
    table = bench_run.markdown_table(rows)
    assert "MISSED" in table and "| met |" in table and "n/a" in table


def test_unknown_benchmark_is_refused():
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--only", "nope"])
