"""Landing files: the ERP's file names, and landing areas made from the sample.

Standard library only, so the independent reference (``tests/reference_so.py``)
and the foreign writer (``tests/foreign_so.py``) may use it too.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import time
from pathlib import Path

from support.paths import SAMPLE_SO


def landing_name(day: dt.date) -> str:
    """The ERP's SO file name for ``day``: ``zheSO-2026-1-27.csv``, month and day not zero-padded.

    Written out from the data contract, not imported from ``etl_targets``, so
    a change of the pipeline's spelling fails the tests.
    """
    return f"zheSO-{day.year}-{day.month}-{day.day}.csv"


def copy_landing(landing: Path, *days: dt.date) -> None:
    """Copies the sample SO files of ``days`` into ``landing/so``."""
    (landing / "so").mkdir(parents=True, exist_ok=True)
    for day in days:
        name = landing_name(day)
        shutil.copyfile(SAMPLE_SO / name, landing / "so" / name)


def drop_column(source: Path, target: Path, header: str) -> None:
    """Copies a landing file without the column whose trimmed, case-folded header is ``header``."""
    with open(source, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    index = [h.strip().casefold() for h in rows[0]].index(header.casefold())
    with open(target, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([r[:index] + r[index + 1:] if r else r for r in rows])


def correct(landing_file: Path) -> None:
    """Rewrites one Qty of the first data row of an SO file: a corrected re-drop, newer mtime."""
    text = landing_file.read_bytes().decode("utf-8-sig")
    header, first, rest = text.split("\n", 2)
    names = [h.strip().casefold() for h in header.split(",")]
    fields = first.split(",")
    if len(fields) == len(names):
        qty = names.index("qty")
        fields[qty] = str(int(fields[qty].strip().strip('"') or 1) + 7)
        first = ",".join(fields)
    landing_file.write_bytes(("\n".join([header, first, rest])).encode())
    later = time.time() + 5
    os.utime(landing_file, (later, later))
