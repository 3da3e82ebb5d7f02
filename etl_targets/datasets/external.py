"""Datasets declared outside the package: where to find them.

Two places name them, each entry either a module (``acme_etl``: importing it
registers its datasets, as ``luigi --module acme_etl`` needs anyway) or a
callable or value in a module (``acme_etl:datasets``) giving datasets to
register:

* the ``etl_targets.datasets`` entry point group of installed packages
  (``[project.entry-points."etl_targets.datasets"] acme = "acme_etl"``);
* luigi.cfg ``[etl_targets] datasets = acme_etl, other_pkg:datasets``.

This module only imports and collects; registering (and creating the luigi
tasks) is :func:`etl_targets.register`'s job.
"""

import importlib
import importlib.metadata
from typing import Iterable, List, Optional, Sequence

from etl_targets.datasets.base import Dataset, DeclarationError

GROUP = "etl_targets.datasets"


def discover(configured: Sequence[str], entry_points: Optional[Iterable] = None) -> List[Dataset]:
    """Imports every named module; returns the datasets named callables or values give.

    Args:
        configured: the luigi.cfg entries, in order.
        entry_points: ``importlib.metadata`` entry points (default: the installed
            ones of :data:`GROUP`, by name).

    Raises:
        DeclarationError: an entry cannot be imported or gives something else
            than datasets; a dataset registered on import clashes.
    """
    if entry_points is None:
        entry_points = sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name)
    found: List[Dataset] = []
    for point in entry_points:
        dist = getattr(point, "dist", None)
        origin = f"entry point {point.name!r}" + (f" of {dist.name}" if dist else "")
        found += load(point.value, origin)
    for spec in configured:
        found += load(spec, "luigi.cfg [etl_targets] datasets")
    return found


def load(spec: str, origin: str) -> List[Dataset]:
    """The datasets of one entry: ``module`` (none: it registers its own) or ``module:name``."""
    module_name, _, attribute = (part.strip() for part in spec.partition(":"))
    try:
        module = importlib.import_module(module_name)
    except DeclarationError:
        raise
    except Exception as exc:
        raise DeclarationError(f"{origin}: cannot import {module_name!r}: "
                               f"{type(exc).__name__}: {exc}") from exc
    if not attribute:
        return []
    try:
        given = getattr(module, attribute)
    except AttributeError:
        raise DeclarationError(f"{origin}: {module_name} has no {attribute!r}") from None
    if callable(given) and not isinstance(given, Dataset):
        given = given()
    datasets = [given] if isinstance(given, Dataset) else list(given)
    wrong = [d for d in datasets if not isinstance(d, Dataset)]
    if wrong:
        raise DeclarationError(f"{origin}: {spec} gives {wrong[0]!r}, not a Dataset")
    return datasets
