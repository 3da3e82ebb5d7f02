"""Where things live: the contract's section 3 as functions of (dataset, date).

One module decides every path so tasks, the CLI, manifests and tests cannot
disagree about the lake layout. Paths are relative to a root (the lake or
the landing area); an :class:`~etl_targets.lake.context.Area` joins them to
its own root, so the root is resolved once per build, not once per path.
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


def landing_folder(dataset: Dataset) -> str:
    return dataset.folder


def landing_file(dataset: Dataset, day: dt.date) -> str:
    return join(landing_folder(dataset), dataset.landing_name(day))


def stage_folder(stage: str, table: str) -> str:
    """``silver/so``: the prefix one listing answers for every date."""
    return join(stage, table)


def bronze_file(dataset: Dataset, day: dt.date) -> str:
    return join(stage_folder("bronze", dataset.folder), partition(day), dataset.landing_name(day))


def bronze_manifest(dataset: Dataset, day: dt.date) -> str:
    return join(stage_folder("bronze", dataset.folder), partition(day), BRONZE_MANIFEST)


def parquet_file(stage: str, table: str, day: dt.date) -> str:
    """``{stage}/{table}/date=YYYY-MM-DD/data.parquet``."""
    return join(stage_folder(stage, table), partition(day), PARQUET_FILE)


def ops_folder(*parts: str) -> str:
    """``_ops/...``: run manifests, history and freshness pointers."""
    return join("_ops", *parts)


def failures_folder(dataset: Dataset) -> str:
    """``_ops/failures/so``: one listing tells which dates' last build failed."""
    return ops_folder("failures", dataset.folder)


def failure_marker(dataset: Dataset, day: dt.date, task_family: str) -> str:
    """``_ops/failures/so/date=D/SilverSO.json``: the last failure of one task."""
    return join(failures_folder(dataset), partition(day), f"{task_family}.json")


def anomalies_folder(dataset: Dataset) -> str:
    """``_ops/anomalies/so``: one listing tells which dates' volume was out of line."""
    return ops_folder("anomalies", dataset.folder)


def anomaly_marker(dataset: Dataset, day: dt.date) -> str:
    """``_ops/anomalies/so/date=D.json``: the volume anomaly of one landed date."""
    return join(anomalies_folder(dataset), f"{partition(day)}.json")
