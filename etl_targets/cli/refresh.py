"""``--refresh`` and a changed ``--input``: make a built date out of date on purpose, then build.

luigi rebuilds only what is missing, so a date whose landing file was
corrected after it was built (or whose silver was rebuilt under its gold)
stays wrong until its stale outputs are gone. Before the build, this module
asks the status rules (:mod:`etl_targets.graph.state`) which outputs the
asked dates are built from are out of date, make-like: the stages of the
asked dates and everything they require, followed down the luigi graph, so
the earlier days a month-to-date or trailing window reads and the other
datasets a cross-dataset table reads are judged too. It moves the root
causes and everything built from them (:mod:`etl_targets.graph.downstream`)
to ``{lake}/_trash/<run_id>/``; the build then makes them again. The run
record lists what was refreshed and why, and every gold table whose output
moved is built again by the same run, whichever subcommand it belongs to: a
corrected SO file of the 10th also rebuilds the days of cover of the 10th to
the 16th and the month-to-date tables after the asked range, so a refresh
never leaves a published table missing.

A dataset's subcommand starts from that dataset's stages. A pipeline
(``cover``, ``all``) starts from the stages of every dataset its tables
read, so ``cover --refresh`` after a corrected SO file refreshes SO's
bronze (the root cause) and not only the tables built on it. Nothing that
no asked stage is built from is judged: a day outside every asked table's
window stays as it is, out of date or not.
"""

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

import luigi
from luigi.task import flatten

from etl_targets.datasets import DATASETS, Pipeline
from etl_targets.datasets.base import Dataset
from etl_targets.datasets.gold import inputs
from etl_targets.dates import describe_dates
from etl_targets.graph import downstream, state
from etl_targets.graph.registry import TASKS
from etl_targets.graph.tasks import GoldTask
from etl_targets.lake import context, storage

log = logging.getLogger("etl_targets")

#: bronze before silver before the gold tables, for the record's order
_STAGE_ORDER = {"bronze": 0, "silver": 1}


@dataclasses.dataclass(frozen=True)
class Refresh:
    """One stage of one date of one dataset to rebuild, and why.

    Attributes:
        upstream_of: the asked dates whose stages are built from this one,
            when its own date (or dataset) was not asked; empty otherwise.
    """

    date: dt.date
    stage: str  # ``bronze``, ``silver`` or a gold table name (invalidate's spelling)
    reason: str
    dataset: Dataset
    upstream_of: Tuple[dt.date, ...] = ()

    def as_dict(self) -> dict:
        return {"dataset": self.dataset.folder, "date": self.date.isoformat(),
                "stage": self.stage, "reason": self.reason,
                "upstream_of": [day.isoformat() for day in self.upstream_of]}


class Invalidated(NamedTuple):
    """What a refresh moved aside, and the gold tasks the run must build again."""

    locations: List[str]
    rebuild: List[luigi.Task]


def judged_datasets(target) -> List[Dataset]:
    """The datasets whose stages a refresh of ``target`` (a dataset or a pipeline) judges.

    A dataset judges itself. A pipeline judges the owner of each of its
    tables and every dataset those tables read, read-from datasets first, so
    a root cause upstream is chosen before the tables built on it.
    """
    if not isinstance(target, Pipeline):
        return [target]
    ordered: List[Dataset] = []
    for table in target.gold:
        owner = next(d for d in DATASETS.values() if table in d.gold)
        read = [DATASETS[source.dataset] for source in inputs(owner, table)
                if source.dataset != owner.folder]
        ordered += [d for d in read + [owner] if d not in ordered]
    return ordered


def out_of_date(target, dates: Sequence[dt.date], roots: dict) -> List[Refresh]:
    """The out-of-date outputs the asked stages are built from, root causes only.

    The asked stages are bronze, silver and each gold table of the asked
    dates, for every dataset ``target`` judges; what they require is judged
    with them, whatever its date or dataset (the 1st..D of a month-to-date
    table, SO's D-6..D of the days of cover). Refreshing an output rebuilds
    everything downstream of it, so a stale output downstream of a chosen
    one is not listed again: the record names root causes, in date order.

    Args:
        target: a dataset, or a pipeline (see :func:`judged_datasets`).
    """
    asked = [task for dataset in judged_datasets(target) for day in dates
             for task in state.stage_tasks(dataset, day, roots)]
    graph = _Upstream(asked)
    with context.use(context.BuildContext()) as build:
        rules = state.Rules(build)
        rules.prefetch(asked)
        chosen = graph.root_causes(rules)
    refreshes = [graph.refresh(task, found) for task, found in chosen]
    return sorted(refreshes, key=lambda item: (item.date, _STAGE_ORDER.get(item.stage, 2),
                                               item.dataset.folder, item.stage))


class _Upstream:
    """The asked tasks and every built task they require, followed down the graph.

    External tasks (the landing area) are left out: they are never refreshed;
    bronze's landing rule judges them.
    """

    def __init__(self, asked: Sequence[luigi.Task]):
        self.asked = {task.task_id for task in asked}
        self.tasks: Dict[str, luigi.Task] = {}
        self.inputs: Dict[str, List[str]] = {}
        stack = list(asked)
        while stack:
            task = stack.pop()
            if task.task_id in self.tasks:
                continue
            self.tasks[task.task_id] = task
            required = [dep for dep in flatten(task.requires())
                        if not isinstance(dep, luigi.ExternalTask)]
            self.inputs[task.task_id] = [dep.task_id for dep in required]
            stack.extend(required)
        self._readers: Optional[Dict[str, Set[str]]] = None

    def _asked_readers(self) -> Dict[str, Set[str]]:
        """For each task, the asked tasks built from it (itself, if asked), found once."""
        if self._readers is not None:
            return self._readers
        ordered = downstream.dependents_first(list(self.tasks.values()))
        readers = {tid: ({tid} if tid in self.asked else set()) for tid in self.tasks}
        for task in ordered:  # a task's readers are complete before its inputs are reached
            for dep in self.inputs[task.task_id]:
                readers[dep] |= readers[task.task_id]
        self._readers = readers
        return readers

    def root_causes(self, rules: state.Rules) -> List[Tuple[luigi.Task, state.StageState]]:
        """The out-of-date tasks none of whose inputs is chosen or built from a chosen one."""
        ordered = reversed(downstream.dependents_first(list(self.tasks.values())))
        chosen, covered = [], set()
        for task in ordered:  # inputs first
            if any(dep in covered for dep in self.inputs[task.task_id]):
                covered.add(task.task_id)
                continue
            found = rules.state(task)
            if found.state in state.OUT_OF_DATE:
                chosen.append((task, found))
                covered.add(task.task_id)
        return chosen

    def refresh(self, task: luigi.Task, found: state.StageState) -> Refresh:
        """The record's entry; one not asked itself names the asked stages built from it."""
        stage = found.stage.split(":", 1)[1] if isinstance(task, GoldTask) else found.stage
        if task.task_id in self.asked:
            return Refresh(task.date, stage, found.reason, task.dataset)
        readers = [self.tasks[tid] for tid in self._asked_readers()[task.task_id]]
        by_stage: Dict[str, List[dt.date]] = {}
        for reader in readers:
            by_stage.setdefault(state.stage_name(reader), []).append(reader.date)
        needed = ", ".join(f"{name} of {describe_dates(days)}"
                           for name, days in sorted(by_stage.items()))
        return Refresh(task.date, stage, f"{found.reason}; upstream of {needed}", task.dataset,
                       tuple(sorted({reader.date for reader in readers})))


def changed_input(dataset, day: dt.date, source: str, roots: dict) -> Optional[Refresh]:
    """A refresh of ``day``'s bronze when the ``--input`` file's bytes differ from what bronze holds.

    The same bytes are "already complete"; a date never landed needs no refresh.
    """
    bronze = TASKS[f"Bronze{dataset.code}"](date=day, **roots).output()["manifest"]
    try:
        landed = json.loads(bronze.read_bytes())["sha256"]
    except FileNotFoundError:
        return None
    fs, path = storage.filesystem(source)
    digest = hashlib.sha256()
    with storage.open_input(fs, path) as reader:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() == landed:
        return None
    return Refresh(day, "bronze", f"--input {storage.redact(source)} differs from the landed "
                                  f"file (sha256 {digest.hexdigest()[:12]} vs {landed[:12]})",
                   dataset)


def invalidate(refreshes: Sequence[Refresh], roots: dict, run_id: str,
               dry_run: bool) -> Invalidated:
    """Moves the stale outputs (and their downstream) to the trash.

    A dry run only lists them.

    Returns:
        the moved files, and the gold tasks whose output moved (in date
        order), for the run to build again.
    """
    starts = [task for item in refreshes
              for task in downstream.starting_tasks(item.dataset, item.stage, [item.date], roots)]
    lake = context.current().area(roots["lake_root"])
    outputs = downstream.existing_outputs(starts + downstream.downstream(starts), lake)
    if not dry_run:
        downstream.move_to_trash(outputs, lake, run_id)
        log.info("refresh moved %d files to %s", len(outputs),
                 lake.location(downstream.trash_folder(lake, run_id)))
    rebuild = {output.task.task_id: output.task for output in outputs
               if isinstance(output.task, GoldTask)}
    return Invalidated([output.target.location for output in outputs],
                       sorted(rebuild.values(), key=lambda task: (task.date, task.task_family)))
