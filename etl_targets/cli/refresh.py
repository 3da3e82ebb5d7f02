"""``--refresh`` and a changed ``--input``: make a built date out of date on purpose, then build.

luigi rebuilds only what is missing, so a date whose landing file was
corrected after it was built (or whose silver was rebuilt under its gold)
stays wrong until its stale outputs are gone. Before the build, this module
asks the status rules (:mod:`etl_targets.graph.state`) which stages of the
asked dates are out of date, and moves those outputs and everything built
from them (:mod:`etl_targets.graph.downstream`, found from the luigi graph)
to ``{lake}/_trash/<run_id>/``; the build then makes them again. The run
record lists what was refreshed and why, and every gold table whose output
moved is built again by the same run, whichever subcommand it belongs to: a
corrected SO file of the 10th also rebuilds the days of cover of the 10th to
the 16th and the month-to-date tables after the asked range, so a refresh
never leaves a published table missing.

A dataset's subcommand judges that dataset's stages. A pipeline (``cover``,
``all``) judges every dataset its tables read, the read-from ones first, so
``cover --refresh`` after a corrected SO file refreshes SO's silver (the root
cause) and not only the tables built on it.
"""

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from typing import List, NamedTuple, Optional, Sequence

import luigi

from etl_targets.datasets import DATASETS, Pipeline
from etl_targets.datasets.base import Dataset
from etl_targets.datasets.gold import inputs
from etl_targets.graph import downstream, state
from etl_targets.graph.registry import TASKS
from etl_targets.graph.tasks import GoldTask
from etl_targets.lake import context, storage

log = logging.getLogger("etl_targets")


@dataclasses.dataclass(frozen=True)
class Refresh:
    """One stage of one date of one dataset to rebuild, and why."""

    date: dt.date
    stage: str  # ``bronze``, ``silver`` or a gold table name (invalidate's spelling)
    reason: str
    dataset: Dataset

    def as_dict(self) -> dict:
        return {"dataset": self.dataset.folder, "date": self.date.isoformat(),
                "stage": self.stage, "reason": self.reason}


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
    """The stages ``status`` reports out of date that no earlier refresh already covers.

    Refreshing a stage rebuilds everything downstream of it (a corrected
    landing file of the 6th also refreshes the month-to-date tables of the
    7th onwards), so a stale stage already downstream of a chosen one is
    not listed again: the record names root causes.

    Args:
        target: a dataset, or a pipeline (see :func:`judged_datasets`).
    """
    chosen: List[Refresh] = []
    covered = set()
    for dataset in judged_datasets(target):
        for item in state.evaluate(dataset, dates, roots["lake_root"], roots["landing_root"]):
            if item.state not in state.OUT_OF_DATE:
                continue
            stage = item.stage.split(":", 1)[1] if item.stage.startswith("gold:") else item.stage
            starts = downstream.starting_tasks(dataset, stage, [item.date], roots)
            if all(task.task_id in covered for task in starts):
                continue
            chosen.append(Refresh(item.date, stage, item.reason, dataset))
            covered |= {task.task_id for task in starts + downstream.downstream(starts)}
    return chosen


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
