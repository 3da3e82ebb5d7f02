"""Volume anomalies: is a date's landed row count out of line with its history?

The history is what bronze already recorded (each date's ``_manifest.json``
``rows``), never the data itself. The score is a robust z-score (Iglewicz
and Hoaglin's modified z): ``0.6745 * (rows - median) / MAD`` against

* the same weekday over the previous eight weeks, when at least
  :data:`MIN_SAME_WEEKDAY` of them landed (weekly rhythms, e.g. quiet
  Sundays, are then ordinary), else
* the trailing 28 days, when at least :data:`MIN_TRAILING` landed.

A perfectly steady series has a MAD of 0, which would make any change
infinite: the MAD is floored at a share of the median (and at one row):
:data:`MAD_FLOOR_SHARE` against the same weekday, the coarser
:data:`TRAILING_FLOOR_SHARE` against the trailing days, whose mix of busy
and quiet weekdays is ordinary (a quiet Sunday among weekdays is not an
anomaly while the weekday history is still short). A zero-row day is always an anomaly. Too little history is no
verdict. Anomalies are warnings; ``--fail-on-anomaly`` makes them fail the run.
"""

import dataclasses
import datetime as dt
import statistics
from typing import Callable, Dict, List, Optional

THRESHOLD = 3.5
MIN_SAME_WEEKDAY = 4
MIN_TRAILING = 7
MAD_FLOOR_SHARE = 0.05
TRAILING_FLOOR_SHARE = 0.25
#: how far back a date's history reaches (eight weeks)
HISTORY_DAYS = 56


@dataclasses.dataclass(frozen=True)
class Anomaly:
    """One date whose landed rows are out of line.

    Attributes:
        date: the business date.
        rows: rows landed.
        median: the baseline's median (None for a zero-row day without history).
        score: the modified z-score (None for a zero-row day without history).
        baseline: ``same weekday`` or ``trailing 28 days`` (or ``none``).
        history: how many earlier dates the baseline had.
    """

    date: dt.date
    rows: int
    median: Optional[float]
    score: Optional[float]
    baseline: str
    history: int

    def describe(self) -> str:
        if self.median is None:
            return f"{self.date}: {self.rows} rows landed (a day with no rows)"
        return (f"{self.date}: {self.rows} rows landed, median {self.median:g} over {self.history} "
                f"dates ({self.baseline}), robust score {self.score:+.1f}")

    def as_dict(self) -> dict:
        return {"date": self.date.isoformat(), "rows": self.rows, "median": self.median,
                "score": None if self.score is None else round(self.score, 2),
                "baseline": self.baseline, "history": self.history}


def judge(day: dt.date, rows: int, history: Dict[dt.date, int]) -> Optional[Anomaly]:
    """The anomaly of ``day`` against ``history`` (date -> rows landed), or None.

    Only dates before ``day`` within :data:`HISTORY_DAYS` count.
    """
    earlier = {d: n for d, n in history.items()
               if dt.timedelta(0) < day - d <= dt.timedelta(days=HISTORY_DAYS) and n is not None}
    weekday = [n for d, n in earlier.items() if d.weekday() == day.weekday()]
    trailing = [n for d, n in earlier.items() if day - d <= dt.timedelta(days=28)]
    if len(weekday) >= MIN_SAME_WEEKDAY:
        baseline, values, floor = "same weekday", weekday, MAD_FLOOR_SHARE
    elif len(trailing) >= MIN_TRAILING:
        baseline, values, floor = "trailing 28 days", trailing, TRAILING_FLOOR_SHARE
    else:
        return Anomaly(day, rows, None, None, "none", len(earlier)) if rows == 0 else None
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    mad = max(mad, floor * median, 1.0)
    score = 0.6745 * (rows - median) / mad
    if rows == 0 or abs(score) > THRESHOLD:
        return Anomaly(day, rows, median, score, baseline, len(values))
    return None


def history_dates(days: List[dt.date]) -> List[dt.date]:
    """Every date whose landed rows the judgement of ``days`` may read."""
    wanted = set()
    for day in days:
        wanted.update(day - dt.timedelta(days=k) for k in range(1, HISTORY_DAYS + 1))
    return sorted(wanted - set(days))


def judge_all(counts: Dict[dt.date, int], read_rows: Callable[[dt.date], Optional[int]]
              ) -> List[Anomaly]:
    """Anomalies among the dates of ``counts`` (date -> rows landed in this run).

    Args:
        counts: rows landed by this run, per date.
        read_rows: rows of an earlier date from its bronze manifest (None when
            it never landed); called once per history date not in ``counts``.
    """
    history = dict(counts)
    for day in history_dates(sorted(counts)):
        history[day] = read_rows(day)
    found = [judge(day, rows, history) for day, rows in sorted(counts.items())]
    return [anomaly for anomaly in found if anomaly is not None]
