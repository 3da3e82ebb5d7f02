"""The registry of datasets: an explicit dict that refuses silent overwrites.

Adding a dataset is one declaration module plus one ``register`` line here;
the tasks, the CLI subcommand and the lake paths follow from it.
"""

from typing import Dict

from etl_targets.datasets.base import Dataset
from etl_targets.datasets.so import SO

DATASETS: Dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Adds ``dataset`` under its folder name.

    Raises:
        ValueError: a dataset with that name or code is already registered.
    """
    for known in DATASETS.values():
        if known.folder == dataset.folder or known.code == dataset.code:
            raise ValueError(f"dataset {dataset.folder!r} ({dataset.code}) is already registered")
    DATASETS[dataset.folder] = dataset
    return dataset


register(SO)
