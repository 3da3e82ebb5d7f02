"""Scenario (c): silver + daily gold of one very large landing file, local disk.

Three variants, each in a fresh process per repetition, bronze prepared
beforehand and outside the timing:

* ``etl``: ``runner.build([GoldSO(date)])`` (builds SilverSO, then GoldSO);
* ``floor``: bench/floor_pyarrow.py on the same bronze file;
* ``stock``: bench/stock_graph.py ``Gold(date)`` (pandas), via luigi.build.

Wall time is measured inside each process around the work (imports
excluded); peak RSS is that process's ``ru_maxrss``.
"""

import json
import os
import shutil
import sys
from typing import Dict, List

from measure import STAGES, WORK, Record, Sizes, child, log, remove_date_local

PROFILE = os.path.join(WORK, "profile-etl-big-day.prof")


def run(sizes: Sizes, landing: str, repeat: int, records: List[Record],
        profile: bool = False) -> Dict:
    """Runs (c), appending to ``records``; returns the CSV size and a cross-check."""
    day = sizes.big_date
    spec = {"landing": landing, "start": day.isoformat(), "end": day.isoformat()}
    lakes = {engine: os.path.join(WORK, "lakes", f"big-{engine}") for engine in ("etl", "stock")}
    for engine, lake in lakes.items():
        shutil.rmtree(lake, ignore_errors=True)
        child(dict(spec, engine=engine, lake=lake, tables=["bronze"]), f"c-{engine}-bronze")
    bronze = os.path.join(lakes["etl"], "bronze", "so", f"date={day.isoformat()}",
                          f"zheSO-{day.year}-{day.month}-{day.day}.csv")
    size_mb = os.path.getsize(bronze) / 2**20
    log(f"  [c] bronze ready: {bronze} ({size_mb:.0f} MB, {sizes.big_rows} rows)")
    floor_out = os.path.join(WORK, "floor-out")
    for rep in range(1, repeat + 1):
        for engine in ("etl", "floor", "stock"):
            if engine == "floor":
                shutil.rmtree(floor_out, ignore_errors=True)
                result = child({}, f"c-floor-r{rep}", script="floor_pyarrow.py",
                               args=[bronze, floor_out])
            else:
                for stage in STAGES[1:]:  # keep bronze
                    shutil.rmtree(os.path.join(lakes[engine], stage), ignore_errors=True)
                result = child(dict(spec, engine=engine, lake=lakes[engine], tables=["daily"]),
                               f"c-{engine}-r{rep}")
            records.append(Record("c", "silver+gold", "local", engine, result["wall"],
                                  None, result["maxrss_mb"], result.get("ran")))
            log(f"  [c] rep {rep} {engine:5} {result['wall']:8.2f} s, "
                f"peak RSS {result['maxrss_mb']:.0f} MB")
    agreement = compare_gold(lakes, floor_out, day)
    log(f"  [c] {agreement}")
    if profile:
        profile_etl(spec, lakes["etl"])
    return {"csv_mb": size_mb, "agreement": agreement}


def compare_gold(lakes: Dict[str, str], floor_out: str, day) -> str:
    """Checks that the three variants did the same work: same daily gold totals."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    paths = {engine: os.path.join(lake, "gold", "so_daily_sales", f"date={day.isoformat()}",
                                  "data.parquet") for engine, lake in lakes.items()}
    paths["floor"] = os.path.join(floor_out, "gold.parquet")
    totals = {}
    for engine, path in paths.items():
        table = pq.read_table(path)
        totals[engine] = (table.num_rows, pc.sum(table.column("lines")).as_py(),
                          pc.sum(table.column("qty")).as_py(),
                          str(pc.sum(table.column("revenue")).as_py()))
    same = len(set(totals.values())) == 1
    shown = "; ".join(f"{e}: {t[0]} groups, {t[1]} lines, revenue {t[3]}" for e, t in totals.items())
    return ("daily gold agrees across variants" if same else "daily gold DIFFERS") + f" ({shown})"


def profile_etl(spec: Dict, lake: str) -> None:
    """One more etl_targets run under cProfile; top functions to the log."""
    import pstats

    for stage in STAGES[1:]:
        shutil.rmtree(os.path.join(lake, stage), ignore_errors=True)
    child({}, "c-etl-profile", script="child.py",
          args=[json.dumps(dict(spec, engine="etl", lake=lake, tables=["daily"]))],
          env=dict(os.environ, BENCH_PROFILE=PROFILE))
    stats = pstats.Stats(PROFILE, stream=sys.stdout)
    log(f"  [c] cProfile of etl_targets, top 20 by cumulative time ({PROFILE}):")
    stats.sort_stats("cumulative").print_stats(20)
