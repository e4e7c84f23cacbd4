"""`mlstack sync`: replay journaled runs that never fully reached the tracking server.

Idempotent: the server run is found again by its ``mlstack.local_run_id`` tag, params and
tags already there are left alone, metrics already logged (same key, step, timestamp and
value) are skipped, so running sync twice creates no duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mlstack.tracking.journal import Journal, pending_journals
from mlstack.tracking.run import LOCAL_ID_TAG, experiment_id, outbox_dir


@dataclass
class SyncReport:
    synced: list[str] = field(default_factory=list)  # server run ids
    failed: dict[str, str] = field(default_factory=dict)  # local id -> reason


def _find_or_create_run(client: Any, journal: Journal, start: dict) -> str:
    if start.get("server_run_id"):
        return start["server_run_id"]
    exp_id = experiment_id(client, start["experiment"])
    found = client.search_runs([exp_id], f"tags.`{LOCAL_ID_TAG}` = '{journal.local_id}'",
                               max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(exp_id, start_time=start["time"], tags=start["tags"],
                            run_name=start["tags"].get("mlflow.runName"))
    return run.info.run_id


def _replay_metrics(client: Any, run_id: str, events: list[dict]) -> None:
    from mlflow.entities import Metric

    wanted = [Metric(key, value, e["timestamp"], e["step"])
              for e in events if e["kind"] == "metrics" for key, value in e["values"].items()]
    existing = defaultdict(set)
    for key in {m.key for m in wanted}:
        for m in client.get_metric_history(run_id, key):
            existing[key].add((m.step, m.timestamp, m.value))
    missing = [m for m in wanted if (m.step, m.timestamp, m.value) not in existing[m.key]]
    for start in range(0, len(missing), 500):
        client.log_batch(run_id, metrics=missing[start : start + 500], synchronous=True)


def _replay(client: Any, journal: Journal) -> str:
    from mlflow.entities import Param

    events = journal.events()
    start = events[0]
    run_id = _find_or_create_run(client, journal, start)
    present = client.get_run(run_id).data
    params = {k: v for e in events if e["kind"] == "params" for k, v in e["params"].items()}
    new_params = [Param(k, v) for k, v in params.items() if k not in present.params]
    for i in range(0, len(new_params), 100):
        client.log_batch(run_id, params=new_params[i : i + 100])
    for e in events:
        if e["kind"] == "tags":
            for key, value in e["tags"].items():
                if present.tags.get(key) != value:
                    client.set_tag(run_id, key, value)
    _replay_metrics(client, run_id, events)
    for e in events:
        if e["kind"] == "artifact":
            local = journal.directory / e["path"]
            upload = client.log_artifacts if e["is_dir"] else client.log_artifact
            upload(run_id, str(local), e["artifact_path"])
    end = next((e for e in reversed(events) if e["kind"] == "end"), None)
    # A journal without an end belongs to a process that died: say so rather than RUNNING.
    status, end_time = (end["status"], end["time"]) if end else ("KILLED", events[-1]["time"])
    client.set_terminated(run_id, status, end_time=end_time)
    return run_id


def _still_running(events: list[dict]) -> bool:
    import psutil

    if any(e["kind"] == "end" for e in events):
        return False
    pid, created = events[0].get("pid"), events[0].get("pid_created")
    try:
        return pid is not None and psutil.Process(pid).create_time() == created
    except psutil.Error:
        return False


def sync(tracking_uri: str) -> SyncReport:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    report = SyncReport()
    for journal in pending_journals(outbox_dir()):
        events = journal.events()
        if not events:
            journal.discard()
            continue
        if _still_running(events):
            continue
        try:
            report.synced.append(_replay(client, journal))
        except Exception as err:  # noqa: BLE001 - report and keep the journal for next time
            report.failed[journal.local_id] = f"{type(err).__name__}: {str(err)[:300]}"
            continue
        journal.discard()
    return report
