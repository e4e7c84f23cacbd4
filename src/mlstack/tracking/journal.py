"""A local journal of everything a stage run logs: the source of truth when MLflow is away.

Every call is appended as one JSON line under ``<store>/outbox/<local_run_id>/run.jsonl``
before it is sent to MLflow. Artifacts that could not be uploaded are copied next to it,
so a later ``mlstack sync`` can replay the run on the server exactly (same params, metric
steps and timestamps, tags, artifacts). A run that went through online is discarded.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.file = directory / "run.jsonl"

    @property
    def local_id(self) -> str:
        return self.directory.name

    @classmethod
    def create(cls, outbox: Path) -> "Journal":
        directory = outbox / uuid.uuid4().hex
        directory.mkdir(parents=True)
        return cls(directory)

    def write(self, kind: str, **data: Any) -> None:
        line = json.dumps({"kind": kind, "time": int(time.time() * 1000), **data}, default=str)
        with open(self.file, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def keep_artifact(self, path: Path, artifact_path: str | None) -> None:
        """Copy a file or folder that MLflow has not received, so later edits cannot change it."""
        path = Path(path)
        target = self.directory / "artifacts" / uuid.uuid4().hex[:8] / path.name
        target.parent.mkdir(parents=True)
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)
        self.write("artifact", path=str(target.relative_to(self.directory)),
                   artifact_path=artifact_path, is_dir=path.is_dir())

    def events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.file.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a crash: everything before it is intact
        return events

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def pending_journals(outbox: Path) -> list[Journal]:
    if not outbox.is_dir():
        return []
    journals = [Journal(d) for d in outbox.iterdir() if (d / "run.jsonl").is_file()]
    return sorted(journals, key=lambda j: j.file.stat().st_mtime)
