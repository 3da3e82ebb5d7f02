"""What a stage task leaves behind on luigi's events: its run time and its failure marker.

luigi fires ``PROCESSING_TIME`` and ``FAILURE`` wherever the task ran (this
process, a worker thread, another machine, the plain ``luigi`` command), so
a failure is recorded in the lake by every kind of build. Registered when
this module is imported, which :mod:`etl_targets.graph.registry` does.
"""

import datetime as dt
import json
import logging

import luigi

from etl_targets.errors import EtlError
from etl_targets.graph.tasks import DatedTask
from etl_targets.lake import context, layout, storage

log = logging.getLogger("luigi-interface")


@DatedTask.event_handler(luigi.Event.PROCESSING_TIME)
def remember_duration(task: DatedTask, seconds: float) -> None:
    """Keeps run times for the console (only seen when the task ran in this process)."""
    context.current().durations[task.task_id] = seconds


@DatedTask.event_handler(luigi.Event.FAILURE)
def record_failure(task: DatedTask, exception: BaseException) -> None:
    """Leaves ``_ops/failures/<dataset>/date=D/<Task>.json``: what ``status`` reports as failed.

    It is never removed on success: a marker older than the task's output is
    history.
    """
    lake = task.lake
    marker = lake.join(layout.failure_marker(task.dataset, task.date, task.task_family))
    error = " ".join(str(exception).split()) or type(exception).__name__
    record = {"task_id": task.task_id, "task_family": task.task_family,
              "date": task.date.isoformat(), "error": storage.redact(error)[:500],
              "failed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        context.current().write(lake, marker, json.dumps(record, indent=2).encode() + b"\n")
    except EtlError:  # the failure itself is in the log; a missing marker must not hide it
        log.exception("could not record the failure of %s", task.task_id)
