"""Business-date helpers shared by every layer.

The ERP names files without zero padding (``zheSO-2026-1-27.csv``) while the
lake uses ISO dates (``date=2026-01-27``); both spellings come from here so
they can never drift apart.
"""

import datetime as dt
import re
from typing import Iterator, List, Optional

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DAYS_AGO = re.compile(r"^-(\d{1,5})$")


def parse_date(text: str, today: Optional[dt.date] = None) -> dt.date:
    """Parses a business date: ``YYYY-MM-DD``, ``today``, ``yesterday`` or ``-N`` (N days ago).

    Only the extended ISO form is accepted: ``20260127`` (which Python's
    ``fromisoformat`` would take) is refused like every other spelling, so
    a run book's date means one thing.

    Args:
        text: what the user typed.
        today: the business day "today" refers to (see :func:`business_today`);
            the machine's local date when None.

    Raises:
        ValueError: with a message naming the bad value.
    """
    value = text.strip().lower()
    today = today or dt.date.today()
    relative = {"today": 0, "yesterday": 1}.get(value)
    ago = _DAYS_AGO.match(value)
    if relative is None and ago:
        relative = int(ago.group(1))
    if relative is not None:
        return today - dt.timedelta(days=relative)
    if _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"not a date (YYYY-MM-DD, today, yesterday or -N): {text!r}")


def business_today(timezone: Optional[str] = None, now: Optional[dt.datetime] = None) -> dt.date:
    """Today's date in the business time zone (an IANA name), or the machine's when None.

    Raises:
        ValueError: an unknown time zone name.
    """
    if not timezone:
        return (now.astimezone() if now else dt.datetime.now()).date()
    import zoneinfo

    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(zone).date()


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
