"""What the two hand-written scripts (pyarrow, DuckDB) and the stock graph share.

The SO contract's column map and rules in the form the scripts use them,
the year loop's plumbing (dates, landing names, one fsspec filesystem per
run, the lake layout) and the peak-RSS reading. Standard library and
fsspec only, so importing it adds nothing to a script's memory.
"""

import datetime as dt
import json
import os
import resource
import time
from typing import Iterator, List, Tuple

HEADERS = {
    "so number": "so_number", "line": "line", "order date": "order_date",
    "customer id": "customer_id", "customer name": "customer_name", "region": "region",
    "sku": "sku", "qty": "qty", "unit price": "unit_price", "currency": "currency",
    "status": "status", "last modified": "last_modified",
}
REQUIRED = ["so_number", "line", "order_date", "customer_id", "sku", "qty", "unit_price",
            "currency", "status", "last_modified"]
REGIONS = ["North", "South", "East", "West"]
STATUSES = ["OPEN", "SHIPPED", "INVOICED", "CANCELLED"]
#: the contract's whole-number rule (line, qty): digits, optionally grouped by thousands
INTEGER = r"\+?\d{1,18}|\+?\d{1,3}(,\d{3}){1,5}"
#: a unit price once thousands separators are removed: at most 2 significant decimals
PRICE = r"\+?\d{1,16}(\.\d{0,2}0*)?"
#: (column, strptime format) of the two dates
DATES = [("order_date", "%m/%d/%Y"), ("last_modified", "%Y-%m-%d %H:%M:%S")]
MTD_COLUMNS = ["so_number", "line", "region", "qty", "currency", "status", "last_modified",
               "line_amount"]
#: lake layout of the year runs, the same as etl_targets' (so gold can be compared)
OUTPUTS = {"silver": "silver/so", "rejects": "silver/so_rejects",
           "daily": "gold/so_daily_sales", "mtd": "gold/so_mtd_by_region"}


def contract_name(header: str) -> str:
    """The silver name of a landing header, '' for a column the contract does not know."""
    return HEADERS.get(header.replace("\ufeff", "").strip().casefold(), "")


def landing_name(day: dt.date) -> str:
    return f"zheSO-{day.year}-{day.month}-{day.day}.csv"


def days(start: str, end: str) -> List[dt.date]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def filesystem(url: str):
    """(fsspec filesystem, root path) of a local folder or an ``s3://`` URL."""
    import fsspec.core

    fs, root = fsspec.core.url_to_fs(url)
    return fs, root.rstrip("/")


def year_paths(landing_root: str, lake_root: str, start: str, end: str
               ) -> Iterator[Tuple[dt.date, str, dict]]:
    """(date, landing path, {output: path}) of every date, in order."""
    for day in days(start, end):
        outputs = {key: f"{lake_root}/{folder}/date={day.isoformat()}/data.parquet"
                   for key, folder in OUTPUTS.items()}
        yield day, f"{landing_root}/so/{landing_name(day)}", outputs


def peak_rss_mb() -> float:
    """This process's own peak RSS (``VmHWM``), in MiB.

    Not ``ru_maxrss``: Linux carries the parent's peak over ``exec``, so a
    small child of a large parent would report the parent's figure.
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status
                        if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(**fields) -> None:
    """The one JSON line the harness reads, with the peak RSS added."""
    print(json.dumps(dict(fields, maxrss_mb=peak_rss_mb())), flush=True)


def day_or_year(argv: List[str], year, day) -> int:
    """A script's ``main``: ``--year LANDING LAKE START END`` runs ``year``, else ``day(SOURCE, OUT)``.

    Both report their wall time (and ``day`` its own fields) as the one JSON line.
    """
    start = time.perf_counter()
    if argv and argv[0] == "--year":
        dates = year(*argv[1:5])
        report(wall=time.perf_counter() - start, dates=dates)
        return 0
    source, out = argv
    os.makedirs(out, exist_ok=True)
    fields = day(source, out)
    report(wall=time.perf_counter() - start, **fields)
    return 0


def makedirs_for(fs, path: str) -> None:
    """Local folders must exist before a write; object stores need nothing."""
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
