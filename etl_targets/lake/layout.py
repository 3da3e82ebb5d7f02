"""Where things live: the contract's section 3 as functions of (dataset, date).

One module decides every path so tasks, the CLI, manifests and tests cannot
disagree about the lake layout.
"""

import datetime as dt
from typing import Protocol

from etl_targets.dates import partition
from etl_targets.lake.storage import join

PARQUET_FILE = "data.parquet"
BRONZE_MANIFEST = "_manifest.json"


class Dataset(Protocol):
    """What the layout needs of a declaration (the lake never imports datasets)."""

    folder: str

    def landing_name(self, day: dt.date) -> str: ...


def landing_folder(landing_root: str, dataset: Dataset) -> str:
    return join(landing_root, dataset.folder)


def landing_file(landing_root: str, dataset: Dataset, day: dt.date) -> str:
    return join(landing_folder(landing_root, dataset), dataset.landing_name(day))


def stage_folder(lake_root: str, stage: str, table: str) -> str:
    """``{lake}/silver/so``: the prefix one listing answers for every date."""
    return join(lake_root, stage, table)


def bronze_file(lake_root: str, dataset: Dataset, day: dt.date) -> str:
    return join(stage_folder(lake_root, "bronze", dataset.folder), partition(day),
                dataset.landing_name(day))


def bronze_manifest(lake_root: str, dataset: Dataset, day: dt.date) -> str:
    return join(stage_folder(lake_root, "bronze", dataset.folder), partition(day), BRONZE_MANIFEST)


def parquet_file(lake_root: str, stage: str, table: str, day: dt.date) -> str:
    """``{lake}/{stage}/{table}/date=YYYY-MM-DD/data.parquet``."""
    return join(stage_folder(lake_root, stage, table), partition(day), PARQUET_FILE)


def ops_folder(lake_root: str, *parts: str) -> str:
    """``{lake}/_ops/...``: run manifests, history and freshness pointers."""
    return join(lake_root, "_ops", *parts)
