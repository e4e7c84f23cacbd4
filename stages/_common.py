"""Shared start-up for stage scripts: run from the repo root, turn known errors into one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Stages run as `python stages/x.py` from dvc.yaml; make `src/` importable without installing.
sys.path.insert(0, str(ROOT / "src"))


def run_stage(main: Callable[[], None]) -> None:
    from mlstack.errors import USER_ERRORS

    os.chdir(ROOT)
    try:
        main()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
