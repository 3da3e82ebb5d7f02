"""Benchmark of etl_targets against stock luigi and a pyarrow floor (run by hand).

Usage:
    python bench/run.py [--quick] [--repeat N] [--scenarios a,b,c] [--profile]

Scenarios (see bench/README.md):
    a  etl_targets: cold build, no-op rerun and catch-ups of a year of
       GoldSO + GoldSOMTD, on a local lake and on a moto S3 lake;
    b  the same graph written with stock luigi targets (bench/stock_graph.py);
    c  silver + daily gold of one 2,000,000-row landing file: etl_targets vs
       bench/floor_pyarrow.py vs the stock pandas graph (time and peak RSS).

Generated data and lakes live in bench/_work/ (git-ignored); data is reused
between runs. Every server and child process is stopped on exit or Ctrl-C.
"""

import argparse
import datetime as dt
import os
import signal
import sys
import time
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import big_day  # noqa: E402
import report  # noqa: E402
import year  # noqa: E402
from measure import (FULL, QUICK, WORK, BenchError, big_landing, log, snapshot_code,  # noqa: E402
                     year_landing)


def _terminate(signum, frame):
    # A SIGTERM (or a SIGINT to a background job) must still stop moto and the children.
    raise KeyboardInterrupt


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a smoke run (60 days, 200,000-row day)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--scenarios", default="a,b,c",
                        help="comma-separated subset of a,b,c (default: all)")
    parser.add_argument("--profile", action="store_true",
                        help="(c) also profile one etl_targets run with cProfile")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - {"a", "b", "c"}
    if unknown or not args.scenarios:
        parser.error(f"--scenarios takes a subset of a,b,c, not {','.join(sorted(unknown))}")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    os.makedirs(WORK, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    code = snapshot_code()
    log(f"etl_targets benchmark, {dt.datetime.now():%Y-%m-%d %H:%M}"
        f"{' (--quick)' if args.quick else ''}, scenarios {','.join(args.scenarios)}, "
        f"{args.repeat} run(s) each")
    log(report.machine())
    log(code)
    records, patterns, csv_mb, agreement, status = [], {}, None, None, 0
    try:
        if {"a", "b"} & set(args.scenarios):
            landing = year_landing(sizes)
            year.run(args.scenarios, sizes, landing, args.repeat, records, patterns)
        if "c" in args.scenarios:
            landing = big_landing(sizes)
            outcome = big_day.run(sizes, landing, args.repeat, records, profile=args.profile)
            csv_mb, agreement = outcome["csv_mb"], outcome["agreement"]
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        status = 1
    except KeyboardInterrupt:
        log("interrupted; partial results follow")
        status = 130
    log("")
    log(f"## Results ({time.monotonic() - started:.0f} s in all)")
    log("")
    log(report.machine())
    log(code)
    log(report.table(records, sizes, csv_mb))
    log("")
    log("## Acceptance (issue 4)")
    log("")
    log(report.acceptance(records, sizes))
    if agreement:
        log("")
        log(f"(c) {agreement}")
    if patterns:
        log("")
        log("## S3 requests per run, by pattern (first repetition)")
        log("")
        log(report.request_patterns(patterns))
    return status


if __name__ == "__main__":
    sys.exit(main())
