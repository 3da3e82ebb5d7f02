"""One luigi build in one build context: the engine under the CLI.

:func:`build` is ``luigi.build(..., detailed_summary=True)`` plus what the
CLI needs and stock luigi lacks: a :class:`BuildContext` current for the
whole build (one listing per stage, absence trusted only while scheduling),
windows of dates (:mod:`etl_targets.graph.windows`), a worker that runs
``--workers N`` tasks at once in threads of this process sharing the
context and the storage clients (:class:`_TaskThread`), adds each task
once, and reports each status change (for progress bars), and the
one-line error of every failed task, fetched from the scheduler so it works
with ``luigid`` too - and of every task whose ``complete()`` raised while
scheduling, which luigi reports only as "failed scheduling".
"""

import contextvars
import functools
import json
import threading
import time
import urllib.error
import urllib.parse
from typing import Callable, Dict, Optional, Sequence

import luigi
import luigi.interface
import luigi.rpc
import luigi.scheduler
import luigi.worker
from luigi.execution_summary import LuigiRunResult

from etl_targets.errors import SchedulerUnavailable
from etl_targets.graph import windows
from etl_targets.lake import context as contexts
from etl_targets.lake.context import BuildContext
from etl_targets.lake.targets import listing_prefixes_of, outputs_of

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
        self._added: Dict[str, luigi.Task] = {}  # task_id -> the instance added

    # Private: luigi walks the dependencies of each requested task afresh, so a
    # month-to-date table re-adds the month's silver that the previous date's
    # table added already (O(dates^2) adds per window); the public add() has no
    # memory across requested tasks. The same instance is added once here; another
    # instance of a task id (an --input one: ``source`` is insignificant) is added
    # again, as luigi runs the instance it was given last.
    def _add(self, task, is_complete):
        if self._added.get(task.task_id) is not task:
            self._added[task.task_id] = task
            yield from super()._add(task, is_complete)

    def run(self):
        # Scheduling is over: from here on other processes may write.
        self._build_context.scheduling_done()
        return super().run()

    # Private: where luigi makes the object that runs one task (a forked process
    # when worker_processes > 1); no public hook chooses how a task is run.
    def _create_task_process(self, task):
        process = super()._create_task_process(task)
        if process.use_multiprocessing and process.timeout_time is None:
            return _TaskThread(process)
        return process

    # Private: the one place that sees every status change of every task, in the
    # luigi worker's own thread (events fire where the task runs); no public hook.
    def _add_task(self, *args, **kwargs):
        super()._add_task(*args, **kwargs)
        if kwargs["status"] == luigi.scheduler.DONE:
            # Its outputs exist, wherever it ran (another machine, with luigid):
            # later windows and the tasks that read them need not ask storage.
            task = self._scheduled_tasks.get(kwargs["task_id"])
            if task is not None:
                self._build_context.saw(outputs_of([task]))
        if self._listener is not None:
            self._listener(kwargs["task_id"], kwargs["status"])

    # Private: where luigi hands over a complete() that raised (a StorageError
    # from a listing, say), as traceback text; its public DEPENDENCY_MISSING
    # event carries no error. A public "dependency error" event would replace it.
    def _log_complete_error(self, task, tb):
        super()._log_complete_error(task, tb)
        self.complete_errors[task.task_id] = (task, tb)


class _TaskThread:
    """One task run in a thread of this process, where luigi would fork a process for it.

    luigi's worker forks a process per task; each would open its own storage
    clients (an s3fs client costs ~0.2 s of CPU) and know only what the
    build context knew at the fork, so it would read again what other tasks
    just wrote. A thread shares the build's context and clients: N workers
    make the requests one worker makes, while their waits for storage
    overlap. The task runs luigi's own task-process code unchanged, in a
    copy of the current ``contextvars`` context (the build context).
    A thread cannot be killed, so a task with a ``worker_timeout`` keeps its process.
    """

    def __init__(self, process):
        self._process = process
        self._finished = False
        run = contextvars.copy_context().run
        self._thread = threading.Thread(target=run, args=(self._run,), daemon=True,
                                        name=f"luigi-task-{process.task.task_id}")

    def _run(self) -> None:
        self._process.run()  # puts the task's result on luigi's queue, whatever happens
        self._finished = True

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def exitcode(self) -> Optional[int]:
        """None while running; 1 for a thread that ended without reporting (luigi then fails it)."""
        if self._thread.is_alive() or self._thread.ident is None:
            return None
        return 0 if self._finished else 1

    def terminate(self) -> None:
        """Nothing to stop: a running thread ends with its task (or with the process)."""

    def __getattr__(self, name):
        return getattr(self._process, name)


class _LocalScheduler(luigi.scheduler.Scheduler):
    """luigi's scheduler for the one worker of a local build, without the pending count.

    On every ``get_work`` luigi's scheduler also counts the worker's pending
    tasks, walking each one's upstream (``count_pending``): a tenth of a
    backfill's CPU, more with ``--workers``. Only a worker that keeps alive
    while work is pending reads the count (luigi's ``[worker] keep_alive``);
    for any other the answer is "none pending", and no running task of
    another worker, as there is none.
    """

    def __init__(self, *args, counts_pending: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self._counts_pending = counts_pending

    def count_pending(self, worker):
        if self._counts_pending:
            return super().count_pending(worker)
        return {"n_pending_tasks": 0, "n_unique_pending": 0, "n_pending_last_scheduled": 0,
                "worker_state": self._state.get_worker(worker).state, "running_tasks": []}


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
        counts = self._keep_alive or luigi.worker.worker().keep_alive
        self.scheduler = _LocalScheduler(prune_on_get_work=False, record_task_history=False,
                                         counts_pending=counts)
        return self.scheduler

    def create_remote_scheduler(self, url):
        self.scheduler = luigi.rpc.RemoteScheduler(url)
        return self.scheduler

    def create_worker(self, scheduler, worker_processes, assistant=False):
        extra = {"keep_alive": True} if self._keep_alive else {}
        return _ContextWorker(scheduler=scheduler, worker_processes=worker_processes,
                              assistant=assistant, build_context=self._build_context,
                              listener=self._listener, **extra)


def build(tasks: Sequence[luigi.Task], *, workers: int = 1,
          scheduler_host: Optional[str] = None, scheduler_port: Optional[int] = None,
          dry_run: bool = False, listener: Optional[TaskListener] = None,
          build_context: Optional[BuildContext] = None) -> "windows.BuildOutcome":
    """Builds ``tasks`` (and whatever upstream is missing), window by window.

    One ``luigi.build`` per window of dates, earliest first
    (:mod:`etl_targets.graph.windows`), in one context: the listings taken at
    the start, plus what earlier windows completed, answer existence while a
    window schedules (with luigid the lake is listed afresh per window). A
    window the listings prove complete is not handed to luigi; when all are,
    luigi is not even started. The first window with a failed task ends the
    build; a missing landing file holds back only the dates that need it.

    Args:
        tasks: the requested tasks.
        workers: tasks run at once on this machine, each in a thread (see
            :class:`_TaskThread`).
        scheduler_host: a ``luigid`` to share work with other machines (the
            worker then stays alive while others run tasks it needs); None
            schedules in-process, as a dry run always does.
        scheduler_port: the ``luigid`` port (luigi.cfg default otherwise).
        dry_run: run everything in memory; nothing reaches the lake.
        listener: called with (task_id, status) on every status change; the
            tasks of a window found complete without luigi are reported DONE.
        build_context: a prepared context (the CLI's); a fresh one by default.

    Raises:
        SchedulerUnavailable: the central scheduler does not answer.
        StorageError: a stage's listing failed (never read as "absent").
        KeyboardInterrupt: the run was stopped (:class:`~etl_targets.errors.Stopped`);
            its ``outcome`` holds what the windows finished before it did.
    """
    build_context = build_context or BuildContext(dry_run=dry_run)
    options = _luigi_options(workers, scheduler_host, scheduler_port, dry_run)
    central = not options["local_scheduler"]
    if central:
        check_scheduler(luigi.interface.core(**options))
    outcome = windows.BuildOutcome(None, [], {}, [], context=build_context)
    with contexts.use(build_context):
        # A listing failure raises StorageError here, never reads as "absent".
        build_context.prefetch(listing_prefixes_of(tasks))
        if not central and all(task.complete() for task in tasks):
            # The no-op rerun: the listings already prove it, luigi has nothing to do.
            return outcome
        build_one = functools.partial(_build_window, options=options, listener=listener,
                                      central=central)
        try:
            windows.build_in_order(windows.split(tasks), build_one, outcome, listener, central)
        except KeyboardInterrupt as stop:  # a stopped run still tells what its windows built
            stop.outcome = outcome
            raise
    return outcome


def _luigi_options(workers: int, scheduler_host: Optional[str], scheduler_port: Optional[int],
                   dry_run: bool) -> dict:
    """``luigi.build``'s keyword arguments for the scheduler and the workers.

    A dry run never reports to luigid: its tasks would be DONE there, and the
    scheduler would then refuse to run them for real (outputs never written).
    """
    central = scheduler_host is not None and not dry_run
    options = {"local_scheduler": not central, "workers": 1 if dry_run else workers}
    if central:
        options["scheduler_host"] = scheduler_host
        if scheduler_port:
            options["scheduler_port"] = scheduler_port
    return options


def _build_window(tasks, build_context, *, options, listener, central) -> "windows.BuildOutcome":
    """One ``luigi.build`` of one window, and what it did."""
    factory = _Factory(build_context, listener, keep_alive=central)
    result = luigi.build(list(tasks), worker_scheduler_factory=factory,
                         detailed_summary=True, **options)
    outcome = windows.BuildOutcome(result, *_statuses(result, factory.scheduler),
                                   context=build_context)
    for task, trace in getattr(result.worker, "complete_errors", {}).values():
        # luigi only says "failed scheduling"; the error is what the operator needs.
        outcome.failures.setdefault(task, _last_line(trace, task.task_id))
    if central and result.status == luigi.LuigiStatusCode.NOT_RUN and not outcome.failures:
        outcome.done_elsewhere = _wait_for_other_workers(factory.scheduler, tasks)
    return outcome


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
