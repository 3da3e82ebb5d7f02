"""``etl-targets <dataset> ...``: build every gold table of a dataset for some dates.

Wiring only: resolve settings, open the log, build the luigi tasks from the
declaration, run them through :func:`etl_targets.graph.runner.build`, print, file
the run's manifest and record, return the exit status.
"""

import datetime as dt
import logging
import posixpath
import time
from typing import List

import luigi

from etl_targets.graph import runner
from etl_targets.lake import storage
from etl_targets.runs import records as ops
from etl_targets.cli import exitcodes
from etl_targets.cli.arguments import add_dates, add_env, check_dates, positive_int
from etl_targets.cli.console import Console, Progress
from etl_targets.cli.logfile import log_path, run_log
from etl_targets.config import load_settings
from etl_targets.dates import days_between, describe_dates
from etl_targets.errors import ConfigError, EtlError, MissingInputError
from etl_targets.lake import context
from etl_targets.runs.counts import published_counts, totals
from etl_targets.graph.tasks import gold_tasks

log = logging.getLogger("etl_targets")


def add_commands(commands, datasets) -> None:
    """One subcommand per dataset: ``etl-targets so --date D`` and the like."""
    for dataset in datasets.values():
        sub = commands.add_parser(dataset.folder, help=f"build every gold table of {dataset.code}")
        sub.set_defaults(dataset=dataset, run=run_pipeline, check=_check)
        add_dates(sub)
        sub.add_argument("--input", help="use this file (any fsspec URL) as the landing file "
                                          "of the one --date")
        sub.add_argument("--dry-run", action="store_true",
                         help="parse, validate and transform in memory; write nothing")
        add_env(sub)
        sub.add_argument("--workers", type=positive_int, default=1, help="worker processes")
        sub.add_argument("--scheduler-host", help="central luigid host (default: in-process)")
        sub.add_argument("--scheduler-port", type=positive_int, help="central luigid port")
        sub.add_argument("--log-format", choices=("text", "json"), default="text")


def _check(parser, args) -> None:
    check_dates(parser, args)
    if args.input and args.start:
        parser.error("--input overrides one date's file: use it with --date")
    if args.scheduler_port and not args.scheduler_host:
        parser.error("--scheduler-port needs --scheduler-host")


def run_pipeline(args, datasets) -> int:
    """The dataset subcommand. Returns the exit status."""
    dataset = args.dataset
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.monotonic()
    run_id = ops.new_run_id(started)
    console = Console(run_id, args.log_format)
    dates = _dates(args)
    manifest_day = dates[-1]
    try:
        settings = load_settings(args.env)
    except ConfigError as exc:
        console.event("config", "failure", f"error: {exc}", error=str(exc))
        return exitcodes.for_error(exc)
    record = {
        "pipeline": dataset.folder, "run_id": run_id, "env": settings.env or "default",
        "dates": [d.isoformat() for d in dates], "dry_run": args.dry_run,
        "started_at": started.isoformat(timespec="seconds"),
        "landing_root": storage.redact(settings.landing_root),
        "lake_root": storage.redact(settings.lake_root),
        "input": storage.redact(args.input) if args.input else None, **ops.who(),
    }
    log_file = None if args.dry_run else log_path(settings.log_dir, dataset.folder, manifest_day)
    with run_log(log_file, run_id):
        _banner(console, dataset, record, args)
        log.info("run %s started: %s", run_id, record)
        try:
            code = _build(args, dataset, dates, settings, console, record)
        except EtlError as exc:
            log.exception("run failed")
            code = _fail(record, console, "run", str(exc), exitcodes.for_error(exc))
        except Exception as exc:  # noqa: BLE001 - every failure gets a record
            log.exception("unexpected error")
            code = _fail(record, console, "run", f"internal error: {type(exc).__name__}: {exc}",
                         exitcodes.INTERNAL_ERROR)
        finished = dt.datetime.now(dt.timezone.utc)
        record["finished_at"] = finished.isoformat(timespec="seconds")
        record["duration_ms"] = int((time.monotonic() - clock) * 1000)
        record.setdefault("status", "success" if code == exitcodes.OK else "failure")
        record["exit_code"] = code
        if not args.dry_run:
            code = _publish(settings, record, manifest_day, console, code)
        log.info("run %s finished: status=%s exit=%s", run_id, record["status"], code)
        _end(console, record, code)
    return code


def _dates(args) -> List[dt.date]:
    if args.start:
        return list(days_between(args.start, args.end))
    return [args.date or dt.date.today()]


def _banner(console, dataset, record, args) -> None:
    dates = record["dates"]
    console.banner(f"etl-targets {dataset.folder}: run {record['run_id']}", {
        "pipeline": dataset.folder,
        "dates": dates[0] if len(dates) == 1 else f"{dates[0]} .. {dates[-1]} ({len(dates)} dates)",
        "env": record["env"],
        "landing": record["landing_root"],
        "lake": record["lake_root"],
        "input": record["input"] or "(landing file of each date)",
        "mode": "DRY RUN (nothing is written)" if args.dry_run else "build",
    })


def _build(args, dataset, dates, settings, console, record) -> int:
    roots = {"lake_root": settings.lake_root, "landing_root": settings.landing_root}
    if args.input:
        fs, path = storage.filesystem(args.input)
        if not storage.exists(fs, path):
            raise MissingInputError(f"--input file not found: {storage.redact(args.input)}")
    tasks = [cls(date=day, source=args.input or "", **roots)
             for day in dates for cls in gold_tasks(dataset)]
    progress = _progress_listener(tasks, len(dates))
    outcome = runner.build(tasks, workers=args.workers, scheduler_host=args.scheduler_host,
                           scheduler_port=args.scheduler_port, dry_run=args.dry_run,
                           listener=progress)
    return _report(outcome, console, record, tasks)


def _progress_listener(tasks, total):
    wanted = {}
    for task in tasks:
        wanted.setdefault(task.date, set()).add(task.task_id)
    bar = Progress(total)

    def listener(task_id: str, status: str) -> None:
        if status != "DONE":
            return
        for day, ids in list(wanted.items()):
            if task_id in ids:
                ids.discard(task_id)
                if not ids:
                    del wanted[day]
                    bar.advance()
    return listener


def _report(outcome, console, record, tasks) -> int:
    with context.use(outcome.context):  # dry-run outputs live in the build's context
        counts = published_counts(outcome.ran, outcome.context.durations)
    if record["dry_run"] and counts:
        console.event("plan", "dry-run", "   would build (nothing is written):")
    for step, group in _by_step(counts):
        _stage_line(console, step, group)
        if record["dry_run"] and len(group) > 1:
            days = describe_dates([dt.date.fromisoformat(c.date) for c in group])
            console.event(step, "dry-run", f"      dates: {days}", dates=days)
        if record["dry_run"] and step == "bronze":
            names = [posixpath.basename(c.source) for c in group]
            shown = ", ".join(names[:10]) + (f" (+{len(names) - 10} more)" if len(names) > 10 else "")
            console.event(step, "dry-run", f"      from missing inputs: {shown}", inputs=names)
    record["counts"] = totals(counts)
    record["outputs"] = [c.location for c in counts]
    record["stages"] = [vars(c) for c in counts]
    record["inputs"] = [{"date": c.date, "path": c.source, "sha256": c.sha256}
                        for c in counts if c.step == "bronze"]
    record["tasks_run"] = len(outcome.ran)
    missing = _missing_text(outcome.missing)
    if outcome.failures:
        task, message = next(iter(outcome.failures.items()))
        more = len(outcome.failures) - 1
        text = message + (f" (and {more} more failed task(s); see the log)" if more else "")
        text += f"; also {missing}" if missing else ""
        return _fail(record, console, task.task_family, text, exitcodes.TASK_FAILED)
    if missing:
        first = min(outcome.missing, key=lambda t: t.date)
        return _fail(record, console, first.task_family, missing, exitcodes.MISSING_INPUT)
    if outcome.done_elsewhere:
        console.event("build", "done", "   the rest was built by other workers of the same "
                      "scheduler", done_elsewhere=True)
    elif outcome.status not in (luigi.LuigiStatusCode.SUCCESS,
                                luigi.LuigiStatusCode.SUCCESS_WITH_RETRY):
        return _fail(record, console, "schedule",
                     f"not everything ran: {outcome.summary}", exitcodes.NOT_RUN)
    # On success every requested gold table exists, built now or earlier: a
    # no-op rerun's manifest and latest pointer still say where the data is.
    # Counts and inputs describe only what this run built.
    requested = [task.output().location for task in tasks]
    record["outputs"] = requested + [o for o in record["outputs"] if o not in requested]
    record["already_complete"] = not outcome.ran
    if not outcome.ran:
        console.event("build", "complete", f"   already complete: nothing to build for "
                      f"{len({t.date for t in tasks})} date(s)", already_complete=True)
    return exitcodes.OK


def _missing_text(missing_tasks) -> str:
    """"missing landing file(s): a, b, c (and N more)", or "" when nothing is missing."""
    files = [t.output().location for t in sorted(missing_tasks, key=lambda t: t.date)]
    if not files:
        return ""
    shown = ", ".join(files[:3]) + (f" (and {len(files) - 3} more)" if len(files) > 3 else "")
    return f"missing landing file{'s' if len(files) > 1 else ''}: {shown}"


def _by_step(counts):
    groups = {}
    for count in counts:
        groups.setdefault(count.step, []).append(count)
    return groups.items()


def _stage_line(console, step, group) -> None:
    """One line per stage: rows summed over the dates built, and where they went."""
    rows = sum(c.rows or 0 for c in group)
    rejects = [c.rejects for c in group if c.rejects is not None]
    if len(group) == 1:
        where, dates = group[0].location, group[0].date
    else:
        where = posixpath.dirname(posixpath.dirname(group[0].location)) + "/"
        dates = f"{len(group)} dates"
    label = {"bronze": "rows landed", "silver": "rows in silver"}.get(step, "rows")
    extra = f", {sum(rejects)} rejected" if rejects else ""
    timed = [c.duration_ms for c in group if c.duration_ms is not None]
    console.event(step, "done", f"   {step:<22} {dates:<10}  {rows} {label}{extra}  -> {where}",
                  duration_ms=sum(timed) if timed else None, rows=rows, rejects=sum(rejects) if rejects else None, dates=len(group),
                  location=where)


def _fail(record, console, step, message, code) -> int:
    record.update(status="failure", failed_step=step, error=message)
    log.error("%s failed: %s", step, message)
    console.event(step, "failure", f"error: {message}", error=message)
    return code


def _publish(settings, record, manifest_day, console, code) -> int:
    try:
        record["records"] = ops.publish_run(context.current().area(settings.lake_root), record,
                                            manifest_day)
    except EtlError as exc:
        log.exception("could not file the run record")
        console.event("manifest", "failure", f"error: could not write run records: {exc}",
                      error=str(exc))
        return code if code != exitcodes.OK else exitcodes.TASK_FAILED
    return code


def _end(console, record, code) -> None:
    status = record["status"].upper()
    seconds = record["duration_ms"] / 1000
    counts = record.get("counts") or {}
    text = f"== {status} in {seconds:.1f}s (exit {code})"
    if counts:
        text += "  " + ", ".join(f"{k}={v}" for k, v in counts.items())
    console.event("end", record["status"], text, duration_ms=record["duration_ms"],
                  exit_code=code, counts=counts)
