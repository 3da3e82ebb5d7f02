"""One measured build in a fresh interpreter (called by run.py, not by hand).

A fresh process per measurement means no warm caches, no luigi instance
cache and an honest peak RSS (``ru_maxrss`` of this process only). The
clock starts after the imports and stops when the build returns.

Usage: python bench/child.py SPEC, SPEC one of
    '{"engine": "cli", "argv": ["so", "--start", ...], "ok": [0]}'
        ``etl_targets.cli.main(argv)``, what ``etl-targets ...`` runs (roots
        from ETL_LAKE_ROOT / ETL_LANDING_ROOT); its console output goes to stderr;
    '{"engine": "etl"|"stock", "lake": URL, "landing": URL, "start": "YYYY-MM-DD",
      "end": "YYYY-MM-DD", "tables": ["daily", "mtd"] | ["bronze"]}'
        ``runner.build`` of etl_targets' tasks, or ``luigi.build`` of bench/stock_graph.py.
Prints one JSON line: {"wall", "maxrss_mb", "ran", "failed"}. With
BENCH_PROFILE=FILE in the environment the work runs under cProfile.
"""

import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time

from script_common import peak_rss_mb


def quiet_luigi() -> None:
    """luigi would log every completeness check at DEBUG; keep warnings only."""
    import luigi.configuration

    luigi.configuration.get_config().set("core", "no_configure_logging", "true")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def dates(spec):
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    return [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]


def etl_tasks(spec):
    import etl_targets

    classes = {"daily": etl_targets.GoldSO, "mtd": etl_targets.GoldSOMTD,
               "bronze": etl_targets.BronzeSO}
    roots = dict(lake_root=spec["lake"], landing_root=spec["landing"])
    return [classes[name](date=day, **roots) for name in spec["tables"] for day in dates(spec)]


def run_etl(spec):
    from etl_targets.graph.runner import build

    tasks = etl_tasks(spec)
    start = time.perf_counter()
    outcome = build(tasks, workers=1)
    wall = time.perf_counter() - start
    return wall, len(outcome.ran), len(outcome.failures) + len(outcome.missing)


def run_cli(spec):
    from etl_targets.cli import main as cli_main

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries our one JSON line
        code = cli_main(spec["argv"])
    wall = time.perf_counter() - start
    spec["exit"] = code
    return wall, None, 0 if code in spec.get("ok", [0]) else 1


def run_stock(spec):
    import luigi
    import stock_graph

    classes = {"daily": stock_graph.Gold, "mtd": stock_graph.GoldMTD,
               "bronze": stock_graph.Bronze}
    roots = dict(lake_root=spec["lake"], landing_root=spec["landing"])
    tasks = [classes[name](date=day, **roots) for name in spec["tables"] for day in dates(spec)]
    start = time.perf_counter()
    result = luigi.build(tasks, local_scheduler=True, workers=1, detailed_summary=True)
    wall = time.perf_counter() - start
    history = result.worker._add_task_history
    pending = {t.task_id for t, status, _ in history if status == "PENDING"}
    done = {t.task_id for t, status, _ in history if status == "DONE"}
    failed = {t.task_id for t, status, _ in history if status == "FAILED"} - done
    ok = result.status.name in ("SUCCESS", "SUCCESS_WITH_RETRY")
    return wall, len(pending & done), len(failed) + (0 if ok else 1)


def cpu_seconds() -> float:
    """User + system CPU of this process and its (forked, waited-for) children."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def main(argv) -> int:
    spec = json.loads(argv[0])
    quiet_luigi()
    runner = {"etl": run_etl, "cli": run_cli, "stock": run_stock}[spec["engine"]]
    profile_path = os.environ.get("BENCH_PROFILE")
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu = cpu_seconds()
    wall, ran, failed = runner(spec)
    cpu = cpu_seconds() - cpu
    if profile_path:
        profiler.disable()
        profiler.dump_stats(profile_path)
    print(json.dumps({"wall": wall, "cpu": cpu, "maxrss_mb": peak_rss_mb(), "ran": ran,
                      "failed": failed, "exit": spec.get("exit")}))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
