"""Scenario ``bigday``: silver + daily gold of one very large landing file, local disk.

For each size (2,000,000 and 5,000,000 rows; less with --quick), three
variants, each in a fresh process per repetition, bronze prepared
beforehand and outside the timing:

* ``etl``: ``runner.build([GoldSO(date)])`` (SilverSO, then GoldSO);
* ``duckdb``: bench/duckdb_day.py on the same bronze file;
* ``pyarrow``: bench/floor_pyarrow.py on the same bronze file.

Wall time is measured inside each process around the work (imports
excluded); peak RSS is that process's ``VmHWM``. The daily gold of the
three is compared (groups, lines, qty, revenue) so the work is the same.
"""

import os
import shutil
from typing import Dict, List

from measure import STAGES, WORK, Record, Sizes, big_landing, child, log

SCRIPTS = {"pyarrow": "floor_pyarrow.py", "duckdb": "duckdb_day.py"}


def run(sizes: Sizes, repeat: int, records: List[Record], has_duckdb: bool) -> Dict[int, str]:
    """Runs the scenario; returns {rows: agreement line}."""
    day = sizes.big_date
    agreement = {}
    variants = ["etl"] + (["duckdb"] if has_duckdb else []) + ["pyarrow"]
    for rows in sizes.big_rows:
        landing = big_landing(rows, day)
        lake = os.path.join(WORK, "lakes", f"big-{rows}")
        shutil.rmtree(lake, ignore_errors=True)
        spec = {"engine": "etl", "landing": landing, "lake": lake, "start": day.isoformat(),
                "end": day.isoformat()}
        child(dict(spec, tables=["bronze"]), f"bigday-{rows}-bronze")
        bronze = os.path.join(lake, "bronze", "so", f"date={day.isoformat()}",
                              f"zheSO-{day.year}-{day.month}-{day.day}.csv")
        size_mb = os.path.getsize(bronze) / 2**20
        log(f"  [bigday] bronze ready: {bronze} ({size_mb:.0f} MB, {rows:,} rows)")
        outs = {v: os.path.join(WORK, f"bigday-out-{v}") for v in SCRIPTS}
        for rep in range(1, repeat + 1):
            for variant in variants:
                if variant == "etl":
                    for stage in STAGES[1:]:  # keep bronze
                        shutil.rmtree(os.path.join(lake, stage), ignore_errors=True)
                    result = child(dict(spec, tables=["daily"]), f"bigday-{rows}-etl-r{rep}")
                else:
                    shutil.rmtree(outs[variant], ignore_errors=True)
                    result = child({}, f"bigday-{rows}-{variant}-r{rep}",
                                   script=SCRIPTS[variant], args=[bronze, outs[variant]])
                records.append(Record("bigday", f"{rows:,} rows ({size_mb:.0f} MB)", "silver+gold",
                                      variant, result["wall"], None, result["maxrss_mb"], 1))
                log(f"  [bigday] {rows:,} rows rep {rep} {variant:7} {result['wall']:8.2f} s, "
                    f"peak RSS {result['maxrss_mb']:.0f} MB")
        paths = {"etl": os.path.join(lake, "gold", "so_daily_sales", f"date={day.isoformat()}",
                                     "data.parquet")}
        paths.update({v: os.path.join(outs[v], "gold.parquet") for v in variants if v != "etl"})
        agreement[rows] = compare_gold(paths)
        log(f"  [bigday] {rows:,} rows: {agreement[rows]}")
        shutil.rmtree(lake, ignore_errors=True)  # 5M rows of bronze is 550 MB
    return agreement


def gold_totals(path: str) -> tuple:
    """(groups, lines, qty, revenue) of a gold file, or of every file below a folder.

    File by file: stock's pandas Decimals give each file its own decimal precision.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(folder, name) for folder, _, names in os.walk(path)
        for name in names if name.endswith(".parquet"))
    groups, lines, qty, revenue = 0, 0, 0, 0
    for name in files:
        table = pq.read_table(name, columns=["lines", "qty", "revenue"])
        groups += table.num_rows
        lines += pc.sum(table.column("lines")).as_py() or 0
        qty += pc.sum(table.column("qty")).as_py() or 0
        revenue += pc.sum(table.column("revenue")).as_py() or 0
    return groups, lines, qty, str(revenue)


def compare_gold(paths: Dict[str, str]) -> str:
    """Checks that the variants did the same work: same gold totals."""
    totals = {variant: gold_totals(path) for variant, path in paths.items()}
    same = len(set(totals.values())) == 1
    shown = "; ".join(f"{v}: {t[0]} groups, {t[1]} lines, qty {t[2]}, revenue {t[3]}"
                      for v, t in totals.items())
    return ("gold agrees across variants" if same else "gold DIFFERS") + f" ({shown})"
