"""Operational records kept in the lake itself, so they work on S3 too.

* ``_ops/manifests/<pipeline>/<pipeline>-YYYY-MM-DD.json``: one per business
  date, describing the data published for that date (its own stages' row
  counts and outputs, the landing files read, the run that built it). A
  run that builds nothing for the date (a no-op rerun) leaves it untouched
  (a no-op year costs no request here); a run that fails for the date
  keeps that description and only updates ``last_attempt``; a date that
  never succeeded gets the failed attempt as its manifest;
* ``_ops/latest/<pipeline>.json``: the record of the last *successful*
  run;
* ``_ops/runs/<pipeline>/<started>-<run_id>.json``: one object per run, never
  overwritten, so concurrent runs on different machines cannot collide.

Records are plain JSON written atomically through :mod:`etl_targets.lake.storage`.
"""

import concurrent.futures
import datetime as dt
import json
import os
import re
import socket
import uuid
from typing import Iterator, List, Optional

from etl_targets.lake import storage, writer
from etl_targets.lake.context import Area
from etl_targets.lake.layout import ops_folder

#: records written at once by :func:`publish_run` (a backfill's manifests: one per date)
WRITE_THREADS = 16


def new_run_id(now: Optional[dt.datetime] = None) -> str:
    """Sortable (to the millisecond) and unique across machines: ``20260127T020000123Z-1a2b3c4d``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{uuid.uuid4().hex[:8]}"


def who() -> dict:
    """Host and user, for "who ran this" in history."""
    return {"host": socket.gethostname(), "user": os.environ.get("USER") or os.environ.get("USERNAME")}


def _dump(record: dict) -> bytes:
    return json.dumps(record, indent=2, sort_keys=True, default=str).encode() + b"\n"


def manifest_path(pipeline: str, day: dt.date) -> str:
    return storage.join(ops_folder("manifests", pipeline), f"{pipeline}-{day.isoformat()}.json")


def latest_path(pipeline: str) -> str:
    return storage.join(ops_folder("latest"), f"{pipeline}.json")


def runs_folder(pipeline: str) -> str:
    return ops_folder("runs", pipeline)


def publish_run(lake: Area, record: dict, days: List[dt.date]) -> List[str]:
    """Writes the run's record, a manifest per asked date and (on success) the latest pointer.

    The record and the manifests are independent files, written at once; the
    latest pointer follows them.

    Returns:
        The locations written, for the console.
    """
    pipeline = record["pipeline"]
    written = {lake.join(runs_folder(pipeline), f"{record['run_id']}.json"): record}
    by_date = RunByDate(record, days)
    for day in days:
        path = lake.join(manifest_path(pipeline, day))
        if record["status"] == "success":
            if by_date.built(day):  # a new description: nothing to keep from the old one
                written[path] = date_manifest(by_date, day, None)
            continue  # a date built earlier keeps its manifest untouched (no read, no write)
        written[path] = date_manifest(by_date, day, _read_json(lake, path))
    with concurrent.futures.ThreadPoolExecutor(min(WRITE_THREADS, len(written))) as pool:
        # list(): the first failure raises here, after the other writes ended
        list(pool.map(lambda item: writer.write_bytes(lake.fs, item[0], _dump(item[1])),
                      written.items()))
    if record["status"] == "success":  # last: it points at what the records describe
        latest = lake.join(latest_path(pipeline))
        writer.write_bytes(lake.fs, latest, _dump(record))
        written[latest] = record
    return [lake.location(p) for p in written]


#: what ``last_attempt`` keeps of a run
ATTEMPT_FIELDS = ("run_id", "status", "exit_code", "error", "failed_step", "started_at",
                  "finished_at", "env", "dry_run")


#: where a lake location names its business date (the Hive partition)
_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")
#: the run record's lists with an entry per date (or per output): a date's manifest keeps its own
PER_DATE_LISTS = ("stages", "inputs", "outputs", "anomalies", "dates_built")


class RunByDate:
    """A run record's per-date entries, grouped by date once.

    A backfill's record holds thousands of stages, inputs and outputs; each
    date's manifest takes only its own (and those of the dates built for it
    that were not asked, such as the earlier days a month-to-date table
    needed), so manifests stay the size of one date and writing them stays
    linear in the number of dates.
    """

    def __init__(self, record: dict, days: List[dt.date]):
        self.record = record
        asked = {day.isoformat() for day in days}
        self._unasked = sorted(d for d in record.get("dates_built", []) if d not in asked)
        self._entries = {name: {} for name in PER_DATE_LISTS}
        for name in PER_DATE_LISTS:
            for entry in record.get(name) or []:
                self._entries[name].setdefault(_date_of(name, entry), []).append(entry)

    def built(self, day: dt.date) -> bool:
        return day.isoformat() in self._entries["stages"]

    def earlier(self, iso: str) -> List[str]:
        """The dates built for ``iso``'s sake: built by the run, not asked, before it."""
        return [d for d in self._unasked if d < iso]

    def of(self, name: str, dates: List[str]) -> list:
        return [entry for d in dates for entry in self._entries[name].get(d, [])]


def _date_of(name: str, entry) -> Optional[str]:
    if name == "dates_built":
        return entry
    if name == "outputs":
        found = _PARTITION.search(entry)
        return found.group(1) if found else None
    return entry.get("date")


def date_manifest(by_date: RunByDate, day: dt.date, previous: Optional[dict]) -> dict:
    """The manifest of one date after a run (see the module docstring).

    Args:
        by_date: the run's record, grouped by date.
        day: the business date.
        previous: the date's manifest before this run, or None.
    """
    record, iso = by_date.record, day.isoformat()
    kept = previous is not None and previous.get("status") == "success" and (
        record["status"] != "success" or not by_date.built(day))
    if kept:
        manifest = dict(previous)
    else:
        earlier = by_date.earlier(iso)
        own = by_date.of("stages", [iso])
        manifest = {key: value for key, value in record.items() if key not in PER_DATE_LISTS}
        manifest.update(
            dates=[iso], date=iso, stages=own, earlier_dates=earlier,
            counts={stage["step"]: stage["rows"] for stage in own},
            inputs=by_date.of("inputs", earlier + [iso]),
            outputs=by_date.of("outputs", earlier + [iso]),
            dates_built=by_date.of("dates_built", earlier + [iso]))
        anomaly = by_date.of("anomalies", [iso])
        manifest["anomalies"] = anomaly
        if anomaly:
            manifest["anomaly"] = anomaly[0]
        rejected = [stage["rejects"] for stage in own if stage.get("rejects") is not None]
        if rejected:
            manifest["counts"]["rejected"] = sum(rejected)
    manifest["last_attempt"] = {key: record.get(key) for key in ATTEMPT_FIELDS}
    return manifest


def _read_json(lake: Area, path: str) -> Optional[dict]:
    try:
        return json.loads(storage.read_bytes(lake.fs, path))
    except FileNotFoundError:
        return None


def read_latest(lake: Area, pipeline: str) -> Optional[dict]:
    """The last successful run's record, or None if there was none."""
    return _read_json(lake, lake.join(latest_path(pipeline)))


def iter_runs(lake: Area, pipelines: List[str]) -> Iterator[dict]:
    """Run records, newest first (names sort by start time)."""
    paths = []
    for pipeline in pipelines:
        paths += [p for p in storage.list_files(lake.fs, lake.join(runs_folder(pipeline)))
                  if p.endswith(".json")]
    for path in sorted(paths, key=lambda p: p.rsplit("/", 1)[-1], reverse=True):
        yield json.loads(storage.read_bytes(lake.fs, path))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> dt.timedelta:
    """``26h``, ``90m``, ``2d``, ``3600s`` -> timedelta.

    Raises:
        ValueError: naming the bad value.
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like 26h, 90m, 2d: {text!r}")
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
