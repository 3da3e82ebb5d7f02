"""The registry of datasets: an explicit dict that refuses silent overwrites.

Adding a dataset to the package is one declaration module plus one
``register`` line here; a dataset declared elsewhere is registered through
:func:`etl_targets.register` (which also creates its luigi tasks). The
tasks, the CLI subcommand and the lake paths follow from the declaration.

Every name a declaration takes is checked against every registered one:
folder (landing, bronze, silver, rejects and CLI subcommand), code, luigi
task names, gold table folders and pipeline subcommands.
"""

import dataclasses
import datetime as dt
from typing import Dict, Iterable, List, Mapping, NamedTuple, Tuple, Union

import pyarrow as pa

from etl_targets.datasets.base import Dataset, DeclarationError
from etl_targets.datasets.fx import FX
from etl_targets.datasets.gl import GL
from etl_targets.datasets.gold import aggregate, gold_schema
from etl_targets.datasets.gold_tables import GoldTable
from etl_targets.datasets.inv import INV
from etl_targets.datasets.po import PO
from etl_targets.datasets.so import SO

DATASETS: Dict[str, Dataset] = {}

#: the subcommand that builds every gold table of every dataset
ALL = "all"
#: every other ``etl-targets`` subcommand that is not a dataset's or a pipeline's:
#: a dataset (or pipeline) of one of these names would take its place
COMMANDS = ("freshness", "gc", "init", "invalidate", "runs", "snapshot", "status")


def task_names(dataset: Dataset) -> List[str]:
    """The luigi task families a dataset's declaration creates."""
    code = dataset.code
    return [f"Landing{code}", f"Bronze{code}", f"Silver{code}"] + [t.task for t in dataset.gold]


def _names(dataset: Dataset) -> Iterable[Tuple[str, str, str]]:
    """(namespace, name, whose) for every name the dataset takes."""
    whose = f"dataset {dataset.folder!r}" + (f" (declared in {dataset.declared_in})"
                                             if dataset.declared_in else "")
    yield "code", dataset.code, whose
    yield "subcommand", dataset.folder, whose
    for folder in (dataset.folder, dataset.rejects_folder):
        yield "lake folder", folder, whose
    for name in task_names(dataset)[:3]:
        yield "task", name, whose
    for table in dataset.gold:
        table_of = f"gold table {table.name} of {whose}"
        yield "task", table.task, table_of
        yield "gold folder", table.name, table_of
        if table.pipeline is not None:
            yield "subcommand", table.pipeline, f"the pipeline of {table_of}"


def clashes(dataset: Dataset, known: Iterable[Dataset]) -> List[str]:
    """Every name of ``dataset`` already taken, or reserved, with who holds it."""
    taken = {("subcommand", name): f"etl-targets {name}" for name in (ALL,) + COMMANDS}
    for other in known:
        for namespace, name, whose in _names(other):
            taken.setdefault((namespace, name), whose)
    found = []
    for namespace, name, whose in _names(dataset):
        holder = taken.get((namespace, name))
        # tables may share one pipeline subcommand; nothing else is shared
        shared = holder is not None and whose.startswith("the pipeline") and \
            holder.startswith("the pipeline")
        if holder is not None and not shared:
            found.append(f"{namespace} {name!r} of {whose} is already that of {holder}")
    return found + list(_unknown_inputs(dataset, known))


def _unknown_inputs(dataset: Dataset, known: Iterable[Dataset]) -> Iterable[str]:
    by_folder = {d.folder: d for d in known}
    for index, table in enumerate(dataset.gold):
        for source in getattr(table, "inputs", ()):
            own = source.dataset is None or source.dataset == dataset.folder
            if own and source.gold is None:
                continue
            other = dataset if own else by_folder.get(source.dataset)
            if other is None:
                yield (f"gold table {table.name} reads dataset {source.dataset!r}, "
                       f"which is not registered (register it first)")
                continue
            if source.gold is not None:
                yield from _gold_input_problems(table, source, other,
                                                dataset.gold[:index] if own else other.gold)
                continue
            missing = sorted(set(source.columns or ()) - set(other.silver_schema.names))
            if missing:
                yield (f"gold table {table.name} reads {', '.join(missing)} of dataset "
                       f"{source.dataset!r}, which has no such silver column")


def _gold_input_problems(table, source, other: Dataset, readable) -> Iterable[str]:
    """A gold input must name a table declared before it, and columns that table has."""
    found = next((t for t in readable if t.name == source.gold), None)
    if found is None:
        yield (f"gold table {table.name} reads gold table {source.gold!r} of dataset "
               f"{other.folder!r}, which declares no such table before it")
        return
    schema = gold_schema(other, found) if isinstance(found, GoldTable) else found.schema
    if schema is None:
        if not source.columns:
            yield (f"gold table {table.name} reads {source.gold}, whose schema is not "
                   f"declared: name the columns it reads")
        return
    missing = sorted(set(source.columns or ()) - set(schema.names))
    if missing:
        yield (f"gold table {table.name} reads {', '.join(missing)} of gold table "
               f"{source.gold!r}, which has no such column")


def uncomputable(dataset: Dataset) -> Iterable[str]:
    """Declared tables pyarrow cannot compute from the silver types (a sum of text, a
    filter comparing text with a number), found by computing each part on zero rows.

    Caught here, the mistake is one line naming the table and the measure when
    the dataset is registered, instead of a kernel error failing every date.
    """
    try:
        silver = dataset.silver_schema.empty_table()
    except (KeyError, TypeError, AttributeError):
        return  # the declaration's own checks name the column
    for table in dataset.gold:
        if not isinstance(table, GoldTable):
            continue  # a function's result is checked against its schema when it runs
        parts = [(f"measure {m.name} ({m.function})",
                  dataclasses.replace(table, where=None, measures=(m,))) for m in table.measures]
        if table.where is not None:
            parts.insert(0, ("its filter (where)", dataclasses.replace(table, measures=())))
        for what, part in parts:
            try:
                aggregate(dataset, part, silver, _ANY_DAY)
            except (pa.ArrowException, TypeError, ValueError, KeyError) as exc:
                yield (f"gold table {table.name}: {what} cannot be computed from the silver "
                       f"types ({' '.join(str(exc).split())[:200]})")


#: the business date a table is tried on at registration (any date does)
_ANY_DAY = dt.date(2000, 1, 31)


def register(dataset: Dataset) -> Dataset:
    """Adds ``dataset`` under its folder name (the same declaration again is a no-op).

    Raises:
        DeclarationError: one of its names is taken, naming both declarations.
    """
    if DATASETS.get(dataset.folder) == dataset:
        return DATASETS[dataset.folder]
    problems = clashes(dataset, DATASETS.values()) + list(uncomputable(dataset))
    if problems:
        raise DeclarationError(f"cannot register dataset {dataset.folder!r} "
                               f"({dataset.code}): " + "; ".join(problems))
    DATASETS[dataset.folder] = dataset
    return dataset


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """Gold tables of several datasets built together by one subcommand (``cover``, ``all``).

    Attributes:
        folder: the subcommand, and the folder of its logs and run records.
        code: shown in messages.
        gold: the tables, in build order.
    """

    folder: str
    code: str
    gold: Tuple[object, ...]


class Command(NamedTuple):
    """One ``etl-targets`` build subcommand: its name, help, and what it builds."""

    name: str
    help: str
    target: Union[Dataset, Pipeline]


def pipelines(datasets: Mapping[str, Dataset]) -> List[Command]:
    """The build subcommands: one per dataset, one per named pipeline, and ``all``.

    A dataset's subcommand builds its gold tables that have no pipeline of
    their own (``etl-targets inv`` does not wait for SO); its target is the
    dataset itself, or a copy holding only those tables.
    """
    found = []
    for dataset in datasets.values():
        own = tuple(t for t in dataset.gold if t.pipeline is None)
        target = dataset if own == dataset.gold else dataclasses.replace(dataset, gold=own)
        found.append(Command(dataset.folder, f"build every gold table of {dataset.code}", target))
    named: Dict[str, list] = {}
    for dataset in datasets.values():
        for table in dataset.gold:
            if table.pipeline is not None:
                named.setdefault(table.pipeline, []).append(table)
    for name, tables in named.items():
        found.append(Command(name, "build " + ", ".join(t.name for t in tables),
                             Pipeline(name, name, tuple(tables))))
    every = tuple(t for d in datasets.values() for t in d.gold)
    found.append(Command(ALL, "build every gold table of every dataset in one build",
                         Pipeline(ALL, ALL, every)))
    return found


for _builtin in (SO, PO, INV, GL, FX):
    register(_builtin)
