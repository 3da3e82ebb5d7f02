"""Benchmark of etl_targets against stock luigi, a pyarrow script and a DuckDB script.

Usage:
    python bench/run.py [--quick] [--repeat N] [--scenarios year,backfill,...] [--with-all]

Scenarios (see bench/README.md), each printed as one table with its
baseline, the ratios and issue 12's targets:
    year      cold and no-op year: local, S3 (moto), S3 with 20 ms per request;
              etl_targets, stock luigi, the pyarrow script, the DuckDB script
    backfill  cold backfills of 1, 2, 4, 10 years of small days (SO; with
              --with-all also `etl-targets all` over 1 and 10 years)
    bigday    silver + daily gold of a 2,000,000- and a 5,000,000-row day:
              etl_targets vs DuckDB vs pyarrow, wall time and peak RSS
    status    `etl-targets status so` of a year on S3: requests and time
    workers   cold year on S3 with 20 ms latency, --workers 1 vs --workers 4

Generated data and lakes live in bench/_work/ (git-ignored); data is reused
between runs. Every server and child process is stopped on exit, on an
error, on Ctrl-C and on SIGTERM.
"""

import argparse
import dataclasses
import datetime as dt
import os
import signal
import sys
import time
import traceback
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import backfill  # noqa: E402
import big_day  # noqa: E402
import report  # noqa: E402
import workers  # noqa: E402
import year  # noqa: E402
from measure import FULL, QUICK, WORK, BenchError, log, snapshot_code, stop_all, year_landing  # noqa: E402

SCENARIOS = ("year", "backfill", "bigday", "status", "workers")
S3_SCENARIOS = {"year", "status", "workers"}


def _terminate(signum, frame):
    # A SIGTERM (or a SIGHUP of a closed terminal) must still stop moto and the children.
    raise KeyboardInterrupt


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/run.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a smoke run (30-day years, 200k/500k-row days)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per measurement (default: 1 for year, backfill, status and "
                             "workers, 3 for bigday)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)")
    parser.add_argument("--backfill-years", default=None,
                        help="backfill: the `etl-targets so` sizes in years, e.g. 1,4 "
                             "(default: 1,2,4,10)")
    parser.add_argument("--with-all", action="store_true",
                        help="backfill: also `etl-targets all` (4 datasets) over 1 and 10 years "
                             "(about 10 minutes per year of dates on 2 cores)")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown or not args.scenarios:
        parser.error(f"--scenarios takes a subset of {','.join(SCENARIOS)}, "
                     f"not {','.join(sorted(unknown))}")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be >= 1")
    return args


def has_duckdb() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    if args.backfill_years:
        sizes = dataclasses.replace(sizes, backfill_years=tuple(
            int(years) for years in args.backfill_years.split(",")))
    os.makedirs(WORK, exist_ok=True)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    started = time.monotonic()
    code = snapshot_code()
    duck = has_duckdb()
    log(f"etl_targets benchmark, {dt.datetime.now():%Y-%m-%d %H:%M}"
        f"{' (--quick)' if args.quick else ''}, scenarios {','.join(args.scenarios)}")
    log(report.machine())
    log(code)
    if not duck:
        log("DuckDB is not installed: its columns are skipped (pip install duckdb, into the "
            "venv; a bench-only dependency)")
    records, patterns, notes, status = [], {}, [], 0
    picked = set(args.scenarios)
    small, big = args.repeat or 1, args.repeat or 3
    s3 = None
    landing = None

    def scenario(name, body):
        """Runs one scenario; a failure is reported and the next scenario still runs."""
        nonlocal status
        try:
            body()
        except BenchError as exc:
            log(f"scenario {name} failed: {exc}")
            status = 1
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - a bench bug still leaves the other scenarios
            traceback.print_exc()
            log(f"scenario {name} failed (bench error above)")
            status = 1
        # the tables so far: a long run that is stopped still leaves its results
        print_results(records, patterns, notes, sizes, args, code, duck, started)

    try:
        if picked & S3_SCENARIOS:
            from moto_s3 import S3Bench

            s3 = S3Bench(os.path.join(WORK, "moto.log")).__enter__()
            log(f"moto S3 at {s3.moto.endpoint}, with 20 ms per request at {s3.proxy.endpoint}")
            landing = year_landing(sizes)
        if picked & {"year", "status"}:
            scenario("year", lambda: year.run(sizes, landing, small, records, patterns, s3,
                                              picked, duck, notes))
        if "workers" in picked:
            scenario("workers", lambda: workers.run(sizes, landing, small, records, patterns, s3))
        if s3 is not None:
            s3.__exit__()
            s3 = None

        def bigday():
            for rows, line in big_day.run(sizes, big, records, duck).items():
                notes.append(f"bigday, {rows:,} rows: {line}")

        if "bigday" in picked:
            scenario("bigday", bigday)
        if "backfill" in picked:
            scenario("backfill", lambda: backfill.run(sizes, small, records, args.with_all))
    except KeyboardInterrupt:
        log("interrupted; partial results follow")
        status = 130
        print_results(records, patterns, notes, sizes, args, code, duck, started)
    finally:
        if s3 is not None:
            s3.__exit__()
        stop_all()
    return status


def print_results(records, patterns, notes, sizes, args, code, duck, started) -> None:
    stats = report.Stats(records)
    log("")
    log(f"## Results ({(time.monotonic() - started) / 60:.0f} minutes so far"
        f"{', --quick' if args.quick else ''})")
    log("")
    log(report.machine())
    log(code)
    if not duck:
        log("DuckDB not installed: DuckDB rows and ratios skipped (`pip install duckdb`).")
    tables = [
        ("year", f"### year: cold and no-op, {sizes.year_days} dates x {sizes.rows} rows "
                 f"({sizes.start}..{sizes.end}), GoldSO + GoldSOMTD",
         lambda: report.year_table(stats)),
        ("backfill", f"### backfill: cold, {sizes.year_days}-day years from 2017-01-01",
         lambda: report.backfill_table(stats, args.with_all)),
        ("bigday", "### bigday: silver + daily gold of one large day",
         lambda: report.bigday_table(stats)),
        ("status", f"### status: `etl-targets status so` of {sizes.year_days} dates on S3",
         lambda: report.status_table(stats)),
        ("workers", f"### workers: cold {sizes.year_days}-date year on S3 with 20 ms per request",
         lambda: report.workers_table(stats)),
    ]
    for name, title, table in tables:
        if name in args.scenarios and any(r.scenario == name for r in records):
            log("")
            log(title)
            log("")
            log(table())
    if notes:
        log("")
        log("Cross-checks:")
        for line in notes:
            log(f"- {line}")
    if patterns:
        log("")
        log("### S3 requests by pattern (first repetition; {lake} is the run's lake)")
        log("")
        log(report.request_patterns(patterns))


if __name__ == "__main__":
    sys.exit(main())
