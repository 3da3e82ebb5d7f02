"""``luigi.build`` in this process, and what luigi reported about each task.

Which tasks ran is read from luigi's public task events, not from the code
under test. Importing this module registers the event handlers (once: it is
always imported as ``support.builds``).
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import luigi


@dataclasses.dataclass
class Build:
    """One ``luigi.build`` and what luigi reported about each task.

    Attributes:
        result: the ``LuigiRunResult`` (``detailed_summary=True``).
        ran: tasks whose ``run()`` succeeded.
        complete: tasks found complete while scheduling (not run).
        failed: ``(task, exception)`` for tasks whose ``run()`` raised.
        missing: external tasks whose output was missing.
    """

    result: object = None
    ran: list = dataclasses.field(default_factory=list)
    complete: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)
    missing: list = dataclasses.field(default_factory=list)

    @staticmethod
    def names(tasks) -> List[str]:
        """``["GoldSO(2026-01-27)", ...]``, sorted."""
        return sorted(f"{t.task_family}({t.date.isoformat()})" for t in tasks)

    def ran_names(self, family: Optional[str] = None) -> List[str]:
        return self.names(t for t in self.ran if family in (None, t.task_family))

    def complete_names(self) -> List[str]:
        return self.names(self.complete)

    @property
    def status(self):
        return self.result.status


_RECORDING: List[Build] = []


@luigi.Task.event_handler(luigi.Event.SUCCESS)
def _record_success(task):
    for record in _RECORDING:
        record.ran.append(task)


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_PRESENT)
def _record_complete(task):
    for record in _RECORDING:
        record.complete.append(task)


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _record_failure(task, exception):
    for record in _RECORDING:
        record.failed.append((task, exception))


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_MISSING)
def _record_missing(task):
    for record in _RECORDING:
        record.missing.append(task)


def build(tasks, **options) -> Build:
    """Runs ``luigi.build`` in this process (local scheduler unless told) and records it."""
    options.setdefault("local_scheduler", "scheduler_host" not in options)
    record = Build()
    _RECORDING.append(record)
    try:
        record.result = luigi.build(list(tasks), detailed_summary=True, **options)
    finally:
        _RECORDING.remove(record)
    return record
