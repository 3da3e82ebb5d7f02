"""``etl-targets <dataset> ...``: build every gold table of a dataset for some dates.

Wiring only: resolve settings, open the log, build the luigi tasks from the
declaration, run them through :func:`etl_targets.graph.runner.build`, print, file
the run's manifest and record, return the exit status.
"""

import collections
import contextlib
import datetime as dt
import logging
import os
import signal
import threading
import time
from typing import Iterator, List

from etl_targets.graph import runner
from etl_targets.lake import storage
from etl_targets.runs import records as ops
from etl_targets.cli import alerts, exitcodes
from etl_targets.cli.arguments import add_dates, add_env, check_dates, positive_int
from etl_targets.cli.console import Console, Progress
from etl_targets.cli import refresh
from etl_targets.cli.report import end, fail, record_counts, report
from etl_targets.cli.logfile import log_path, run_log
from etl_targets.config import business_timezone, load_settings
from etl_targets.dates import business_today, days_between, parse_date
from etl_targets.errors import (ConfigError, EtlError, MissingBucket, MissingInputError, Stopped,
                                StorageError)
from etl_targets.lake import context, layout
from etl_targets.datasets import Pipeline, pipelines
from etl_targets.graph.registry import gold_tasks

log = logging.getLogger("etl_targets")


def add_commands(commands, datasets) -> None:
    """One subcommand per dataset (``etl-targets so --date D``), per pipeline of gold tables
    declared with their own (``cover``), and ``all`` (every gold table, one build)."""
    for name, help_text, dataset in pipelines(datasets):
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(dataset=dataset, run=run_pipeline, check=_check)
        add_dates(sub)
        sub.add_argument("--input", help="use this file (any fsspec URL) as the landing file "
                                          "of the one --date")
        sub.add_argument("--dry-run", action="store_true",
                         help="parse, validate and transform in memory; write nothing")
        sub.add_argument("--fail-on-anomaly", action="store_true",
                         help="exit 9 when a date's landed row count is out of line with its "
                              "history (it is a warning otherwise)")
        sub.add_argument("--refresh", action="store_true",
                         help="first rebuild what `status` reports out of date in the range "
                              "(a corrected landing file, an input newer than its output)")
        add_env(sub)
        sub.add_argument("--workers", type=positive_int, default=1, help="worker processes")
        sub.add_argument("--scheduler-host", help="central luigid host (default: in-process)")
        sub.add_argument("--scheduler-port", type=positive_int, help="central luigid port")
        sub.add_argument("--log-format", choices=("text", "json"), default="text")
        sub.add_argument("--alert-cmd", help="shell command run when the run fails, with "
                                              "ETL_PIPELINE, ETL_ENV, ETL_EXIT_CODE, ETL_DATES and "
                                              "ETL_FAILURE_LINE set (default: $ETL_ALERT_CMD)")


def _check(parser, args) -> None:
    check_dates(parser, args)
    if args.input and args.start:
        parser.error("--input overrides one date's file: use it with --date")
    if args.input and isinstance(args.dataset, Pipeline):
        parser.error("--input overrides one dataset's file: use it with that dataset's subcommand")
    if args.input and getattr(args.dataset, "source", None) is not None:
        parser.error(f"--input names a landing file; {args.dataset.folder} lands from its HTTP API")
    if args.scheduler_port and not args.scheduler_host:
        parser.error("--scheduler-port needs --scheduler-host")


def run_pipeline(args, datasets) -> int:
    """The dataset subcommand. Returns the exit status."""
    dataset = args.dataset
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.monotonic()
    run_id = ops.new_run_id(started)
    dates = _dates(args)
    console = Console(run_id, args.log_format, dataset=dataset.folder, dates=dates)
    try:
        settings = load_settings(args.env)
    except ConfigError as exc:
        console.event("config", "failed", f"error: {exc}", error=str(exc))
        return exitcodes.for_error(exc)
    record = {
        "pipeline": dataset.folder, "run_id": run_id, "env": settings.env or "default",
        "dates": [d.isoformat() for d in dates], "dry_run": args.dry_run,
        "fail_on_anomaly": args.fail_on_anomaly,
        "started_at": started.isoformat(timespec="seconds"),
        "landing_root": storage.redact(settings.landing_root),
        "lake_root": storage.redact(settings.lake_root),
        "input": storage.redact(args.input) if args.input else None, **ops.who(),
    }
    log_file = None if args.dry_run else log_path(settings.log_dir, dataset.folder, dates[-1],
                                                  settings.env)
    with run_log(log_file, run_id) as log_error, console.data_warnings(), _stop_on_sigterm():
        _banner(console, dataset, record, args)
        log.info("run %s started: %s", run_id, record)
        try:
            if log_error is not None:  # no log file: nothing runs, the failure is recorded
                raise log_error
            code = _build(args, dataset, dates, settings, console, record)
        except EtlError as exc:
            log.exception("run failed")
            code = fail(record, console, "run", str(exc), exitcodes.for_error(exc))
        except KeyboardInterrupt as exc:  # SIGTERM (see _stop_on_sigterm) or Ctrl-C
            name = getattr(exc, "signal_name", "SIGINT")
            log.warning("run stopped by %s", name, exc_info=True)
            code = fail(record, console, "run", f"stopped by {name} before the build finished: "
                        f"what was not finished is not published; rerun to finish",
                        exitcodes.STOPPED[name])
        except Exception as exc:  # noqa: BLE001 - every failure gets a record
            log.exception("unexpected error")
            code = fail(record, console, "run", f"internal error: {type(exc).__name__}: {exc}",
                         exitcodes.INTERNAL_ERROR)
        finished = dt.datetime.now(dt.timezone.utc)
        record["finished_at"] = finished.isoformat(timespec="seconds")
        record["duration_ms"] = int((time.monotonic() - clock) * 1000)
        record.setdefault("status", "success" if code == exitcodes.OK else "failure")
        record["exit_code"] = code
        if not args.dry_run:
            code = _publish(settings, record, dates, console, code)
        log.info("run %s finished: status=%s exit=%s", run_id, record["status"], code)
        end(console, record, code)
        alerts.after_run(args, settings.log_dir, dates, code, record.get("error"))
    return code


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the run like Ctrl-C does: recorded, alerted, exit 143.

    Kubernetes (a deadline, an eviction), systemd and ``timeout`` send SIGTERM
    and wait a while before SIGKILL; Python's default would end the process
    on the spot, with no run record, no failures.log line and no alert. The
    signal raises :class:`~etl_targets.errors.Stopped` in the main thread
    instead; a second one, while the stop is being recorded, is ignored.
    Only the main thread may set handlers (a run from another thread keeps
    the default).
    """
    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Stopped("SIGTERM")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _dates(args) -> List[dt.date]:
    if args.start:
        return list(days_between(args.start, args.end))
    return [args.date or parse_date("today", today=business_today(business_timezone()))]


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
    }, dates=len(dates))


def _build(args, dataset, dates, settings, console, record) -> int:
    roots = {"lake_root": settings.lake_root, "landing_root": settings.landing_root}
    build = context.BuildContext(dry_run=args.dry_run)
    landing = build.area(settings.landing_root)
    _check_landing(build, landing, dataset)
    source = _input_file(args.input, dataset, landing) if args.input else ""
    rebuild = _refresh(args, dataset, dates, roots, source, console, record)
    tasks = [cls(date=day, source=source, **roots)
             for day in dates for cls in gold_tasks(dataset)]
    asked = {task.task_id for task in tasks}
    # The rebuilt tables come first: luigi keeps the instance of a task id it
    # was given last, and only the asked tasks carry the --input file.
    tasks = [task for task in rebuild if task.task_id not in asked] + tasks
    progress = _progress_listener(tasks, len({task.date for task in tasks}))
    try:
        outcome = runner.build(tasks, workers=args.workers, scheduler_host=args.scheduler_host,
                               scheduler_port=args.scheduler_port, dry_run=args.dry_run,
                               listener=progress, build_context=build)
    except KeyboardInterrupt as stop:  # the record still says what finished windows built
        if getattr(stop, "outcome", None) is not None:
            record_counts(stop.outcome, record)
        raise
    code = report(outcome, console, record, tasks, dates)
    if outcome.not_attempted:  # the build stops at its first window with a failed task
        record["dates_not_attempted"] = sorted({t.date.isoformat() for t in outcome.not_attempted})
        log.warning("not attempted after the failure: %s", record["dates_not_attempted"])
    if source:
        _record_input(record, source, dates[0])
    return code


def _check_landing(build, landing, dataset) -> None:
    """Refuses a landing root that does not exist, at no cost when its files are there.

    The dataset's landing folder is listed once for the build anyway (its
    files' existence); only when that listing is empty is the root itself
    looked for.

    Raises:
        ConfigError: the landing root does not exist.
        StorageError: the landing area cannot be read.
    """
    missing = ConfigError(f"landing_root {storage.redact(landing.url)} does not exist")
    try:
        if not isinstance(dataset, Pipeline) and dataset.source is None:
            try:
                if build.listing(landing, landing.join(layout.landing_folder(dataset))):
                    return
            except StorageError:
                pass  # the build reports it, naming the file it looked for
        if not storage.exists(landing.fs, landing.path):
            raise missing
    except MissingBucket as exc:  # its bucket is not there either
        raise missing from exc


def _record_input(record, source: str, day) -> None:
    """``input`` names the ``--input`` file only if this run landed it; never a claim."""
    record["input_given"] = storage.redact(source)
    used = any(stage["step"] == "bronze" and stage["date"] == day.isoformat()
               for stage in record.get("stages", []))
    record["input"] = storage.redact(source) if used else None
    if not used:
        record["input_not_used"] = "the date's bronze already holds these bytes"


def _refresh(args, dataset, dates, roots, source, console, record) -> list:
    """Moves out-of-date outputs of the asked dates aside; returns the gold tasks to build again.

    Those include tables of other subcommands and dates built from what
    moved (days of cover of the next six days, later month-to-date tables).
    """
    wanted = refresh.out_of_date(dataset, dates, roots) if args.refresh else []
    if source:
        changed = refresh.changed_input(dataset, dates[0], source, roots)
        wanted = [r for r in wanted if r.date != dates[0]] + ([changed] if changed else [])
    record["refreshed"] = [item.as_dict() for item in wanted]
    if not wanted:
        return []
    moved = refresh.invalidate(wanted, roots, record["run_id"], args.dry_run)
    record["refreshed_outputs"] = moved.locations
    verb = "would refresh" if args.dry_run else "refreshing"
    for item in wanted:
        stage = f"{item.dataset.folder} {item.stage}" if isinstance(dataset, Pipeline) else item.stage
        console.event("refresh", "would_build" if args.dry_run else "started",
                      f"   {verb} {item.date} from {stage}: {item.reason}",
                      refreshed_date=item.date.isoformat(), stage=item.stage, reason=item.reason)
    return moved.rebuild


def _input_file(given: str, dataset, landing) -> str:
    """The ``--input`` file's URL; a bare name is looked for here, then in the landing folder.

    Raises:
        MissingInputError: naming every place looked.
    """
    bare = "://" not in given and "/" not in given and os.sep not in given
    places = [os.path.abspath(given), landing.location(landing.join(dataset.folder, given))] \
        if bare else [given]
    for place in places:
        fs, path = storage.filesystem(place)
        if storage.exists(fs, path):
            return place
    raise MissingInputError("--input file not found: " + storage.redact(given) +
                            (f" (looked in {', '.join(storage.redact(p) for p in places)})"
                             if bare else ""))


def _progress_listener(tasks, total):
    """Advances the progress bar once all requested tasks of a date are done.

    Constant work per status change (a backfill reports thousands of them).
    """
    date_of = {task.task_id: task.date for task in tasks}
    left = collections.Counter(date_of.values())
    bar = Progress(total)

    def listener(task_id: str, status: str) -> None:
        if status != "DONE" or task_id not in date_of:
            return
        day = date_of.pop(task_id)
        left[day] -= 1
        if not left[day]:
            bar.advance()
    return listener


def _publish(settings, record, dates, console, code) -> int:
    try:
        record["records"] = ops.publish_run(context.current().area(settings.lake_root), record,
                                            dates)
    except EtlError as exc:
        log.exception("could not file the run record")
        text = f"could not write run records: {exc}"
        if code == exitcodes.OK:  # the run failed after all: its banner, log line and alert say so
            return fail(record, console, "manifest", text, exitcodes.for_error(exc))
        console.event("manifest", "failed", f"error: {text}", error=text)
        return code
    return code
