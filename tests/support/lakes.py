"""A lake as the data contract lays it out, and what a run left in one.

Paths are written out from the contract (section 3) rather than taken from
``etl_targets.lake.layout``, so a layout change that breaks the contract
fails the tests.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Dict, List, Tuple

from support.landing import landing_name

GOLD_TABLES = ("so_daily_sales", "so_mtd_by_region")


def partition(day: dt.date) -> str:
    """The Hive-style partition folder of ``day``: ``date=2026-01-27``."""
    return f"date={day.isoformat()}"


def contract_paths(day: dt.date) -> Dict[str, str]:
    """Every file a fully built SO date has, relative to the lake root, in build order.

    Keys: ``bronze``, ``manifest``, ``silver``, ``rejects``, ``daily``, ``mtd``.
    """
    part = partition(day)
    return {
        "bronze": f"bronze/so/{part}/{landing_name(day)}",
        "manifest": f"bronze/so/{part}/_manifest.json",
        "silver": f"silver/so/{part}/data.parquet",
        "rejects": f"silver/so_rejects/{part}/data.parquet",
        "daily": f"gold/so_daily_sales/{part}/data.parquet",
        "mtd": f"gold/so_mtd_by_region/{part}/data.parquet",
    }


def roots(lake, landing) -> Dict[str, str]:
    """A task's ``lake_root`` and ``landing_root`` parameters."""
    return {"lake_root": str(lake), "landing_root": str(landing)}


def snapshot(root: Path) -> Dict[str, Tuple[int, int, int]]:
    """Every file below ``root`` (hidden ones too): relative path -> (inode, mtime_ns, size)."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return found


def run_records(lake: Path, pipeline: str = "so") -> List[dict]:
    """The run records of a local lake (``_ops/runs/<pipeline>/``), oldest first.

    Their names start with the start time, so name order is start order.
    Every file there must be a record.
    """
    folder = Path(lake) / "_ops" / "runs" / pipeline
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.iterdir())]


def data_files(lake: Path) -> dict:
    """relative path -> (mtime_ns, bytes) of every data file (not the run records)."""
    return {p.relative_to(lake).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in lake.rglob("*") if p.is_file() and "_ops" not in p.parts
            and "_trash" not in p.parts}
