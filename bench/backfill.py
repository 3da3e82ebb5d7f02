"""Scenario ``backfill``: cold backfills of 1, 2, 4 and 10 "years" of small days, local lake.

``etl-targets so --start .. --end ..`` on an empty local lake, each in a
fresh process, one run per size (a 10-year run is long; the ratio of
per-date costs is what is compared, against the 1-year run). With
``--with-all`` also ``etl-targets all`` (SO, PO, INV, GL and INV's days of
cover, and the FX rates with so_revenue_usd: every gold table of every
dataset in one build) over 1 and 10 years, the rates served by the tests'
loopback rates API (tests/support/rates_server.py, standard library only).
Landing data: the sample generators, small days (200 SO rows), from two
weeks before the first date so trailing windows have their inputs.
"""

import contextlib
import os
import shutil
import sys
from typing import List

from measure import REPO, WORK, Record, Sizes, backfill_landing, child, log
from year import cli_env

DATASETS = ("so", "po", "inv", "gl")


def run(sizes: Sizes, repeat: int, records: List[Record], with_all: bool) -> None:
    plans = [("so", years) for years in sizes.backfill_years]
    if with_all:
        plans += [("all", years) for years in sizes.all_years]
    biggest = max(years for _, years in plans)
    landing = backfill_landing(sizes, DATASETS if with_all else ("so",), biggest)
    with rates_api(with_all) as fx_env:
        _run_plans(plans, sizes, repeat, records, landing, fx_env)


@contextlib.contextmanager
def rates_api(wanted: bool):
    """The environment pointing ``etl-targets all`` at a loopback rates API (empty: none needed)."""
    if not wanted:
        yield {}
        return
    sys.path.insert(0, os.path.join(REPO, "tests", "support"))
    from rates_server import SAMPLE_RATES, TEST_TOKEN, rates_server

    with rates_server(SAMPLE_RATES, TEST_TOKEN) as server:
        yield {"ETL_FX_API_URL": server.url, "ETL_FX_TOKEN": TEST_TOKEN}


def _run_plans(plans, sizes: Sizes, repeat: int, records: List[Record], landing: str,
               fx_env) -> None:
    biggest = max(years for _, years in plans)
    for rep in range(1, repeat + 1):
        for command, years in plans:
            first, last = sizes.span(years)
            lake = os.path.join(WORK, "lakes", f"backfill-{command}-{years}y")
            shutil.rmtree(lake, ignore_errors=True)
            argv = [command, "--start", first.isoformat(), "--end", last.isoformat()]
            dates = (last - first).days + 1
            result = child({"engine": "cli", "argv": argv}, f"backfill-{command}-{years}y-r{rep}",
                           {**cli_env(lake, landing, "local", None), **fx_env})
            records.append(Record("backfill", command, f"{years}", "etl", result["wall"], None,
                                  result["maxrss_mb"], dates, result.get("cpu")))
            log(f"  [backfill] rep {rep} {command} {years:2d} x {sizes.year_days} days: "
                f"{result['wall']:8.2f} s ({1000 * result['wall'] / dates:.0f} ms per date), "
                f"peak RSS {result['maxrss_mb']:.0f} MB")
            if years == biggest:  # the rerun of the longest backfill: nothing to build
                again = child({"engine": "cli", "argv": argv},
                              f"backfill-{command}-{years}y-r{rep}-noop",
                              {**cli_env(lake, landing, "local", None), **fx_env})
                records.append(Record("backfill", command, f"{years} no-op", "etl", again["wall"],
                                      None, again["maxrss_mb"], dates, again.get("cpu")))
                log(f"  [backfill] rep {rep} {command} {years:2d} x {sizes.year_days} days, "
                    f"rerun: {again['wall']:8.2f} s")
            shutil.rmtree(lake, ignore_errors=True)
