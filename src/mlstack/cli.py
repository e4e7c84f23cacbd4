"""The `mlstack` command line."""

from __future__ import annotations

import argparse
import sys


def _add_stack(subparsers) -> None:
    try:
        from mlstack.stack.cli import add_parser
    except ImportError:
        return
    add_parser(subparsers)


def _runs(args) -> int:
    from mlstack.tracking.run import tracking_uri

    print(tracking_uri())
    return 0


def _sync(args) -> int:
    from mlstack.tracking.run import outbox_dir, tracking_uri
    from mlstack.tracking.sync import sync

    uri = tracking_uri()
    report = sync(uri)
    for run_id in report.synced:
        print(f"synced run {run_id} -> {uri}")
    for local_id, reason in report.failed.items():
        print(f"error: could not sync {outbox_dir() / local_id}: {reason}", file=sys.stderr)
    if not report.synced and not report.failed:
        print("nothing to sync")
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlstack", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    where = subparsers.add_parser("tracking-uri", help="print the MLflow tracking URI stages use")
    where.set_defaults(func=_runs)
    sync = subparsers.add_parser(
        "sync", help="upload runs kept locally while the tracking server was unreachable")
    sync.set_defaults(func=_sync)
    _add_stack(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
