"""Cost per date of long backfills: does a backfill of four years cost four of one?

Issue 12, item 1. Small days (5 rows, so luigi's own work dominates) from
2022-01-01, GoldSO + GoldSOMTD of every date built with
``etl_targets.graph.runner.build(workers=1)`` on a fresh local lake, then
the same request again (the no-op rerun). Each build runs in a fresh
process (``python bench/long_backfill.py --child ...``); the clock runs
around the build call only. CPU seconds (user + system of the child) are
reported beside wall seconds: on a shared machine they drift less.

    .venv/bin/python bench/long_backfill.py                  # 181, 365, 731, 1461 dates
    .venv/bin/python bench/long_backfill.py --dates 365,1461 --profile
    .venv/bin/python bench/long_backfill.py --window 14      # another window size
    .venv/bin/python bench/long_backfill.py --window 0       # baseline: one luigi.build

Every child imports a frozen copy of ``etl_targets`` (``bench/_work/long/code``,
copied at start), so edits made while the bench runs cannot mix two
versions into one table.

``--profile`` writes ``bench/_work/long/<dates>-<phase>.prof`` (cProfile)
and prints the top functions by cumulative time. The check: the cold build
of the longest range costs at most 1.1x per date what the one-year build
costs (4 years <= 4.4x one year).
"""

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, "_work", "long")
CODE = os.path.join(WORK, "code")
START = dt.date(2022, 1, 1)
ROWS = 5
LIMIT = 1.1  # per-date cost of the longest range / of one year


def child(spec: dict) -> dict:
    """One measured build in this (fresh) process."""
    import logging

    import luigi.configuration

    luigi.configuration.get_config().set("core", "no_configure_logging", "true")
    logging.basicConfig(level=logging.ERROR)
    from etl_targets.graph import runner, windows
    from etl_targets.graph.registry import GoldSO, GoldSOMTD

    if spec.get("window") == 0:  # the baseline: the whole range in one luigi.build
        windows.split = lambda tasks, size=None: [list(tasks)]
    elif spec.get("window"):
        windows.WINDOW_DATES = spec["window"]
    roots = dict(lake_root=spec["lake"], landing_root=spec["landing"])
    tasks = [cls(date=START + dt.timedelta(days=k), **roots)
             for k in range(spec["dates"]) for cls in (GoldSO, GoldSOMTD)]
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    outcome = runner.build(tasks, workers=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    import etl_targets

    return {"wall": wall, "cpu": cpu, "ran": len(outcome.ran), "windows": outcome.windows,
            "code": etl_targets.__file__,
            "failed": len(outcome.failures) + len(outcome.missing),
            "listings": outcome.context.listing_count,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def landing(days: int) -> str:
    """The generated landing root of ``days`` small days (made once)."""
    root = os.path.join(WORK, f"landing-{days}")
    if not os.path.isdir(os.path.join(root, "so")):
        from etl_targets.datasets.samples import so

        so.generate(START, days, ROWS, root, seed=1, mess=so.Messiness(invalid=0.0))
    return root


def measure(dates: int, phase: str, land: str, args) -> dict:
    lake = os.path.join(WORK, f"lake-{dates}")
    if phase == "cold":
        shutil.rmtree(lake, ignore_errors=True)
    spec = {"dates": dates, "lake": lake, "landing": land, "window": args.window}
    if args.profile:
        spec["profile"] = os.path.join(WORK, f"{dates}-{phase}.prof")
    env = {**os.environ, "LUIGI_CONFIG_PATH": os.path.join(REPO, "luigi.cfg"),
           "PYTHONPATH": os.pathsep.join([CODE] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                          capture_output=True, text=True, cwd=WORK, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if not found["code"].startswith(CODE):
        raise SystemExit(f"the child imported {found['code']}, not the frozen copy")
    return found


def top(path: str, lines: int = 25) -> None:
    import pstats

    pstats.Stats(path).sort_stats("cumulative").print_stats(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dates", default="181,365,731,1461")
    parser.add_argument("--window", type=int,
                        help="dates per window (default: WINDOW_DATES); 0: one luigi.build")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    os.makedirs(WORK, exist_ok=True)
    shutil.rmtree(CODE, ignore_errors=True)
    shutil.copytree(os.path.join(REPO, "etl_targets"), os.path.join(CODE, "etl_targets"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    sizes = [int(n) for n in args.dates.split(",")]
    land = landing(max(sizes))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {ROWS} rows a day "
          f"from {START}; GoldSO + GoldSOMTD; window "
          f"{'default' if args.window is None else args.window or 'none (one build)'}")
    print("| dates | phase | wall s | cpu s | wall ms/date | cpu ms/date | windows | listings |"
          " tasks run |")
    print("|---|---|---|---|---|---|---|---|---|")
    per_date = {}
    for dates in sizes:
        for phase in ("cold", "noop"):
            found = measure(dates, phase, land, args)
            if found["failed"]:
                raise SystemExit(f"{dates} {phase}: {found['failed']} failed or missing")
            print(f"| {dates} | {phase} | {found['wall']:.2f} | {found['cpu']:.2f} | "
                  f"{1000 * found['wall'] / dates:.2f} | {1000 * found['cpu'] / dates:.2f} | "
                  f"{found['windows']} | {found['listings']} | {found['ran']} |", flush=True)
            if phase == "cold":
                per_date[dates] = found["cpu"] / dates
            if args.profile:
                top(os.path.join(WORK, f"{dates}-{phase}.prof"))
    if 365 in per_date and len(per_date) > 1:
        longest = max(per_date)
        ratio = per_date[longest] / per_date[365]
        verdict = "PASS" if ratio <= LIMIT else "FAIL"
        print(f"[{verdict}] cold CPU per date, {longest} dates vs 365: {ratio:.2f}x "
              f"(limit {LIMIT}x: {longest} dates <= {LIMIT * longest / 365:.1f}x one year)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
