"""Operational records kept in the lake itself, so they work on S3 too.

* ``_ops/manifests/<pipeline>/<pipeline>-YYYY-MM-DD.json``: the manifest of
  the last run for that business date (a backfill is filed under its end
  date), success or failure;
* ``_ops/latest/<pipeline>.json``: the manifest of the last *successful*
  run; consumers read it to know what is fresh;
* ``_ops/runs/<pipeline>/<started>-<run_id>.json``: one object per run, never
  overwritten, so concurrent runs on different machines cannot collide.

Records are plain JSON written atomically through :mod:`etl_targets.lake.storage`.
"""

import datetime as dt
import json
import os
import re
import socket
import uuid
from typing import Iterator, List, Optional

from etl_targets.lake import storage
from etl_targets.lake.context import Area
from etl_targets.lake.layout import ops_folder


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


def publish_run(lake: Area, record: dict, manifest_day: dt.date) -> List[str]:
    """Writes the run's record, its manifest and (on success) the latest pointer.

    Returns:
        The locations written, for the console.
    """
    pipeline = record["pipeline"]
    data = _dump(record)
    paths = [
        lake.join(runs_folder(pipeline), f"{record['run_id']}.json"),
        lake.join(manifest_path(pipeline, manifest_day)),
    ]
    if record["status"] == "success":
        paths.append(lake.join(latest_path(pipeline)))
    for path in paths:
        storage.write_bytes(lake.fs, path, data)
    return [lake.location(p) for p in paths]


def read_latest(lake: Area, pipeline: str) -> Optional[dict]:
    """The last successful run's manifest, or None if there was none."""
    try:
        return json.loads(storage.read_bytes(lake.fs, lake.join(latest_path(pipeline))))
    except FileNotFoundError:
        return None


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
