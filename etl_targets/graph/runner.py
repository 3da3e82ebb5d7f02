"""One luigi build in one build context: the engine under the CLI.

:func:`build` is ``luigi.build(..., detailed_summary=True)`` plus what the
CLI needs and stock luigi lacks: a :class:`BuildContext` current for the
whole build (one listing per stage, absence trusted only while scheduling),
a worker that reports each status change (for progress bars), and the
one-line error of every failed task, fetched from the scheduler so it works
with any number of worker processes and with ``luigid`` - and of every task
whose ``complete()`` raised while scheduling, which luigi reports only as
"failed scheduling".
"""

import dataclasses
import json
import time
import urllib.error
import urllib.parse
from typing import Callable, Dict, List, Optional, Sequence

import luigi
import luigi.interface
import luigi.rpc
import luigi.scheduler
import luigi.worker
import pyarrow
import pyarrow.compute
from luigi.execution_summary import LuigiRunResult

from etl_targets.errors import SchedulerUnavailable
from etl_targets.graph import windows
from etl_targets.lake import context as contexts
from etl_targets.lake.context import BuildContext

#: (task_id, status) -> None, called in the process that runs luigi.build
TaskListener = Callable[[str, str], None]

#: Seconds a central scheduler has to answer before a build is refused, and
#: the most one attempt waits (a scheduler that is restarting gets retried).
SCHEDULER_DEADLINE = 10.0
SCHEDULER_ATTEMPT_TIMEOUT = 5.0


class _ContextWorker(luigi.worker.Worker):
    """A luigi worker that ends the context's scheduling phase and reports statuses."""

    def __init__(self, *args, build_context: BuildContext, listener: Optional[TaskListener],
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._build_context = build_context
        self._listener = listener
        #: task_id -> (task, traceback) of every complete() that raised while scheduling
        self.complete_errors: Dict[str, tuple] = {}

    def run(self):
        # Scheduling is over: from here on other processes may write.
        self._build_context.scheduling_done()
        return super().run()

    # Private: the one place in the process running luigi.build that sees every
    # status change of every task (events fire in forked children); no public hook.
    def _add_task(self, *args, **kwargs):
        super()._add_task(*args, **kwargs)
        if kwargs["status"] == luigi.scheduler.DONE:
            # Its outputs exist, wherever it ran: later windows, and worker
            # processes forked from here on, need not ask storage.
            task = self._scheduled_tasks.get(kwargs["task_id"])
            if task is not None:
                self._build_context.saw(_outputs([task]))
        if self._listener is not None:
            self._listener(kwargs["task_id"], kwargs["status"])

    # Private: where luigi hands over a complete() that raised (a StorageError
    # from a listing, say), as traceback text; its public DEPENDENCY_MISSING
    # event carries no error. A public "dependency error" event would replace it.
    def _log_complete_error(self, task, tb):
        super()._log_complete_error(task, tb)
        self.complete_errors[task.task_id] = (task, tb)


# Private base: luigi.build's public worker_scheduler_factory argument expects
# this interface, and luigi has no public class for it.
class _Factory(luigi.interface._WorkerSchedulerFactory):
    """Makes our worker, and keeps the scheduler so errors can be fetched from it."""

    def __init__(self, build_context: BuildContext, listener: Optional[TaskListener],
                 keep_alive: bool):
        self._build_context = build_context
        self._listener = listener
        self._keep_alive = keep_alive
        self.scheduler = None

    def create_local_scheduler(self):
        # One in-process worker: pruning dead workers on every get_work (luigi's
        # default here) only costs time, quadratic in the number of tasks.
        self.scheduler = luigi.scheduler.Scheduler(prune_on_get_work=False,
                                                   record_task_history=False)
        return self.scheduler

    def create_remote_scheduler(self, url):
        self.scheduler = luigi.rpc.RemoteScheduler(url)
        return self.scheduler

    def create_worker(self, scheduler, worker_processes, assistant=False):
        extra = {"keep_alive": True} if self._keep_alive else {}
        return _ContextWorker(scheduler=scheduler, worker_processes=worker_processes,
                              assistant=assistant, build_context=self._build_context,
                              listener=self._listener, **extra)


#: luigi statuses after which a backfill goes on with its next window
#: (MISSING_EXT: a missing landing file holds back only the dates needing it)
_GOES_ON = (luigi.LuigiStatusCode.SUCCESS, luigi.LuigiStatusCode.SUCCESS_WITH_RETRY,
            luigi.LuigiStatusCode.MISSING_EXT)


@dataclasses.dataclass
class BuildOutcome:
    """What one build did, over all its windows.

    Attributes:
        result: luigi's own detailed summary of the last window luigi ran;
            None when every requested task was already complete and luigi
            had nothing to schedule.
        ran: tasks this worker saw go from pending to DONE in this build.
        failures: failed task -> its one-line error; a task whose
            ``complete()`` raised (storage that cannot be read) is one too.
        missing: external input tasks that were absent.
        context: the build's context (holds dry-run output).
        done_elsewhere: with a central scheduler, luigi reports tasks other
            workers ran as "not granted run permission"; True when every
            requested task turned out complete after all.
        windows: the luigi builds run (see :mod:`etl_targets.graph.windows`).
        not_attempted: requested tasks of the windows after the one that
            failed, which were never scheduled.
    """

    result: Optional[LuigiRunResult]
    ran: List[luigi.Task]
    failures: Dict[luigi.Task, str]
    missing: List[luigi.Task]
    context: BuildContext
    done_elsewhere: bool = False
    windows: int = 0
    not_attempted: List[luigi.Task] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> luigi.LuigiStatusCode:
        return self.result.status if self.result else luigi.LuigiStatusCode.SUCCESS

    @property
    def summary(self) -> str:
        if self.result is None:
            return "every requested task was already complete"
        return self.result.one_line_summary

    @property
    def stops(self) -> bool:
        """True when a task failed or did not run: what ends a build after its window."""
        return bool(self.failures) or not (self.done_elsewhere or self.status in _GOES_ON)

    def add(self, window: "BuildOutcome") -> None:
        """Takes in the outcome of one window, the next in date order."""
        self.result = window.result
        self.ran.extend(window.ran)
        self.failures.update(window.failures)
        known = {task.task_id for task in self.missing}
        self.missing.extend(task for task in window.missing if task.task_id not in known)
        self.done_elsewhere = not window.stops and (self.done_elsewhere or window.done_elsewhere)
        self.windows += 1


def build(tasks: Sequence[luigi.Task], *, workers: int = 1,
          scheduler_host: Optional[str] = None, scheduler_port: Optional[int] = None,
          dry_run: bool = False, listener: Optional[TaskListener] = None,
          build_context: Optional[BuildContext] = None) -> BuildOutcome:
    """Builds ``tasks`` (and whatever upstream is missing), window by window.

    A long range is scheduled in windows of consecutive dates, earliest
    first, one ``luigi.build`` each (:mod:`etl_targets.graph.windows`), so
    every date costs the same however many there are. One context serves
    every window: the listings taken at the start, plus what earlier windows
    completed, answer existence while a window schedules (with a central
    scheduler the lake is listed afresh per window, since other machines
    write it too). A window that luigi's listings prove complete is not
    handed to luigi, and when all are, luigi is not even started.

    The first window with a failed task ends the build, reported as that
    failure; the later windows would only retry it, as their inputs include
    its outputs. A missing landing file holds back only the dates that need
    it, as in one luigi build: later windows still run (except with a
    central scheduler, see below).

    Args:
        tasks: the requested tasks.
        workers: worker processes on this machine.
        scheduler_host: a ``luigid`` to share work with other machines;
            None uses an in-process scheduler. With a central scheduler the
            worker stays alive while others run tasks it needs. Ignored by
            a dry run, which always schedules in-process.
        scheduler_port: the ``luigid`` port (luigi.cfg default otherwise).
        dry_run: run everything in memory; nothing reaches the lake.
        listener: called with (task_id, status) on every status change; the
            tasks of a window found complete without luigi are reported DONE.
        build_context: a prepared context (tests); a fresh one by default.

    Raises:
        SchedulerUnavailable: the central scheduler does not answer.
        StorageError: a stage's listing failed (never read as "absent").
    """
    build_context = build_context or BuildContext(dry_run=dry_run)
    # A dry run never reports to luigid: its tasks would be DONE there, and
    # the scheduler would then refuse to run them for real (outputs that
    # were never written).
    central = scheduler_host is not None and not dry_run
    options = {"local_scheduler": not central, "workers": 1 if dry_run else workers}
    if central:
        options["scheduler_host"] = scheduler_host
        if scheduler_port:
            options["scheduler_port"] = scheduler_port
    if central:
        check_scheduler(luigi.interface.core(**options))
    outcome = BuildOutcome(None, [], {}, [], context=build_context)
    with contexts.use(build_context):
        # A listing failure raises StorageError here, never reads as "absent".
        build_context.prefetch(_output_prefixes(tasks))
        if not central and all(task.complete() for task in tasks):
            # The no-op rerun: the listings already prove it, luigi has nothing to do.
            return outcome
        if options["workers"] > 1:
            _warm_up_before_fork()
        _build_windows(windows.split(tasks), options, outcome, listener, central)
    return outcome


def _build_windows(parts, options, outcome: BuildOutcome, listener, central: bool) -> None:
    """Builds the windows in date order into ``outcome``, until one ends the build."""
    build_context = outcome.context
    for number, window in enumerate(parts):
        if not central and all(task.complete() for task in window):
            for task in window:  # what luigi would report: complete, nothing to run
                if listener is not None:
                    listener(task.task_id, "DONE")
            continue
        part = _build_window(window, options, build_context, listener, central)
        outcome.add(part)
        # With luigid a missing input ends the build too: a keep-alive worker
        # waits max_keep_alive_idle_duration for tasks that can never run, and
        # every later window with a gap would wait as long again.
        if part.stops or (central and part.missing):
            outcome.not_attempted = [task for later in parts[number + 1:] for task in later]
            return
        build_context.next_window(relist=central)
        if central and number + 1 < len(parts):
            build_context.prefetch(_output_prefixes(parts[number + 1]))


def _build_window(tasks, options, build_context, listener, central):
    """One ``luigi.build`` of one window, and what it did."""
    factory = _Factory(build_context, listener, keep_alive=central)
    result = luigi.build(list(tasks), worker_scheduler_factory=factory,
                         detailed_summary=True, **options)
    outcome = BuildOutcome(result, *_statuses(result, factory.scheduler), context=build_context)
    for task, trace in getattr(result.worker, "complete_errors", {}).values():
        # luigi only says "failed scheduling"; the error is what the operator needs.
        outcome.failures.setdefault(task, _last_line(trace, task.task_id))
    if central and result.status == luigi.LuigiStatusCode.NOT_RUN and not outcome.failures:
        outcome.done_elsewhere = _wait_for_other_workers(factory.scheduler, tasks)
    return outcome


def _outputs(tasks):
    """(area, path) of every lake or landing output of ``tasks``."""
    for task in tasks:
        for target in luigi.task.flatten(task.output()):
            if getattr(target, "area", None) is not None:
                yield target.area, target.path


def check_scheduler(core, deadline: float = SCHEDULER_DEADLINE,
                    attempt_timeout: float = SCHEDULER_ATTEMPT_TIMEOUT) -> None:
    """Refuses the build unless the central scheduler answers within ``deadline`` seconds.

    luigi's ``RemoteScheduler`` retries a dead scheduler (``[core]
    rpc-retry-attempts`` 3, ``rpc-retry-wait`` 30 s) and then fails with an
    unhandled exception: a minute, then "internal error". One read-only
    call of its API (``task_list``, as the web view makes) says the same in
    seconds; the build itself keeps luigi's retries for a scheduler that
    blips later.

    Args:
        core: luigi's ``[core]`` settings for the build (``luigi.interface.core``),
            whose ``scheduler_url`` or host and port luigi will use.
        deadline: seconds until the build is refused.
        attempt_timeout: the most one request waits for an answer.

    Raises:
        SchedulerUnavailable: naming host:port and why.
    """
    url = core.scheduler_url or f"http://{core.scheduler_host}:{core.scheduler_port:d}/"
    where = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]  # never a password
    query = {"data": json.dumps({"status": "RUNNING", "upstream_status": ""})}
    fetcher = luigi.rpc.URLLibFetcher()  # no retries of its own, and basic auth in the URL
    started = time.monotonic()
    while True:
        left = deadline - (time.monotonic() - started)
        try:
            answer = json.loads(fetcher.fetch(url.rstrip("/") + "/api/task_list", query,
                                              max(0.1, min(attempt_timeout, left))))
            if "response" in answer:
                return
            raise ValueError("no response field")
        except urllib.error.HTTPError as exc:
            raise SchedulerUnavailable(f"central scheduler {where} answered HTTP {exc.code}: "
                                       f"not a luigi scheduler (luigid)") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise SchedulerUnavailable(f"central scheduler {where} answered, but not as a "
                                       f"luigi scheduler (luigid)") from exc
        except OSError as exc:
            if time.monotonic() - started + 1.0 >= deadline:
                raise SchedulerUnavailable(
                    f"central scheduler {where} does not answer ({_reason(exc)}; tried for "
                    f"{deadline:.0f}s): is luigid running there?") from exc
            time.sleep(1.0)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)  # URLError wraps the socket error
    if isinstance(reason, TimeoutError):
        return "no answer"
    return getattr(reason, "strerror", None) or str(reason) or type(reason).__name__


def _wait_for_other_workers(scheduler, tasks, poll_seconds: float = 1.0) -> bool:
    """True once every requested task is complete, while others still run tasks.

    A worker leaves when nothing is left for *it* to run, possibly while
    other workers are still finishing tasks it asked for. It then watches
    the lake (a fresh context per look) for as long as the scheduler reports
    tasks running, and gives up as soon as nothing runs anywhere.
    """
    while True:
        with contexts.use(BuildContext()):
            if all(task.complete() for task in tasks):
                return True
        try:
            running = scheduler.task_list("RUNNING", "")
        except Exception:  # noqa: BLE001 - scheduler gone: nobody is running
            running = {}
        if not running:
            return False
        time.sleep(poll_seconds)


def _warm_up_before_fork() -> None:
    """Pays pyarrow's one-time ``strptime`` set-up (~0.2 s) once, in the parent.

    With several worker processes luigi forks one child per task; without
    this every child would pay it again.
    """
    pyarrow.compute.strptime(pyarrow.array(["01/01/2026"]), format="%m/%d/%Y", unit="s")


def _output_prefixes(tasks):
    """The listing prefixes of the requested tasks' outputs: what scheduling asks first."""
    for task in tasks:
        for target in luigi.task.flatten(task.output()):
            prefix = getattr(target, "listing_prefix", None)
            if prefix is not None:
                yield target.area, prefix


def _statuses(result: LuigiRunResult, scheduler):
    # Private: the (task, status) history luigi's own execution summary reads;
    # the public LuigiRunResult offers it only as text.
    history = result.worker._add_task_history
    by_status: Dict[str, Dict[str, luigi.Task]] = {}
    for task, status, _ in history:
        by_status.setdefault(status, {})[task.task_id] = task
    pending, done = by_status.get("PENDING", {}), by_status.get("DONE", {})
    ran = [task for task_id, task in done.items() if task_id in pending]
    failures = {task: _one_line_error(scheduler, task_id)
                for task_id, task in by_status.get("FAILED", {}).items() if task_id not in done}
    missing = [task for task_id, task in pending.items()
               if isinstance(task, luigi.ExternalTask) and task_id not in done]
    return ran, failures, missing


def _one_line_error(scheduler, task_id: str) -> str:
    """The last line of the failed task's traceback, as the scheduler recorded it."""
    try:
        explanation = scheduler.fetch_error(task_id).get("error") or ""
    except Exception:  # noqa: BLE001 - the scheduler may be gone; the log has it
        explanation = ""
    try:
        explanation = json.loads(explanation)
    except (TypeError, ValueError):
        pass
    return _last_line(str(explanation), task_id)


def _last_line(trace: str, task_id: str) -> str:
    """A traceback's last line, without the class name when it is one of ours."""
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    if not lines:
        return f"{task_id} failed (see the log file)"
    last = lines[-1]
    kind, _, message = last.partition(": ")
    return message if kind.startswith(("etl_targets.errors.", "EtlError")) and message else last
