"""A long backfill as a sequence of short luigi builds, earliest dates first.

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
"""

import datetime as dt
from typing import Dict, List, Optional, Sequence, Tuple

import luigi

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
