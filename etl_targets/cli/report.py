"""What a finished build says: console lines and the run record's fields.

A single-date run shows that date's own line per stage (its input file, rows
landed, rejected, duplicates dropped, rows in silver, each gold table) and
one line summing the earlier dates a month-to-date table needed; a backfill
shows one line per stage over its dates and the dates it built, as ranges.
A dry run says what it *would* land and build.
"""

import datetime as dt
import json
import logging
import posixpath
from typing import Dict, List

import luigi

from etl_targets.cli import exitcodes
from etl_targets.dates import describe_dates
from etl_targets.graph.registry import TASKS
from etl_targets.lake import context, layout, storage, writer
from etl_targets.runs import anomalies
from etl_targets.runs.counts import StageCount, published_counts, totals

log = logging.getLogger("etl_targets")

LABELS = {"bronze": "rows landed", "silver": "rows in silver"}
DRY_LABELS = {"bronze": "rows to land", "silver": "rows for silver"}


def report(outcome, console, record, tasks, dates: List[dt.date]) -> int:
    """Prints what the build did, fills the record, and returns the exit status."""
    counts = record_counts(outcome, record)
    _print_counts(console, counts, dates, record["dry_run"])
    found = flag_anomalies(console, record, tasks, record["dry_run"])
    failed = _failure(outcome, dates)
    if failed is not None:
        step, message, code = failed
        return fail(record, console, step, message, code)
    if outcome.done_elsewhere:
        console.event("build", "done", "   the rest was built by other workers of the same "
                      "scheduler", done_elsewhere=True)
    # On success every requested gold table exists, built now or earlier: a
    # no-op rerun's record and latest pointer still say where the data is.
    requested = [task.output().location for task in tasks]
    known = set(requested)
    record["outputs"] = requested + [c.location for c in counts if c.location not in known]
    record["already_complete"] = not outcome.ran
    if not outcome.ran:
        console.event("build", "already_complete", f"   already complete: nothing to build for "
                      f"{len(dates)} date(s)", already_complete=True)
    if found and record.get("fail_on_anomaly"):
        return fail(record, console, "anomaly", f"volume anomaly: {found[0][1].describe()}"
                    + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""),
                    exitcodes.ANOMALY)
    return exitcodes.OK


def record_counts(outcome, record) -> List[StageCount]:
    """Fills the record with what the tasks that ran published; returns their counts.

    Also all a stopped run can say: its per-date manifests then describe the
    dates its finished windows built.
    """
    with context.use(outcome.context):  # dry-run outputs live in the build's context
        counts = published_counts(outcome.ran, outcome.context.durations)
    record["counts"] = totals(counts)
    record["stages"] = [vars(c) for c in counts]
    record["inputs"] = [{"date": c.date, "path": c.source, "sha256": c.sha256}
                        for c in counts if c.step == "bronze"]
    record["tasks_run"] = len(outcome.ran)
    record["dates_built"] = sorted({c.date for c in counts})
    return counts


def _failure(outcome, dates):
    """(step, one-line message, exit status) of a failed build, or None."""
    missing = missing_text(outcome.missing, dates)
    if outcome.failures:
        task, message = next(iter(outcome.failures.items()))
        more = len(outcome.failures) - 1
        text = message + (f" (and {more} more failed task(s); see the log)" if more else "")
        text += f"; also {missing}" if missing else ""
        return task.task_family, text, exitcodes.TASK_FAILED
    if missing:
        return outcome.missing[0].task_family, missing, exitcodes.MISSING_INPUT
    if not outcome.done_elsewhere and outcome.status not in (
            luigi.LuigiStatusCode.SUCCESS, luigi.LuigiStatusCode.SUCCESS_WITH_RETRY):
        return "schedule", f"not everything ran: {outcome.summary}", exitcodes.NOT_RUN
    return None


def missing_text(missing_tasks, asked: List[dt.date]) -> str:
    """"missing landing file(s): a, b, c (and N more)", the asked dates' files first."""
    wanted = set(asked)
    ordered = sorted(missing_tasks, key=lambda t: (t.date not in wanted, t.date))
    files = [t.output().location for t in ordered]
    if not files:
        return ""
    shown = ", ".join(files[:3]) + (f" (and {len(files) - 3} more)" if len(files) > 3 else "")
    return f"missing landing file{'s' if len(files) > 1 else ''}: {shown}"


def _print_counts(console, counts: List[StageCount], dates: List[dt.date], dry_run: bool) -> None:
    if dry_run and counts:
        console.event("build", "would_build", "   would land and build (nothing is written):")
    if len(dates) == 1:
        asked = dates[0].isoformat()
        own = [c for c in counts if c.date == asked]
        for count in own:
            _one_date_line(console, count, dry_run)
        _other_dates_line(console, [c for c in counts if c.date < asked], dry_run, "earlier",
                          "that the date's tables read")
        _other_dates_line(console, [c for c in counts if c.date > asked], dry_run, "later",
                          "whose tables read what was refreshed")
        return
    for step, group in _by_step(counts).items():
        _stage_line(console, step, group, dry_run)
        if dry_run and step == "bronze":
            names = [posixpath.basename(c.source) for c in group]
            shown = ", ".join(names[:10]) + (f" (+{len(names) - 10} more)" if len(names) > 10 else "")
            console.event(step, "would_build", f"      would read: {shown}", inputs=names)
    if counts:
        built = describe_dates([dt.date.fromisoformat(c.date) for c in counts])
        console.event("dates_built", "would_build" if dry_run else "done",
                      f"   dates {'to build' if dry_run else 'built'}: {built}", dates_built=built)


def _one_date_line(console, count: StageCount, dry_run: bool) -> None:
    label = (DRY_LABELS if dry_run else LABELS).get(count.step, "rows")
    extra = "" if count.rejects is None else f", {count.rejects} rejected"
    if count.duplicates is not None:
        extra += f", {count.duplicates} duplicates dropped"
    source = f"   from {count.source}" if count.source else ""
    rows = (f"{count.rows} {label}" if count.rows is not None else
            f"{'to land' if dry_run else 'landed'} (records not counted: not well-formed CSV)")
    console.event(count.step, "would_build" if dry_run else "done",
                  f"   {count.step:<22} {count.date:<10}  {rows}{extra}  "
                  f"-> {count.location}{source}",
                  duration_ms=count.duration_ms, rows=count.rows, rejects=count.rejects,
                  duplicates=count.duplicates, dates=1, location=count.location,
                  source=count.source)


def _other_dates_line(console, counts: List[StageCount], dry_run: bool, which: str,
                      why: str) -> None:
    """Other dates a single-date run built, summed on one line.

    Earlier ones: the days a month-to-date (or trailing) table read; later
    ones: tables a ``--refresh`` rebuilt because they read what it refreshed.
    """
    if not counts:
        return
    days = describe_dates([dt.date.fromisoformat(c.date) for c in counts])
    number = len({c.date for c in counts})
    sums = ", ".join(f"{step} {sum(c.rows or 0 for c in group)} "
                     f"{(DRY_LABELS if dry_run else LABELS).get(step, 'rows')}"
                     for step, group in _by_step(counts).items())
    verb = "would also build" if dry_run else "also built"
    console.event(f"{which}_dates", "would_build" if dry_run else "done",
                  f"   {verb} {number} {which} date(s) {why} ({days}): {sums}",
                  dates=number, dates_built=days)


def _by_step(counts) -> Dict[str, List[StageCount]]:
    groups: Dict[str, List[StageCount]] = {}
    for count in counts:
        groups.setdefault(count.step, []).append(count)
    return groups


def _stage_line(console, step: str, group: List[StageCount], dry_run: bool) -> None:
    """One line per stage: rows summed over the dates built, and where they went."""
    rows = sum(c.rows or 0 for c in group)
    rejects = [c.rejects for c in group if c.rejects is not None]
    duplicates = [c.duplicates for c in group if c.duplicates is not None]
    if len(group) == 1:
        where, dates = group[0].location, group[0].date
    else:
        where = posixpath.dirname(posixpath.dirname(group[0].location)) + "/"
        dates = f"{len(group)} dates"
    label = (DRY_LABELS if dry_run else LABELS).get(step, "rows")
    extra = f", {sum(rejects)} rejected" if rejects else ""
    extra += f", {sum(duplicates)} duplicates dropped" if duplicates else ""
    timed = [c.duration_ms for c in group if c.duration_ms is not None]
    console.event(step, "would_build" if dry_run else "done",
                  f"   {step:<22} {dates:<10}  {rows} {label}{extra}  -> {where}",
                  duration_ms=sum(timed) if timed else None, rows=rows,
                  rejects=sum(rejects) if rejects else None,
                  duplicates=sum(duplicates) if duplicates else None,
                  dates=len(group), location=where)


def fail(record, console, step, message, code) -> int:
    """Marks the record failed and prints the one-line error (never a secret, whoever wrote it)."""
    message = storage.redact(" ".join(str(message).split()))
    record.update(status="failure", failed_step=step, error=message)
    log.error("%s failed: %s", step, message)
    console.event(step, "failed", f"error: {message}", error=message)
    return code


def end(console, record, code) -> None:
    """The closing banner: status, duration, exit status and totals."""
    status = record["status"].upper()
    seconds = record["duration_ms"] / 1000
    counts = record.get("counts") or {}
    text = f"== {status} in {seconds:.1f}s (exit {code})"
    if counts:
        text += "  " + ", ".join(f"{k}={v}" for k, v in counts.items())
    console.event("end", "succeeded" if code == exitcodes.OK else "failed", text,
                  duration_ms=record["duration_ms"], exit_code=code, counts=counts,
                  error=record.get("error"))


def flag_anomalies(console, record, tasks, dry_run: bool) -> list:
    """Warns about dates whose landed row count is out of line with bronze's history.

    Counts of this run come from the record; earlier dates' from their bronze
    manifests (one listing, then one small read per date). Each anomaly is a
    warning line, an entry in the record (and so in the date's manifest) and,
    outside dry runs, a marker ``_ops/anomalies/<dataset>/date=D.json`` that
    ``status`` shows.

    Returns:
        The anomalies found.
    """
    found = []
    by_dataset = {}
    for stage in record.get("stages", []):
        if stage["step"] == "bronze" and stage.get("rows") is not None:
            by_dataset.setdefault(stage["dataset"], {})[dt.date.fromisoformat(stage["date"])] = \
                stage["rows"]
    for folder, counts in by_dataset.items():
        probe = next(t for t in tasks if folder in _datasets_of(t))
        judged = anomalies.judge_all(counts, _manifest_rows(probe, folder))
        for anomaly in judged:
            found.append((folder, anomaly))
            console.event("anomaly", "warning", f"   warning: volume anomaly in {folder} "
                          f"{anomaly.describe()}", anomaly=anomaly.as_dict(), dataset_name=folder)
        if not dry_run:
            _mark(probe, folder, judged, counts)
    record["anomalies"] = [dict(a.as_dict(), dataset=f) for f, a in found]
    return found


def _datasets_of(task) -> set:
    """The datasets a requested task reads (itself and what it requires, recursively)."""
    seen, stack, found = set(), [task], set()
    while stack:
        current = stack.pop()
        if current.task_id in seen:
            continue
        seen.add(current.task_id)
        found.add(current.dataset.folder)
        stack.extend(luigi.task.flatten(current.requires()))
    return found


def _bronze_class(folder: str):
    from etl_targets.datasets import DATASETS

    return TASKS[f"Bronze{DATASETS[folder].code}"]


def _manifest_rows(probe, folder: str):
    """date -> rows of its bronze manifest, answered from one listing of bronze."""
    build = context.BuildContext()
    bronze = _bronze_class(folder)

    def rows(day: dt.date):
        with context.use(build):
            manifest = bronze(date=day, lake_root=probe.lake_root,
                              landing_root=probe.landing_root).output()["manifest"]
            if not manifest.exists():
                return None
            return json.loads(manifest.read_bytes()).get("rows")
    return rows


def _mark(probe, folder: str, judged, counts) -> None:
    """Writes the markers of ``judged``; removes old ones of dates landed again and now ordinary."""
    from etl_targets.datasets import DATASETS

    dataset = DATASETS[folder]
    build = context.BuildContext()
    lake = build.area(probe.lake_root)
    for anomaly in judged:
        marker = lake.join(layout.anomaly_marker(dataset, anomaly.date))
        writer.write_bytes(lake.fs, marker, json.dumps(anomaly.as_dict(), indent=2).encode() + b"\n")
    listing = build.listing(lake, lake.join(layout.anomalies_folder(dataset)))
    for day in set(counts) - {a.date for a in judged}:
        marker = lake.join(layout.anomaly_marker(dataset, day))
        if lake.key(marker) in listing:
            storage.remove(lake.fs, marker)
