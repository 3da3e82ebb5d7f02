"""Scenario ``year`` (and ``status``): a cold and a no-op year, four ways, three backends.

For each repetition, each backend (``local``; ``s3``: moto; ``s3+20ms``:
moto behind bench/latency_proxy.py) and each variant, in a fresh process:

* ``etl``: ``etl-targets so --start .. --end ..`` (GoldSO + GoldSOMTD of every
  date), cold on an empty lake, then again (no-op); on S3 the ``status`` scenario
  then runs ``etl-targets status so`` over the same year and lake;
* ``stock``: bench/stock_graph.py through ``luigi.build``. Locally a cold year
  and its no-op. On S3 its cold build covers only the first
  ``sizes.stock_s3_days`` dates (a whole year costs ~87,000 requests, 15
  minutes on moto and 45 with latency), compared per date; its no-op runs
  over etl_targets' year lake (the same layout: stock checks the same files);
* ``pyarrow``, ``duckdb``: bench/floor_pyarrow.py and bench/duckdb_day.py in
  ``--year`` mode (silver, rejects, daily and month-to-date gold of every
  date in one process); cold only: a script has no completeness check.

S3 landing files are uploaded once (not counted); each S3 lake is deleted
once measured (moto's listings scan the whole bucket).
"""

import datetime as dt
import os
import shutil
from typing import Dict, List, Optional

from measure import WORK, Record, Sizes, child, log

BACKENDS = ("local", "s3", "s3+20ms")
VARIANTS = ("etl", "stock", "pyarrow", "duckdb")
SCRIPTS = {"pyarrow": "floor_pyarrow.py", "duckdb": "duckdb_day.py"}


def cli_env(lake: str, landing: str, backend: str, s3) -> Dict[str, str]:
    env = {"ETL_LAKE_ROOT": lake, "ETL_LANDING_ROOT": landing,
           "ETL_LOG_DIR": os.path.join(WORK, "cli-logs"), "ETL_ALERT_CMD": ""}
    if backend != "local":
        env.update(s3.env(backend))
    return env


def measured(s3, backend: str, run) -> tuple:
    """(child result, S3 requests or None, the requests themselves)."""
    if backend == "local":
        return run(), None, []
    result, made = s3.counted(run)
    return result, len(made), made


def run(sizes: Sizes, landing: str, repeat: int, records: List[Record], patterns: Dict,
        s3, scenarios, has_duckdb: bool, notes: List[str]) -> None:
    """Runs the year scenario (and the status scenario on its S3 lakes), adding to ``records``.

    ``notes`` gets the cross-check of the local lakes' gold (first repetition).
    """
    start, end = sizes.start.isoformat(), sizes.end.isoformat()
    backends = BACKENDS if "year" in scenarios else BACKENDS[1:]  # status: S3 only
    variants = [v for v in VARIANTS if v != "duckdb" or has_duckdb]
    if "year" not in scenarios:
        variants = ["etl"]  # status only needs a built lake
    for rep in range(1, repeat + 1):
        for backend in backends:
            landing_url = landing if backend == "local" else s3.landing(landing)
            tag = backend.replace("+", "")
            for variant in variants:
                name = f"{variant}-{tag}-r{rep}"
                lake = os.path.join(WORK, "lakes", name) if backend == "local" else s3.lake(name)
                if backend == "local":
                    shutil.rmtree(lake, ignore_errors=True)

                def add(run_name, result, requests, made, dates):
                    record = Record("year", backend, run_name, variant, result["wall"], requests,
                                    result["maxrss_mb"], dates)
                    records.append(record)
                    if made and (variant, backend, run_name) not in patterns:
                        patterns[(variant, backend, run_name)] = (made, name)
                    shown = "" if requests is None else f", {requests} requests"
                    log(f"  [year] rep {rep} {backend:7} {variant:7} {run_name:7} "
                        f"{result['wall']:8.2f} s{shown}, {dates} dates, "
                        f"peak RSS {result['maxrss_mb']:.0f} MB")

                if variant == "etl":
                    env = cli_env(lake, landing_url, backend, s3)
                    argv = ["so", "--start", start, "--end", end]
                    for run_name in ("cold", "noop"):
                        result, n, made = measured(s3, backend, lambda: child(
                            {"engine": "cli", "argv": argv}, f"year-{name}-{run_name}", env))
                        add(run_name, result, n, made, sizes.year_days)
                        if run_name == "cold" and "year" not in scenarios:
                            break
                    if backend != "local" and "status" in scenarios:
                        status_runs(s3, backend, lake, landing_url, sizes, rep, records, patterns)
                    if backend != "local":
                        etl_lakes = (lake, name)
                elif variant == "stock":
                    _stock(sizes, backend, lake, landing_url, s3, rep, add,
                           None if backend == "local" else etl_lakes[0])
                else:
                    args = ["--year", landing_url, start, end, lake]
                    env = s3.env(backend) if backend != "local" else {}
                    result, n, made = measured(s3, backend, lambda: child(
                        {}, f"year-{name}-cold", env, script=SCRIPTS[variant], args=args))
                    add("cold", result, n, made, result["dates"])
                if backend != "local" and variant != "etl":
                    s3.drop_lake(name)
            if backend != "local":
                s3.drop_lake(etl_lakes[1])
            elif rep == 1 and "year" in scenarios:
                notes.extend(_agreement(variants))


def _stock(sizes, backend, lake, landing_url, s3, rep, add, etl_lake: Optional[str]) -> None:
    """Stock luigi: local cold year + no-op; on S3 a shorter cold span, and a no-op of the
    year over etl_targets' lake."""
    days = sizes.year_days if backend == "local" else min(sizes.stock_s3_days, sizes.year_days)
    last = sizes.start + dt.timedelta(days=days - 1)
    spec = {"engine": "stock", "lake": lake, "landing": landing_url, "tables": ["daily", "mtd"],
            "start": sizes.start.isoformat(), "end": last.isoformat()}
    env = s3.env(backend) if backend != "local" else {}
    tag = backend.replace("+", "")
    result, n, made = measured(s3, backend, lambda: child(spec, f"year-stock-{tag}-r{rep}-cold", env))
    add("cold", result, n, made, days)
    noop = dict(spec, end=sizes.end.isoformat(), lake=etl_lake or lake)
    result, n, made = measured(s3, backend, lambda: child(noop, f"year-stock-{tag}-r{rep}-noop", env))
    add("noop", result, n, made, sizes.year_days)


def status_runs(s3, backend, lake, landing_url, sizes, rep, records, patterns) -> None:
    """``etl-targets status so`` over the year just built (scenario ``status``)."""
    env = cli_env(lake, landing_url, backend, s3)
    argv = ["status", "so", "--start", sizes.start.isoformat(), "--end", sizes.end.isoformat()]
    result, made = s3.counted(lambda: child({"engine": "cli", "argv": argv, "ok": [0, 8]},
                                            f"status-{backend.replace('+', '')}-r{rep}", env))
    records.append(Record("status", backend, "status", "etl", result["wall"], len(made),
                          result["maxrss_mb"], sizes.year_days))
    if ("status", backend, "status") not in patterns:
        patterns[("status", backend, "status")] = (made, lake.rsplit("/", 1)[-1])
    log(f"  [status] rep {rep} {backend:7} {result['wall']:8.2f} s, {len(made)} requests, "
        f"exit {result.get('exit')}")


def _agreement(variants) -> List[str]:
    """Daily and month-to-date gold totals of the local year lakes, compared."""
    from big_day import compare_gold

    lines = []
    for table in ("so_daily_sales", "so_mtd_by_region"):
        paths = {v: os.path.join(WORK, "lakes", f"{v}-local-r1", "gold", table) for v in variants}
        lines.append(f"year, local, {table}: {compare_gold(paths)}")
    return lines
