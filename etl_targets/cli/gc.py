"""``etl-targets gc [--dry-run] [--env E]``: apply the retention of luigi.cfg to the lake.

Removes the date partitions older than their stage's ``retention_<stage>``,
the ``_trash/<run_id>/`` folders older than ``retention_trash``, and the
writes killed writers abandoned (:mod:`etl_targets.runs.retention` has the
rules). One line per removal (``would remove`` in a dry run), then one
summary line. The landing area, ``_snapshots/`` and ``_ops/`` are never
touched.
"""

import datetime as dt
import sys
from typing import Dict, List, Optional

from etl_targets import config
from etl_targets.cli import exitcodes
from etl_targets.cli.arguments import add_env
from etl_targets.dates import business_today
from etl_targets.errors import ConfigError, StorageError
from etl_targets.lake import context
from etl_targets.runs import retention


def add_commands(commands, datasets) -> None:
    """``gc``."""
    sub = commands.add_parser(
        "gc", help="remove date partitions older than their stage's retention (luigi.cfg "
                   "retention_*), old _trash folders and abandoned writes")
    sub.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    add_env(sub)
    sub.set_defaults(run=run_gc)


def run_gc(args, datasets, today: Optional[dt.date] = None,
           now: Optional[dt.datetime] = None) -> int:
    """Plans from the listings, prints, and (without --dry-run) removes. Returns the exit status.

    Args:
        today: the business date (default: today in the business time zone).
        now: the current UTC time (default: the clock), for trash folders.
    """
    settings = config.load_settings(args.env)
    limits = retention.rules(config.retention(args.env))
    try:
        today = today or business_today(config.business_timezone())
    except ValueError as exc:
        raise ConfigError(f"timezone: {exc}") from None
    now = now or dt.datetime.now(dt.timezone.utc)
    build = context.current()
    lake = build.area(settings.lake_root)
    found = retention.plan(lake, limits, today, now, build.area(settings.landing_root))
    print(f"gc {lake.location(lake.path)}: {_describe(limits, today, now)}")
    for line in found.skipped:
        print(f"  kept {line}")
    verb = "would remove" if args.dry_run else "removed"
    if not args.dry_run:
        try:
            retention.remove(lake, found.removals)
        except StorageError:
            print("error: gc stopped part-way; run it again to finish", file=sys.stderr)
            raise
    for removal in found.removals:
        print(f"  {verb} {removal.folder}/ ({_count(len(removal.files), 'file')}, "
              f"{removal.size} bytes): {removal.why}")
    swept = retention.sweep(lake, found, dry_run=args.dry_run)
    for leftover in swept:
        print(f"  {'would remove if abandoned:' if args.dry_run else 'removed abandoned write'} "
              f"{leftover}")
    print(_summary(found, swept, args.dry_run))
    return exitcodes.OK


def _describe(limits: Dict[str, Optional[retention.Age]], today: dt.date,
              now: dt.datetime) -> str:
    """``bronze 7y (before 2019-12-01), silver 2y (...), gold forever, trash 30d (before ...)``."""
    parts = []
    for stage, limit in limits.items():
        if limit is None:
            parts.append(f"{stage} forever")
        elif stage == "trash":
            parts.append(f"trash {limit} (runs before {limit.before(now):%Y-%m-%dT%H:%MZ})")
        else:
            parts.append(f"{stage} {limit} (dates before {limit.before(today).isoformat()})")
    return ", ".join(parts)


def _summary(found: retention.Plan, swept: List[str], dry_run: bool) -> str:
    partitions = [r for r in found.removals if r.kind == "partition"]
    trash = [r for r in found.removals if r.kind == "trash"]
    files = sum(len(r.files) for r in found.removals)
    size = sum(r.size for r in found.removals)
    leftovers = _count(len(swept), "temporary file" if dry_run else "abandoned write")
    head = "gc (dry run, nothing was removed): would remove" if dry_run else "gc: removed"
    return (f"{head} {_count(len(partitions), 'date partition')}, "
            f"{_count(len(trash), 'trash folder')} ({_count(files, 'file')}, {size} bytes), "
            f"{leftovers}; kept {_count(found.kept['partition'], 'date partition')}, "
            f"{_count(found.kept['trash'], 'trash folder')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
