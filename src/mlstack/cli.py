"""The `mlstack` command line."""

from __future__ import annotations

import argparse
import sys


def _add_stack(subparsers) -> None:
    """`mlstack stack ...` and `mlstack remote check`, when the stack's deps are installed."""
    try:
        from mlstack.stack import remote
        from mlstack.stack.cli import add_parser
    except ImportError:
        return
    add_parser(subparsers)
    remote.add_parser(subparsers)


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


def _compare(args) -> int:
    from mlflow import MlflowClient

    from mlstack.tracking.compare import pipeline_runs, render, table
    from mlstack.tracking.run import tracking_uri

    client = MlflowClient(tracking_uri())
    runs = pipeline_runs(client, args.experiment)
    if not runs:
        print(f"no pipeline runs in experiment '{args.experiment}'")
        return 0
    print(render(*table(runs), markdown=args.md))
    return 0


def _link(args) -> int:
    from mlflow import MlflowClient

    from mlstack.tracking.link import experiment_refs, link
    from mlstack.tracking.run import experiment_id, tracking_uri

    client = MlflowClient(tracking_uri())
    exp_id = experiment_id(client, args.experiment)
    revs = args.rev or ["HEAD", *experiment_refs().values()]
    total = 0
    for rev in revs:
        linked = link(client, exp_id, rev)
        total += len(linked)
        if linked or args.rev:
            print(f"{rev}: linked {len(linked)} run(s)")
    if not total:
        print("no run matches the outputs committed at " + ", ".join(revs))
    return 0


def _reproduce(args) -> int:
    import torch
    from mlflow import MlflowClient

    from mlstack.tracking.reproduce import reproduce
    from mlstack.tracking.run import main_repo_root, tracking_uri

    rtol = args.tolerance if args.tolerance is not None else (1e-3 if torch.cuda.is_available() else 0.0)
    client = MlflowClient(tracking_uri())
    outcome = reproduce(client, args.run_id, main_repo_root(), args.data, rtol, args.keep)
    if outcome.reproduced:
        print(f"reproduced: {len(outcome.compared)} metrics equal"
              + (" (bit-exact)" if rtol == 0 else f" (rtol {rtol:g})"))
        return 0
    print("not reproduced:")
    if not outcome.compared:
        print("  the run has no metric that the reproduction computes")
    for key, (was, now) in outcome.differences.items():
        print(f"  {key:<32} run {was!r:<24} reproduction {now!r}")
    for path, (was, now) in outcome.data.items():
        if was != now:
            print(f"  data {path:<27} run {was:<24} reproduction {now}")
    return 1


def build_parser() -> argparse.ArgumentParser:
    from mlstack.tracking.run import default_experiment  # light: no mlflow import

    parser = argparse.ArgumentParser(prog="mlstack", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    where = subparsers.add_parser("tracking-uri", help="print the MLflow tracking URI stages use")
    where.set_defaults(func=_runs)
    sync = subparsers.add_parser(
        "sync", help="upload runs kept locally while the tracking server was unreachable")
    sync.set_defaults(func=_sync)
    compare = subparsers.add_parser("compare", help="table of pipeline runs from MLflow")
    compare.add_argument("--experiment", default=default_experiment())
    compare.add_argument("--md", action="store_true", help="Markdown table")
    compare.set_defaults(func=_compare)
    link = subparsers.add_parser(
        "link", help="tag MLflow runs with the commit / experiment ref that kept their outputs")
    link.add_argument("--rev", action="append",
                      help="commit or ref (default: HEAD and every DVC experiment ref)")
    link.add_argument("--experiment", default=default_experiment())
    link.set_defaults(func=_link)
    repro = subparsers.add_parser("reproduce", help="rebuild a run from its tags and compare")
    repro.add_argument("run_id")
    repro.add_argument("--data", choices=["auto", "pull", "regenerate"], default="auto",
                       help="pull the run's data from the DVC remote, or regenerate it")
    repro.add_argument("--tolerance", type=float, default=None,
                       help="relative tolerance (default 0 on CPU: bit-exact; 1e-3 on GPU)")
    repro.add_argument("--keep", action="store_true", help="keep the worktree")
    repro.set_defaults(func=_reproduce)
    _add_stack(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LookupError as err:  # a named thing (run, commit, ref, data hash) is missing
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
