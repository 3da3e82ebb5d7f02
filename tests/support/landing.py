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
    """A corrected re-drop of an SO file, newer mtime: one order line's Qty raised by 7.

    The line is the first that reaches gold (a valid Qty, not CANCELLED), so
    the correction always changes silver and the gold tables built on it.
    """
    with open(landing_file, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    names = [h.strip().casefold() for h in rows[0]]
    qty, status = names.index("qty"), names.index("status")
    for row in rows[1:]:
        if len(row) == len(names) and row[qty].strip().isdigit() and int(row[qty]) > 0 \
                and row[status].strip().casefold() != "cancelled":
            row[qty] = str(int(row[qty]) + 7)
            break
    else:
        raise AssertionError(f"{landing_file} has no line to correct")
    with open(landing_file, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(rows)
    later = time.time() + 5
    os.utime(landing_file, (later, later))
