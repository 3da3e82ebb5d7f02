"""Helpers shared by the scenarios: sizes, data, the frozen code, child processes, records."""

import atexit
import configparser
import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, "_work")
CODE = os.path.join(WORK, "code")  # the snapshot of etl_targets (and luigi.cfg) every run uses
STAGES = ["bronze/so", "silver/so", "silver/so_rejects", "gold/so_daily_sales",
          "gold/so_mtd_by_region"]
#: seconds one measured child may take before it is stopped (a hung run must end the bench)
CHILD_TIMEOUT = 3 * 3600


@dataclasses.dataclass
class Sizes:
    start: dt.date  # first date of the year scenarios
    year_days: int  # a "year" (365; fewer with --quick)
    rows: int  # rows per small day
    stock_s3_days: int  # stock luigi's cold build on S3 covers only this many dates
    backfill_years: Sequence[int]
    all_years: Sequence[int]  # `etl-targets all` (4 datasets) backfills, when asked for
    big_rows: Sequence[int]
    big_date: dt.date

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.year_days - 1)

    def span(self, years: int) -> List[dt.date]:
        """(first, last) date of a backfill of ``years`` "years", from BACKFILL_START."""
        return [BACKFILL_START, BACKFILL_START + dt.timedelta(days=years * self.year_days - 1)]


BACKFILL_START = dt.date(2017, 1, 1)
FULL = Sizes(dt.date(2026, 1, 1), 365, 200, 31, (1, 2, 4, 10), (1, 10),
             (2_000_000, 5_000_000), dt.date(2026, 3, 16))
QUICK = Sizes(dt.date(2026, 1, 1), 30, 200, 10, (1, 2, 4, 10), (1, 4),
              (200_000, 500_000), dt.date(2026, 3, 16))


@dataclasses.dataclass
class Record:
    """One measurement."""

    scenario: str  # year, backfill, bigday, status, workers
    group: str  # the table's first column: backend, size, ...
    run: str  # cold, noop, status, ...
    variant: str  # etl, stock, pyarrow, duckdb, etl-w4, ...
    wall: float
    requests: Optional[int] = None
    rss_mb: Optional[float] = None
    dates: Optional[int] = None
    cpu: Optional[float] = None  # user + system seconds (drifts less than wall on a shared machine)

    def key(self):
        return (self.scenario, self.group, self.run, self.variant)


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- the frozen code

def snapshot_code() -> str:
    """Copies etl_targets and luigi.cfg into bench/_work/code; every child uses that copy.

    etl_targets is installed editable and may be edited while a long
    benchmark runs; measuring one frozen copy keeps all repetitions of all
    scenarios on the same code. Returns a description of that code.
    """
    source = os.path.join(REPO, "etl_targets")
    shutil.rmtree(CODE, ignore_errors=True)
    shutil.copytree(source, os.path.join(CODE, "etl_targets"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _bench_config(os.path.join(REPO, "luigi.cfg"), os.path.join(CODE, "luigi.cfg"))
    compile_bytecode([os.path.join(CODE, "etl_targets")] + site_packages())
    sys.path.insert(0, CODE)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [CODE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    os.environ["LUIGI_CONFIG_PATH"] = os.path.join(CODE, "luigi.cfg")
    digest = hashlib.sha256()
    for folder, _, names in sorted(os.walk(os.path.join(CODE, "etl_targets"))):
        for name in sorted(n for n in names if n.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(name.encode() + handle.read())
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "etl_targets")
    return (f"etl_targets code: commit {head}{' + uncommitted changes' if dirty else ''}, "
            f"sources sha256 {digest.hexdigest()[:12]} (frozen copy in {CODE})")


def site_packages() -> List[str]:
    """The interpreter's installed-package folders (the venv's, when run from one)."""
    import sysconfig

    return sorted({sysconfig.get_paths()[key] for key in ("purelib", "platlib")})


def compile_bytecode(folders: Sequence[str]) -> None:
    """Writes the ``.pyc`` of every module below ``folders`` that lacks an up-to-date one.

    pip compiles what it installs, so an operator's interpreter imports
    bytecode. An environment with ``PYTHONDONTWRITEBYTECODE`` set (at install
    time or now) has none, and every child would then compile luigi,
    botocore, pandas and etl_targets from source inside its timed region:
    about a second per run, paid by etl_targets (which imports s3fs and
    pyarrow's submodules lazily) more than by the scripts. Up-to-date files
    are skipped, so a second bench pays nothing.
    """
    import compileall

    for folder in folders:
        if os.path.isdir(folder):
            compileall.compile_dir(folder, quiet=2, workers=0)


def _bench_config(source: str, target: str) -> None:
    """The repository's luigi.cfg, with a reject limit the generated days stay under.

    The generators' random broken rows reach 5% on the odd small PO/INV/GL
    day; a backfill measures speed, not that gate.
    """
    config = configparser.ConfigParser(interpolation=None)
    config.optionxform = str
    config.read(source)
    for dataset in ("SO", "PO", "INV", "GL"):
        section = f"Silver{dataset}"
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, "max_reject_ratio", "0.5")
    with open(target, "w") as handle:
        config.write(handle)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------- generated data

def _generated(root: str, what: str, make) -> str:
    if not os.path.exists(os.path.join(root, "_done")):
        shutil.rmtree(root, ignore_errors=True)
        log(f"generating {what} under {root}")
        make(root)
        open(os.path.join(root, "_done"), "w").close()
    return root


def year_landing(sizes: Sizes, seed: int = 20260101) -> str:
    """The year-long SO landing folder, generated once and reused."""
    from etl_targets.datasets.samples.so import generate

    root = os.path.join(WORK, "data", f"year-{sizes.start}-{sizes.year_days}x{sizes.rows}-s{seed}")
    return _generated(root, f"{sizes.year_days} days x {sizes.rows} rows",
                      lambda r: generate(sizes.start, sizes.year_days, sizes.rows, r, seed=seed))


def backfill_landing(sizes: Sizes, datasets: Sequence[str], years: int,
                     seed: int = 20170101) -> str:
    """``years`` "years" of small days of ``datasets``, from two weeks before BACKFILL_START.

    The two weeks are for trailing windows (INV's days of cover reads a week of SO).
    """
    from etl_targets.datasets.samples.__main__ import write

    lead = 14
    first = BACKFILL_START - dt.timedelta(days=lead)
    days = years * sizes.year_days + lead
    root = os.path.join(WORK, "data", f"backfill-{'-'.join(datasets)}-{first}-{days}x{sizes.rows}-s{seed}")
    return _generated(root, f"{days} days of {', '.join(datasets)}",
                      lambda r: write(set(datasets), first, days, r, seed, sizes.rows))


def big_landing(rows: int, day: dt.date, seed: int = 2_000_000) -> str:
    """One landing folder holding a single ``rows``-row SO file, generated once."""
    from etl_targets.datasets.samples.so import write_so_day

    root = os.path.join(WORK, "data", f"big-{day}-{rows}-s{seed}")
    return _generated(root, f"one day of {rows:,} rows",
                      lambda r: write_so_day(day, rows, r, random.Random(seed)))


# ---------------------------------------------------------------- child processes

_RUNNING: Dict[int, subprocess.Popen] = {}


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the bench dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def spawn(command: Sequence[str], **kwargs) -> subprocess.Popen:
    """Popen in its own process group, remembered so :func:`stop_all` can end it."""
    process = subprocess.Popen(list(command), start_new_session=True,
                               preexec_fn=_die_with_parent, **kwargs)
    _RUNNING[process.pid] = process
    return process


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """Ends a process started by :func:`spawn` and everything it forked (its group)."""
    _RUNNING.pop(process.pid, None)
    if process.poll() is None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    else:
        try:  # luigi worker processes may outlive their parent
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def stop_all() -> None:
    for process in list(_RUNNING.values()):
        stop(process)


atexit.register(stop_all)


def child(spec: Dict, log_name: str, env: Optional[Dict] = None,
          script: str = "child.py", args: Sequence[str] = ()) -> Dict:
    """Runs one measurement in a fresh interpreter; its stderr goes to a log file."""
    os.makedirs(os.path.join(WORK, "logs"), exist_ok=True)
    log_path = os.path.join(WORK, "logs", log_name + ".log")
    command = [sys.executable, os.path.join(BENCH, script)]
    command += list(args) if args else [json.dumps(spec)]
    with open(log_path, "w") as stderr:
        process = spawn(command, cwd=WORK, env=dict(os.environ, **(env or {})),
                        stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            out, _ = process.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            out = ""
        finally:
            stop(process)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise BenchError(f"{log_name} failed (exit {process.returncode}); see {log_path}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------- lakes

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
