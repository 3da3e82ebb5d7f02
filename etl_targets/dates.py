"""Business-date helpers shared by every layer.

The ERP names files without zero padding (``zheSO-2026-1-27.csv``) while the
lake uses ISO dates (``date=2026-01-27``); both spellings come from here so
they can never drift apart.
"""

import datetime as dt
from typing import Iterator, List


def parse_date(text: str) -> dt.date:
    """Parses an ISO ``YYYY-MM-DD`` date.

    Raises:
        ValueError: with a message naming the bad value.
    """
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}") from None


def erp_stamp(day: dt.date) -> str:
    """The ERP's unpadded spelling of a date: ``2026-1-27``."""
    return f"{day.year}-{day.month}-{day.day}"


def partition(day: dt.date) -> str:
    """The Hive-style partition folder name: ``date=2026-01-27``."""
    return f"date={day.isoformat()}"


def days_between(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Every date from ``start`` through ``end``, both included."""
    for offset in range((end - start).days + 1):
        yield start + dt.timedelta(days=offset)


def month_to_date(day: dt.date) -> List[dt.date]:
    """The first of ``day``'s month through ``day``, in order."""
    return list(days_between(day.replace(day=1), day))


def describe_dates(days: List[dt.date]) -> str:
    """Consecutive runs collapsed: ``2026-01-28..2026-01-31, 2026-02-05``."""
    runs: List[List[dt.date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][-1] == dt.timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(r[0].isoformat() if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)
