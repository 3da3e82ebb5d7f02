"""A foreign writer of SO landing files that nobody on this project generated.

Fixtures written by the same people who wrote the parser tend to share its
blind spots. This writer follows the data contract but has its own habits,
the kind a real ERP export has: CRLF line endings, a shuffled column order
with lower-case padded headers, every field quoted, an occasional byte-order
mark, blank lines, an extra column, thousands separators and trailing zeros
in prices, odd casing and padding in Region, Currency and Status, customer
names with commas, quotes, accents or a line break, duplicates within a day
(sometimes the winner comes first in the file, sometimes a timestamp tie),
re-statements of earlier days' lines (some CANCELLED, some with the very same
Last Modified so that the later date must win), and a few invalid rows.

Standard library only (file names from ``support.landing``), deterministic
for a given seed. What the files mean is left to ``reference_so``; this
module only writes them.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from support.landing import landing_name

HEADERS = (
    "SO Number", "Line", "Order Date", "Customer ID", "Customer Name",
    "Region", "SKU", "Qty", "Unit Price", "Currency", "Status",
    "Last Modified",
)
_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
_CUSTOMERS = (
    ("C00042", "Acme, Inc."),
    ("C00107", 'The "Best" Bakery'),
    ("C00230", "Café Løvås AS"),
    ("C00311", "  Nordwind GmbH  "),
    ("C00499", ""),
    ("C00512", "Smith & Sons, Ltd."),
    ("C00678", "Nordic Trading\nAB"),
    ("C00801", "O'Brien Supply"),
)
_REGIONS = ("North", "South", "East", "West")
_CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
_OPEN_STATUSES = ("OPEN", "SHIPPED", "INVOICED")
_WAREHOUSES = ("WH-1", "WH-2, Bay 7", 'WH-3 "cold"', "")
# One broken field per invalid row; each breaks exactly one rule-1 check.
_BREAKAGES = (
    ("Qty", "0"),
    ("Qty", "-2"),
    ("Unit Price", "12.345"),
    ("Unit Price", "-4.00"),
    ("Unit Price", "12,34.00"),
    ("Order Date", "2/30/2026"),
    ("Order Date", "2026-01-15"),
    ("Region", "Central"),
    ("Currency", "US"),
    ("Status", "PENDING"),
    ("SKU", "   "),
    ("Last Modified", "2026-01-15T09:15:00"),
    ("Line", "0"),
    ("Line", "1.5"),
)


def write_foreign_month(
    out_dir: str | Path,
    year: int,
    month: int,
    days: int | Iterable[int],
    rows_per_day: int,
    seed: int,
) -> list[Path]:
    """Writes one SO landing file per day, in the contract's landing layout.

    Args:
        out_dir: Landing root; files go to ``out_dir/so/``.
        year: Business year.
        month: Business month.
        days: Either a count (days 1..N) or the day numbers to write.
        rows_per_day: Fresh order lines per day; re-statements, duplicates
            and a few invalid rows come on top.
        seed: Makes the output reproducible.

    Returns:
        The written paths, in date order.

    Raises:
        ValueError: A day outside the month, or ``rows_per_day`` below 1.
    """
    if rows_per_day < 1:
        raise ValueError(f"rows_per_day must be at least 1, got {rows_per_day}")
    rng = random.Random(seed)
    day_numbers = range(1, days + 1) if isinstance(days, int) else sorted(days)
    so_dir = Path(out_dir) / "so"
    so_dir.mkdir(parents=True, exist_ok=True)
    latest: dict[tuple[str, str], dict[str, str]] = {}
    paths = []
    for number in day_numbers:
        day = date(year, month, number)
        rows = _day_rows(rng, day, rows_per_day, latest)
        path = so_dir / landing_name(day)
        path.write_bytes(_render(rng, rows))
        paths.append(path)
    return paths


def _day_rows(
    rng: random.Random,
    day: date,
    count: int,
    latest: dict[tuple[str, str], dict[str, str]],
) -> list[dict[str, str]]:
    """Builds one day's rows in file order; updates ``latest`` as it goes.

    ``latest`` holds, per (SO Number, Line), the valid row with the newest
    Last Modified written so far, so re-statements build on what the reader
    really holds and timestamp ties are real ties.
    """
    rows = _fresh_rows(rng, day, count)
    rows += _restatements(rng, day, list(latest.values()), max(1, count // 5))
    for index in rng.sample(range(len(rows)), k=max(1, count // 10)):
        _insert_duplicate(rng, rows, rows[index])
    for row in rows:
        _remember(latest, row)
    for _ in range(rng.choice((0, 1, 1, 2))):
        rows.insert(rng.randrange(len(rows) + 1), _broken(rng, rng.choice(rows)))
    return rows


def _fresh_rows(rng: random.Random, day: date, count: int) -> list[dict[str, str]]:
    """New orders of ``day`` with one to four lines each."""
    rows: list[dict[str, str]] = []
    while len(rows) < count:
        so_number = f"SO-{day:%Y%m%d}-{len(rows):04d}"
        customer_id, name = rng.choice(_CUSTOMERS)
        ordered = day - timedelta(days=rng.choice((0, 0, 0, 1)))
        region = rng.choice(_REGIONS)
        currency = rng.choice(_CURRENCIES)
        for line in range(1, rng.randint(1, 4) + 1):
            modified = datetime.combine(day, datetime.min.time()) + timedelta(
                seconds=rng.randrange(6 * 3600, 20 * 3600)
            )
            rows.append({
                "SO Number": so_number,
                "Line": _integer(rng, line),
                "Order Date": _us_date(rng, ordered),
                "Customer ID": customer_id,
                "Customer Name": name,
                "Region": _spell(rng, region),
                "SKU": f"SKU-{rng.randrange(10000, 10040)}",
                "Qty": _quantity(rng),
                "Unit Price": _price(rng),
                "Currency": _spell(rng, currency),
                "Status": _spell(rng, rng.choice(_OPEN_STATUSES)),
                "Last Modified": f"{modified:{_TIMESTAMP}}",
            })
    return rows[:count]


def _restatements(
    rng: random.Random, day: date, earlier: list[dict[str, str]], count: int
) -> list[dict[str, str]]:
    """Re-states earlier days' lines: cancelled, re-priced or re-counted.

    One in four keeps the earlier Last Modified exactly, so the month-to-date
    table must let the later date's file win the tie.
    """
    restated = []
    for old in rng.sample(earlier, k=min(count, len(earlier))):
        row = dict(old)
        if rng.random() < 0.25:
            row["Qty"] = _quantity(rng)
        else:
            at = datetime.combine(day, datetime.min.time())
            at += timedelta(seconds=rng.randrange(7 * 3600, 19 * 3600))
            row["Last Modified"] = f"{at:{_TIMESTAMP}}"
            if rng.random() < 0.5:
                row["Status"] = _spell(rng, "CANCELLED")
            else:
                row["Unit Price"] = _price(rng)
        restated.append(row)
    return restated


def _insert_duplicate(
    rng: random.Random, rows: list[dict[str, str]], original: dict[str, str]
) -> None:
    """Adds a same-day re-statement of ``original`` to ``rows``.

    Either a later Last Modified anywhere in the file (so the winner may come
    first), or the same Last Modified after the original (last in file wins).
    """
    row = dict(original, Qty=_quantity(rng), Status=_spell(rng, "SHIPPED"))
    position = rows.index(original)
    if rng.random() < 0.5:
        later = datetime.strptime(original["Last Modified"], _TIMESTAMP)
        later += timedelta(seconds=rng.randrange(1, 3600))
        row["Last Modified"] = f"{later:{_TIMESTAMP}}"
        rows.insert(rng.randrange(len(rows) + 1), row)
    else:
        rows.insert(rng.randrange(position + 1, len(rows) + 1), row)


def _remember(
    latest: dict[tuple[str, str], dict[str, str]], row: dict[str, str]
) -> None:
    """Keeps the newest valid row per key, ties going to the newer write."""
    key = (row["SO Number"], row["Line"].lstrip("+0"))
    old = latest.get(key)
    if old is None or row["Last Modified"] >= old["Last Modified"]:
        latest[key] = row


def _broken(rng: random.Random, template: dict[str, str]) -> dict[str, str]:
    """Copies a row with one field broken; a later time makes it tempting."""
    field, value = rng.choice(_BREAKAGES)
    row = dict(template)
    modified = datetime.strptime(template["Last Modified"], _TIMESTAMP)
    row["Last Modified"] = f"{modified + timedelta(minutes=5):{_TIMESTAMP}}"
    row[field] = value
    return row


def _render(rng: random.Random, rows: list[dict[str, str]]) -> bytes:
    """Serialises rows in this file's own dialect of the contract."""
    columns = list(HEADERS)
    rng.shuffle(columns)
    extra = rng.random() < 0.5
    if extra:
        columns.insert(rng.randrange(len(columns) + 1), "Warehouse")
    title = rng.choice((lambda h: f"  {h.lower()} ", str.lower, str.upper, str))
    ending = "\r\n" if rng.random() < 0.75 else "\n"
    quoting = csv.QUOTE_ALL if rng.random() < 0.75 else csv.QUOTE_MINIMAL
    lines = [_csv_line([title(c) for c in columns], ending, quoting)]
    for row in rows:
        values = dict(row, Warehouse=rng.choice(_WAREHOUSES))
        lines.append(_csv_line([values[c] for c in columns], ending, quoting))
    for _ in range(rng.randint(1, 3)):
        lines.insert(rng.randrange(1, len(lines) + 1), ending)
    if rng.random() < 0.15:
        lines.insert(0, ending)
    bom = "\ufeff" if rng.random() < 0.35 else ""
    return (bom + "".join(lines)).encode("utf-8")


def _csv_line(values: list[str], ending: str, quoting: int) -> str:
    """One CSV record, RFC 4180 quoted, ending with ``ending``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending, quoting=quoting).writerow(values)
    return buffer.getvalue()


def _spell(rng: random.Random, canonical: str) -> str:
    """Spells a code the way a hand-kept ERP field might."""
    return rng.choice(
        (canonical, canonical.lower(), canonical.upper(), f" {canonical.lower()} ",
         canonical.title(), f"{canonical}  ")
    )


def _integer(rng: random.Random, value: int) -> str:
    """Mostly plain digits; now and then a plus sign or a leading zero."""
    return rng.choice((str(value),) * 6 + (f"+{value}", f"{value:02d}"))


def _quantity(rng: random.Random) -> str:
    """A small count, or a bulk one written with a thousands separator."""
    if rng.random() < 0.08:
        return f"{rng.randrange(1000, 5000):,}"
    return _integer(rng, rng.randint(1, 40))


def _price(rng: random.Random) -> str:
    """A price in one of the forms the contract allows."""
    value = Decimal(rng.randrange(0, 500_000)) / 100
    style = rng.randrange(5)
    if style == 0:
        return f"{value:,.2f}"
    if style == 1:
        return f"{value:.2f}0"
    if style == 2 and value == value.to_integral_value():
        return f"{value:.0f}"
    if style == 3:
        return f" {value:.2f} "
    return f"{value:.2f}"


def _us_date(rng: random.Random, day: date) -> str:
    """MM/DD/YYYY, sometimes without zero padding."""
    if rng.random() < 0.5:
        return f"{day.month}/{day.day}/{day.year}"
    return f"{day:%m/%d/%Y}"
