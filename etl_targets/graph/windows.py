"""A long backfill as a sequence of short luigi builds, earliest dates first, and what it did.

luigi's scheduler does work per pending task each time a worker asks for
the next one (``Scheduler.count_pending`` walks every task of the worker;
luigi issues #1492 and #1750), so one build of N dates costs O(N^2): on
small days (``bench/long_backfill.py``) one build cost 81, 94, 145 and 263
ms of CPU per date for 181, 365, 731 and 1461 dates. Built in windows of
at most :data:`WINDOW_DATES` consecutive dates, each a separate
``luigi.build`` with its own scheduler, every date costs the same however
long the range (69, 77, 66 and 63 ms).

Windows never span a month boundary, so a month-to-date table's inputs
(silver of its month) are built in its own window, and windows come in date
order, which is dependency order: every input is on or before the date that
needs it (:mod:`etl_targets.datasets.base` windows only look back). An input
of an earlier window (a trailing seven-day table on the 3rd needs the last
days of the previous month) is complete by then, and luigi only checks it.

:func:`build_in_order` runs the windows one after the other and gathers
what each did into one :class:`BuildOutcome`; the first window with a
failed task ends the build.
"""

import dataclasses
import datetime as dt
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import luigi
from luigi.execution_summary import LuigiRunResult

from etl_targets.lake.context import BuildContext
from etl_targets.lake.targets import listing_prefixes_of

#: The most dates one window (one ``luigi.build``) schedules. A calendar
#: month is the natural unit (month-to-date needs its whole month). At 31
#: dates luigi's growth per pending task is already small: windows of 4, 8,
#: 11 and 16 dates measured no cheaper per date, within the noise (48-64 ms).
WINDOW_DATES = 31


def split(tasks: Sequence[luigi.Task], size: Optional[int] = None) -> List[List[luigi.Task]]:
    """The requested tasks in windows of consecutive dates, earliest window first.

    A month's dates are split into as few windows of at most ``size`` dates
    as possible, of equal length (give or take a date). Tasks without a
    ``date`` parameter (not ours) keep the whole request one window.

    Args:
        tasks: the requested tasks, in any order.
        size: the most dates per window; :data:`WINDOW_DATES` by default.

    Returns:
        lists of tasks, in the requested order within each window.
    """
    if not tasks or not all(isinstance(getattr(t, "date", None), dt.date) for t in tasks):
        return [list(tasks)] if tasks else []
    size = size or WINDOW_DATES
    months: Dict[Tuple[int, int], List[dt.date]] = {}
    for day in sorted({task.date for task in tasks}):
        months.setdefault((day.year, day.month), []).append(day)
    window_of: Dict[dt.date, int] = {}
    for days in months.values():
        count = -(-len(days) // size)  # ceiling
        first = len(set(window_of.values()))
        for index, day in enumerate(days):
            window_of[day] = first + index * count // len(days)
    windows: List[List[luigi.Task]] = [[] for _ in range(len(set(window_of.values())))]
    for task in tasks:
        windows[window_of[task.date]].append(task)
    return windows


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


def build_in_order(parts: List[List[luigi.Task]], build_one: Callable, outcome: "BuildOutcome",
                   listener: Optional[Callable[[str, str], None]], central: bool) -> None:
    """Builds the windows in date order into ``outcome``, until one ends the build.

    Args:
        parts: the windows (:func:`split`).
        build_one: ``(tasks, build_context) -> BuildOutcome``, one ``luigi.build``.
        outcome: what the build did so far; its context serves every window.
        listener: told (task_id, "DONE") of the tasks of a window found complete.
        central: a central scheduler: other machines write the lake too.
    """
    build_context = outcome.context
    for number, window in enumerate(parts):
        if not central and all(task.complete() for task in window):
            for task in window:  # what luigi would report: complete, nothing to run
                if listener is not None:
                    listener(task.task_id, "DONE")
            continue
        part = build_one(window, build_context)
        outcome.add(part)
        # With luigid a missing input ends the build too: a keep-alive worker
        # waits max_keep_alive_idle_duration for tasks that can never run, and
        # every later window with a gap would wait as long again.
        if part.stops or (central and part.missing):
            outcome.not_attempted = [task for later in parts[number + 1:] for task in later]
            return
        build_context.next_window(relist=central)
        if central and number + 1 < len(parts):
            build_context.prefetch(listing_prefixes_of(parts[number + 1]))
