"""What to remove when some outputs are wrong: a stage's dates and everything built from them.

The downstream set is read from the luigi graph itself, never from a list
kept by hand: every registered task class is instantiated for every date
that could depend on the invalidated ones, and each candidate's
``requires()`` is walked down to see whether it reaches one of them. A new
gold table, a trailing window or a cross-dataset table is therefore found
without touching this module.

Removal is a move into ``{lake}/_trash/<run_id>/`` with the same relative
path, so a mistake is undone by moving the files back; the leading
underscore keeps Hive/Parquet readers of ``{lake}/gold/...`` away from it.
The landing area is read only: outputs of external tasks are never touched.
"""

import dataclasses
import datetime as dt
import heapq
import posixpath
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import luigi
from luigi.task import flatten

from etl_targets.datasets.base import Dataset
from etl_targets.dates import days_between
from etl_targets.errors import EtlError, StorageError, UsageError
from etl_targets.graph.registry import TASKS, gold_tasks
from etl_targets.lake import context, storage
from etl_targets.lake.context import Area

#: Days after the last invalidated date whose tasks may still read it. The
#: widest window today is month to date (up to 30 days later); 62 covers a
#: two-month window too. A wider future window needs a bigger horizon.
HORIZON_DAYS = 62

#: The stages every dataset has; a gold table's name is a stage too.
STAGES = ("bronze", "silver", "gold")

#: The lake folder removed outputs go to, ``_trash/<run_id>/<relative path>``.
TRASH_FOLDER = "_trash"


@dataclasses.dataclass(frozen=True)
class Output:
    """One existing output of an invalidated task.

    Attributes:
        task: the task whose output it is.
        target: the output itself.
        relative: its path below the lake root (also its path below the trash folder).
    """

    task: luigi.Task
    target: object
    relative: str

    @property
    def stage(self) -> str:
        """The lake's top folder: ``bronze``, ``silver``, ``gold``..."""
        return self.relative.split("/", 1)[0]


def stage_names(dataset: Dataset) -> List[str]:
    """What ``--stage`` accepts for ``dataset``: the stages, then its gold tables."""
    return list(STAGES) + [table.name for table in dataset.gold]


def stage_classes(dataset: Dataset, stage: str) -> List[type]:
    """The task classes whose outputs are ``stage`` of ``dataset``.

    Raises:
        UsageError: ``stage`` is neither a stage nor one of the dataset's gold tables.
    """
    if stage == "bronze":
        return [TASKS[f"Bronze{dataset.code}"]]
    if stage == "silver":
        return [TASKS[f"Silver{dataset.code}"]]
    tables = dict(zip((t.name for t in dataset.gold), gold_tasks(dataset)))
    if stage == "gold":
        return list(tables.values())
    if stage in tables:
        return [tables[stage]]
    raise UsageError(f"unknown stage {stage!r} for {dataset.folder}: "
                     f"choose from {', '.join(stage_names(dataset))}")


def starting_tasks(dataset: Dataset, stage: str, dates: Sequence[dt.date],
                   roots: Mapping[str, str]) -> List[luigi.Task]:
    """The tasks of ``stage`` for ``dates``: where invalidation starts."""
    return [cls(date=day, **roots) for day in dates for cls in stage_classes(dataset, stage)]


def candidate_tasks(dates: Sequence[dt.date], roots: Mapping[str, str],
                    classes: Optional[Iterable[type]] = None,
                    horizon: int = HORIZON_DAYS) -> List[luigi.Task]:
    """Every task that might read the invalidated dates: each class for each date up to ``horizon``.

    All datasets' classes take part, since a cross-dataset table may read
    this one. External tasks are left out: they have no inputs, and their
    outputs (the landing area) are never touched.

    Args:
        dates: the invalidated dates.
        roots: ``lake_root`` and ``landing_root``, as every task takes them.
        classes: the task classes (each takes ``date`` and the roots); default
            every registered one, :data:`etl_targets.graph.registry.TASKS`.
        horizon: days after the last date that are considered.
    """
    classes = TASKS.values() if classes is None else classes
    built = [cls for cls in classes if not issubclass(cls, luigi.ExternalTask)]
    last = max(dates) + dt.timedelta(days=horizon)
    return [cls(date=day, **roots) for day in days_between(min(dates), last) for cls in built]


def downstream(starts: Sequence[luigi.Task], classes: Optional[Iterable[type]] = None,
               horizon: int = HORIZON_DAYS) -> List[luigi.Task]:
    """Every candidate task whose ``requires()``, followed down, reaches one of ``starts``.

    Args:
        starts: the invalidated tasks; all share one lake and landing root.
        classes: candidate task classes, default every registered one
            (see :func:`candidate_tasks`).
        horizon: days after the last start's date that are considered.

    Returns:
        The dependent tasks (``starts`` themselves excluded), in candidate order.
    """
    if not starts:
        return []
    roots = {"lake_root": starts[0].lake_root, "landing_root": starts[0].landing_root}
    reaches = _Reach({task.task_id for task in starts})
    return [task for task in candidate_tasks([t.date for t in starts], roots, classes, horizon)
            if task.task_id not in reaches.starts and reaches(task)]


class _Reach:
    """Does a task depend on one of the start tasks? Memoised by task id, walked without recursion.

    The walk is iterative so a long chain (a task that reads the day before,
    every day of a year) cannot exhaust Python's recursion limit.
    """

    def __init__(self, starts: set):
        self.starts = starts
        self._known: Dict[str, bool] = {task_id: True for task_id in starts}

    def __call__(self, task: luigi.Task) -> bool:
        stack = [task]
        while stack:
            node = stack[-1]
            if node.task_id in self._known:
                stack.pop()
                continue
            inputs = flatten(node.requires())
            pending = [dep for dep in inputs if dep.task_id not in self._known]
            if pending:
                stack.extend(pending)
                continue
            self._known[node.task_id] = any(self._known[dep.task_id] for dep in inputs)
            stack.pop()
        return self._known[task.task_id]


def dependents_first(tasks: Sequence[luigi.Task]) -> List[luigi.Task]:
    """``tasks`` ordered so that every task comes before the tasks it requires.

    Removing in this order keeps the removed set closed under "depends on":
    if a move fails half-way, no task left complete reads a removed output,
    so a rebuild cannot stop at a stale table built on what was removed.
    Ties go by date, then task family, for a stable order.
    """
    by_id = {task.task_id: task for task in tasks}
    inputs = {tid: {d.task_id for d in flatten(t.requires())} & by_id.keys()
              for tid, t in by_id.items()}
    waiting = {tid: 0 for tid in by_id}
    for required in inputs.values():
        for tid in required:
            waiting[tid] += 1
    ready = [_order_key(by_id[tid]) for tid, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        *_, tid = heapq.heappop(ready)
        ordered.append(by_id[tid])
        for required in inputs[tid]:
            waiting[required] -= 1
            if waiting[required] == 0:
                heapq.heappush(ready, _order_key(by_id[required]))
    return ordered


def _order_key(task: luigi.Task) -> tuple:
    return (getattr(task, "date", dt.date.min), task.task_family, task.task_id)


def existing_outputs(tasks: Sequence[luigi.Task], lake: Area) -> List[Output]:
    """The outputs of ``tasks`` that exist, in the order they must be moved.

    Existence costs one listing per stage prefix (all fetched at once) in a
    fresh build context. Tasks are taken dependents first
    (:func:`dependents_first`); within a task its outputs go in reverse
    declaration order: tasks declare outputs in the order they write them,
    the completion signal last (silver's ``silver`` after ``rejects``,
    bronze's manifest after the file), so the signal is moved first and a
    half-moved task never looks complete.

    Raises:
        EtlError: an output lies outside ``lake``; it cannot go to its trash.
        StorageError: a listing or existence check failed (never read as "absent").
    """
    with context.use(context.BuildContext()) as build:
        targets = [(task, target) for task in dependents_first(tasks)
                   for target in reversed(flatten(task.output()))]
        build.prefetch((t.area, t.listing_prefix) for _, t in targets if t.listing_prefix)
        return [Output(task, target, _relative(lake, target))
                for task, target in targets if target.exists()]


def _relative(lake: Area, target) -> str:
    root = lake.key(lake.path).rstrip("/") + "/"
    key = target.area.key(target.path)
    if not key.startswith(root):
        raise EtlError(f"cannot invalidate {target.location}: it is not in the lake "
                       f"{lake.location(lake.path)}")
    return key[len(root):]


def invalidation(dataset: Dataset, stage: str, dates: Sequence[dt.date], roots: Mapping[str, str],
                 classes: Optional[Iterable[type]] = None) -> List[Output]:
    """What invalidating ``stage`` of ``dates`` removes: the existing outputs, in move order.

    Args:
        dataset: the dataset whose stage is invalidated.
        stage: ``bronze``, ``silver``, ``gold`` or one of the dataset's gold tables.
        dates: the dates invalidated.
        roots: ``lake_root`` and ``landing_root``.
        classes: candidate task classes for the downstream walk (default: all registered).
    """
    starts = starting_tasks(dataset, stage, dates, roots)
    tasks = starts + downstream(starts, classes)
    return existing_outputs(tasks, context.current().area(roots["lake_root"]))


def trash_folder(lake: Area, run_id: str) -> str:
    """``{lake}/_trash/<run_id>``: where one invalidation's files go."""
    return lake.join(TRASH_FOLDER, run_id)


def move_to_trash(outputs: Sequence[Output], lake: Area, run_id: str) -> List[Output]:
    """Moves ``outputs`` into :func:`trash_folder`, in the given order; returns those moved.

    Raises:
        StorageError: a move failed; outputs before it are in the trash, the
            rest are in place (the message names the file).
    """
    trash = trash_folder(lake, run_id)
    moved = []
    for output in outputs:
        move(lake.fs, output.target.path, storage.join(trash, output.relative))
        moved.append(output)
    return moved


def move(fs, source: str, destination: str) -> None:
    """Moves one file within a filesystem: a rename locally, a server-side copy then delete on S3.

    Belongs beside the other primitives in :mod:`etl_targets.lake.storage`;
    kept here until it moves there.

    Raises:
        StorageError: the move failed, naming both paths; never swallowed.
    """
    try:
        if storage.is_local(fs):
            fs.makedirs(posixpath.dirname(destination), exist_ok=True)
            fs.mv(source, destination)
        else:
            fs.copy(source, destination)
            fs.rm(source)
    except Exception as exc:  # noqa: BLE001 - wrapped with the paths, never swallowed
        reason = storage.redact(" ".join(str(exc).split()) or type(exc).__name__)
        raise StorageError(f"cannot move {storage.location(fs, source)} to "
                           f"{storage.location(fs, destination)}: {reason}") from exc
