"""``etl-targets runs`` and ``etl-targets freshness``: reading the run history."""

import datetime as dt
from typing import List, Optional

from etl_targets.lake import context
from etl_targets.runs import records as ops
from etl_targets.cli import exitcodes
from etl_targets.cli.arguments import add_env, parse_date_argument, positive_int
from etl_targets.config import business_timezone, load_settings
from etl_targets.dates import business_today
from etl_targets.runs import freshness
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
    fresh = commands.add_parser("freshness",
                                help="newest complete date of each dataset; non-zero when stale")
    fresh.set_defaults(run=run_freshness)
    fresh.add_argument("--dataset", "--pipeline", dest="dataset", choices=sorted(datasets))
    fresh.add_argument("--expect", type=parse_date_argument,
                       help="the date that must be complete (YYYY-MM-DD, today, yesterday, -N); "
                            "default yesterday")
    fresh.add_argument("--max-lag", help="or: complete up to today minus this (e.g. 1d)")
    fresh.add_argument("--max-age", help="or: the newest date ended at most this long ago (26h)")
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
    """One line per dataset: the newest complete date and the last run; non-zero when stale.

    Stale (exit 7) when no date is complete, when the newest complete date is
    before the expected one (``--expect D``, or today minus ``--max-lag``;
    by default yesterday), when that date ended longer ago than
    ``--max-age``, or when the dataset's last run failed.
    """
    settings = load_settings(args.env)
    zone = business_timezone()
    today = business_today(zone)
    expected = _expected_date(args, today)
    limit = _duration(args.max_age, "--max-age") if args.max_age else None
    worst = exitcodes.OK
    chosen = [datasets[args.dataset]] if args.dataset else [datasets[k] for k in sorted(datasets)]
    for dataset in chosen:
        found = freshness.judge(dataset, settings.lake_root, settings.landing_root)
        problems = _problems(found, expected, limit, zone)
        print(_freshness_line(found, expected, problems))
        if problems:
            worst = exitcodes.STALE
    return worst


def _expected_date(args, today: dt.date) -> Optional[dt.date]:
    if args.expect:
        return args.expect
    if args.max_lag:
        return today - dt.timedelta(days=_duration(args.max_lag, "--max-lag").days)
    return None if args.max_age else today - dt.timedelta(days=1)


def _duration(text: str, option: str) -> dt.timedelta:
    try:
        return ops.parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _problems(found, expected, limit, zone) -> List[str]:
    problems = []
    if found.newest is None:
        problems.append("no complete date published")
    elif expected is not None and found.newest < expected:
        problems.append(f"expected {expected}")
    elif limit is not None:
        ended = _end_of_day(found.newest, zone)
        age = dt.datetime.now(dt.timezone.utc) - ended
        if age > limit:
            problems.append(f"{_human(age)} since that date ended, limit {_human(limit)}")
    if found.last_run_failed:
        problems.append(f"last run {found.last_run.get('run_id')} failed: "
                        f"{found.last_run.get('error') or 'see its record'}")
    return problems


def _end_of_day(day: dt.date, zone: Optional[str]) -> dt.datetime:
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    if zone:
        import zoneinfo

        return midnight.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    return midnight.astimezone()


def _freshness_line(found, expected, problems) -> str:
    newest = found.newest.isoformat() if found.newest else "none"
    last = found.last_run
    run = (f"last run {last.get('run_id')} {last.get('status')}" if last
           else "no run records (lake built with the luigi command?)")
    verdict = "STALE" if problems else "OK"
    detail = f" ({'; '.join(problems)})" if problems else ""
    return f"{found.dataset}: {verdict}: newest complete date {newest}{detail}; {run}"


def _human(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return (f"{days}d" if days else "") + f"{hours}h{rest // 60:02d}m"
