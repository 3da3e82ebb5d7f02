"""``etl-targets runs`` and ``etl-targets freshness``: reading the run history."""

import datetime as dt
import sys
from typing import List

from etl_targets.lake import context
from etl_targets.runs import records as ops
from etl_targets.cli import exitcodes
from etl_targets.cli.arguments import add_env, positive_int
from etl_targets.config import load_settings
from etl_targets.errors import UsageError

COLUMNS = ("run_id", "pipeline", "dates", "env", "started", "duration", "status", "failed_step")


def add_commands(commands, datasets) -> None:
    """``runs`` and ``freshness``."""
    runs = commands.add_parser("runs", help="show the run history")
    runs.set_defaults(run=run_runs)
    runs.add_argument("--pipeline", choices=sorted(datasets))
    runs.add_argument("--last", type=positive_int, default=20)
    runs.add_argument("--status", choices=("success", "failure"))
    add_env(runs)
    fresh = commands.add_parser("freshness", help="age of the last success; non-zero when stale")
    fresh.set_defaults(run=run_freshness)
    fresh.add_argument("--pipeline", choices=sorted(datasets))
    fresh.add_argument("--max-age", required=True, help="e.g. 26h, 90m, 2d")
    add_env(fresh)


def run_runs(args, datasets) -> int:
    """Prints the newest run records as a table."""
    pipelines = sorted(datasets)
    settings = load_settings(args.env)
    chosen = [args.pipeline] if args.pipeline else pipelines
    rows = []
    for record in ops.iter_runs(context.current().area(settings.lake_root), chosen):
        if args.status and record.get("status") != args.status:
            continue
        rows.append(_row(record))
        if len(rows) >= args.last:
            break
    _table(rows)
    return exitcodes.OK


def _row(record: dict) -> tuple:
    dates = record.get("dates") or []
    span = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}" if dates else "-"
    seconds = (record.get("duration_ms") or 0) / 1000
    return (record.get("run_id", "?"), record.get("pipeline", "?"), span, record.get("env", "-"),
            record.get("started_at", "-"), f"{seconds:.1f}s", record.get("status", "?"),
            record.get("failed_step") or "-")


def _table(rows) -> None:
    widths = [max([len(c)] + [len(str(r[i])) for r in rows]) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    if not rows:
        print("(no runs recorded)")


def run_freshness(args, datasets) -> int:
    """Prints the age of the last success; non-zero when older than --max-age."""
    pipelines = sorted(datasets)
    try:
        limit = ops.parse_duration(args.max_age)
    except ValueError as exc:
        raise UsageError(f"--max-age: {exc}") from None
    settings = load_settings(args.env)
    worst = exitcodes.OK
    now = dt.datetime.now(dt.timezone.utc)
    for pipeline in [args.pipeline] if args.pipeline else pipelines:
        latest = ops.read_latest(context.current().area(settings.lake_root), pipeline)
        if latest is None:
            print(f"{pipeline}: STALE: no successful run recorded")
            worst = exitcodes.STALE
            continue
        finished = dt.datetime.fromisoformat(latest["finished_at"])
        age = now - finished
        fresh = age <= limit
        print(f"{pipeline}: {'OK' if fresh else 'STALE'}: last success {latest['finished_at']} "
              f"({_human(age)} ago, limit {args.max_age}), run {latest['run_id']}, "
              f"dates {', '.join(latest.get('dates', [])[-1:])}")
        if not fresh:
            worst = exitcodes.STALE
    return worst


def _human(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m"

