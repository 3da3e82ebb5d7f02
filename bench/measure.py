"""Helpers shared by the scenarios: data, lakes, child processes, records."""

import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, "_work")
CODE = os.path.join(WORK, "code")  # the snapshot of etl_targets every run uses
STAGES = ["bronze/so", "silver/so", "silver/so_rejects", "gold/so_daily_sales",
          "gold/so_mtd_by_region"]


@dataclasses.dataclass
class Sizes:
    start: dt.date
    days: int
    rows: int
    big_rows: int
    big_date: dt.date
    mid_date: dt.date  # a mid-month catch-up date

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)


FULL = Sizes(dt.date(2026, 1, 1), 365, 200, 2_000_000, dt.date(2026, 3, 16), dt.date(2026, 6, 15))
QUICK = Sizes(dt.date(2026, 1, 1), 60, 200, 200_000, dt.date(2026, 3, 16), dt.date(2026, 2, 15))


@dataclasses.dataclass
class Record:
    """One measurement."""

    scenario: str  # "a" (etl_targets graph), "b" (stock graph), "c" (2M rows)
    phase: str  # cold, noop, catchup-MM-DD, silver+gold
    backend: str  # local or s3
    engine: str  # etl, stock, floor
    wall: float
    requests: Optional[int] = None
    rss_mb: Optional[float] = None
    ran: Optional[int] = None


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(message, flush=True)


def snapshot_code() -> str:
    """Copies etl_targets into bench/_work/code and makes every run use that copy.

    etl_targets is installed editable and may be edited while a long
    benchmark runs; measuring one frozen copy keeps all repetitions of all
    scenarios on the same code. Returns a description of that code.
    """
    source = os.path.join(REPO, "etl_targets")
    shutil.rmtree(CODE, ignore_errors=True)
    shutil.copytree(source, os.path.join(CODE, "etl_targets"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    sys.path.insert(0, CODE)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [CODE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    digest = hashlib.sha256()
    for folder, _, names in sorted(os.walk(os.path.join(CODE, "etl_targets"))):
        for name in sorted(n for n in names if n.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(name.encode() + handle.read())
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "etl_targets")
    return (f"etl_targets code: commit {head}{' + uncommitted changes' if dirty else ''}, "
            f"sources sha256 {digest.hexdigest()[:12]} (frozen copy in {CODE})")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def year_landing(sizes: Sizes, seed: int = 20260101) -> str:
    """The year-long landing folder, generated once and reused."""
    from etl_targets.datasets.samples.so import generate

    root = os.path.join(WORK, "data", f"year-{sizes.start}-{sizes.days}x{sizes.rows}-s{seed}")
    if not os.path.exists(os.path.join(root, "_done")):
        shutil.rmtree(root, ignore_errors=True)
        log(f"generating {sizes.days} days x {sizes.rows} rows under {root}")
        generate(sizes.start, sizes.days, sizes.rows, root, seed=seed)
        open(os.path.join(root, "_done"), "w").close()
    return root


def big_landing(sizes: Sizes, seed: int = 2_000_000) -> str:
    """One landing folder holding a single ``big_rows`` file, generated once."""
    from etl_targets.datasets.samples.so import write_so_day

    root = os.path.join(WORK, "data", f"big-{sizes.big_date}-{sizes.big_rows}-s{seed}")
    if not os.path.exists(os.path.join(root, "_done")):
        shutil.rmtree(root, ignore_errors=True)
        log(f"generating one day of {sizes.big_rows} rows under {root}")
        write_so_day(sizes.big_date, sizes.big_rows, root, random.Random(seed))
        open(os.path.join(root, "_done"), "w").close()
    return root


def child(spec: Dict, log_name: str, env: Optional[Dict] = None,
          script: str = "child.py", args: Sequence[str] = ()) -> Dict:
    """Runs one measurement in a fresh interpreter; its stderr goes to a log file."""
    os.makedirs(os.path.join(WORK, "logs"), exist_ok=True)
    log_path = os.path.join(WORK, "logs", log_name + ".log")
    command = [sys.executable, os.path.join(BENCH, script)]
    command += list(args) if args else [json.dumps(spec)]
    with open(log_path, "w") as stderr:
        done = subprocess.run(command, cwd=REPO, env=env or dict(os.environ),
                              stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"{log_name} failed (exit {done.returncode}); see {log_path}")
    return json.loads(lines[-1])


def remove_date_local(lake: str, day: dt.date) -> None:
    for stage in STAGES:
        shutil.rmtree(os.path.join(lake, stage, f"date={day.isoformat()}"), ignore_errors=True)


def remove_date_s3(client, bucket: str, prefix: str, day: dt.date,
                   stages: Sequence[str] = STAGES) -> None:
    for stage in stages:
        folder = f"{prefix}/{stage}/date={day.isoformat()}/"
        listed = client.list_objects_v2(Bucket=bucket, Prefix=folder).get("Contents", [])
        if listed:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})


def remove_prefix_s3(client, bucket: str, prefix: str) -> None:
    """Deletes every object below ``prefix/`` (a thousand per request)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def median(values: List[float]) -> Optional[float]:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
