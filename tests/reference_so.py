"""Independent reference implementation of the SO silver and gold rules.

Tests compare the real ``etl_targets`` pipeline against this module, so it
is written from the data contract (``data-contract.md``, sections 2 and
"SO gold tables") alone: standard library only, no pandas, no pyarrow, no
import from ``etl_targets``. Sharing code with the implementation under test
would make the comparison check nothing.

Parsing decisions the contract leaves open, fixed project-wide:

* Line and Qty: optional ``+``/``-`` sign, then plain digits or proper
  thousands grouping (``1,200``). Line must fit int32, Qty int64.
* Unit Price: optional sign, digits (plain or grouped), optional ``.digits``.
  "More than two decimal places" is about the value: ``19.990`` is 19.99,
  ``19.999`` is rejected. Unit price and line amount must fit decimal(18, 2).
* Order Date: ``M/D/YYYY`` with 1- or 2-digit month and day, a real date.
* Last Modified: exactly ``YYYY-MM-DD HH:MM:SS``, a real timestamp.
* Currency: exactly three ASCII letters after trimming, stored upper-case.
* Region and Status: matched after trimming and ``str.casefold``.
* A blank line is a record with no field or a single whitespace-only field;
  it is skipped and does not count towards ``row_number``.
* A data record whose field count differs from the header's is rejected
  (``wrong number of fields``) rather than guessed at.
* A header naming one contract column twice, or CSV that breaks RFC 4180
  (text after a closing quote, a quote left open at the end), is a
  file-level error: any reading of it would be a silent guess.

A rejected row gets the first failing check as its reason: field count,
then required-but-empty fields in contract column order, then each field's
own checks in contract column order, then the line amount.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal, localcontext

# (landing header, silver column) in the contract's table order.
COLUMNS = (
    ("SO Number", "so_number"),
    ("Line", "line"),
    ("Order Date", "order_date"),
    ("Customer ID", "customer_id"),
    ("Customer Name", "customer_name"),
    ("Region", "region"),
    ("SKU", "sku"),
    ("Qty", "qty"),
    ("Unit Price", "unit_price"),
    ("Currency", "currency"),
    ("Status", "status"),
    ("Last Modified", "last_modified"),
)
SILVER_COLUMNS = tuple(name for _, name in COLUMNS) + ("line_amount",)
REJECT_COLUMNS = tuple(name for _, name in COLUMNS) + (
    "source_file",
    "row_number",
    "reject_reason",
)
# Rule 1's required list. Region is absent on purpose: an empty region is
# rejected as "not canonical", Customer Name may be empty.
REQUIRED = (
    "so_number", "line", "order_date", "customer_id", "sku", "qty",
    "unit_price", "currency", "status", "last_modified",
)
REGIONS = ("North", "South", "East", "West")
STATUSES = ("OPEN", "SHIPPED", "INVOICED", "CANCELLED")
DAILY_KEYS = ("region", "sku", "currency")
MTD_KEYS = ("region", "currency")

_HEADER_TO_COLUMN = {header.casefold(): name for header, name in COLUMNS}
_REGION_BY_FOLD = {value.casefold(): value for value in REGIONS}
_STATUS_BY_FOLD = {value.casefold(): value for value in STATUSES}
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_DECIMAL_18_2_BOUND = Decimal(10) ** 16  # |value| must stay below this
_CENT = Decimal("0.01")
_WIDE = 80  # decimal precision that keeps every product here exact

# Explicit [0-9] and fullmatch: \d would accept non-ASCII digits and $
# would accept a trailing newline.
_GROUPED = r"(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)"
_INT_RE = re.compile(rf"[+-]?{_GROUPED}")
_PRICE_RE = re.compile(rf"([+-]?)({_GROUPED})(?:\.([0-9]+))?")
_DATE_RE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"
)
_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")


class ReferenceContractError(Exception):
    """A landing file breaks rule 4: the whole date must fail, in one line."""


class _Reject(Exception):
    """Carries one row's ``reject_reason`` out of the field parsers."""


def parse_landing(
    data: str | bytes, source_name: str
) -> tuple[list[dict], list[dict]]:
    """Turns one SO landing file into silver rows and reject rows.

    Args:
        data: The file's content; bytes are decoded as strict UTF-8.
        source_name: The landing file name, stamped on rejects and errors.

    Returns:
        ``(silver, rejects)``: silver deduplicated by rule 3 and sorted by
        ``(so_number, line)``; rejects in file order.

    Raises:
        ReferenceContractError: The file has no header, lacks a column, names
            a column twice, is not UTF-8, or is not parseable CSV.
    """
    records = _records(_decode(data, source_name), source_name)
    header = next(records, None)
    if header is None:
        raise ReferenceContractError(f"{source_name}: no header")
    positions = _column_positions(header, source_name)
    valid, rejects = [], []
    for row_number, record in enumerate(records, start=1):
        try:
            valid.append(_silver_row(record, positions, len(header)))
        except _Reject as reject:
            raw = {name: _field(record, pos) for name, pos in positions.items()}
            rejects.append(
                {
                    **raw,
                    "source_file": source_name,
                    "row_number": row_number,
                    "reject_reason": str(reject),
                }
            )
    return dedup_latest(valid), rejects


def dedup_latest(rows: Iterable[dict]) -> list[dict]:
    """Keeps one row per (so_number, line): greatest last_modified, ties last.

    Iterating in order and replacing on ``>=`` is exactly "on a tie, the
    one that comes last", which also serves the cross-day MTD rule when the
    rows arrive in date order.

    Args:
        rows: Valid silver rows in file (or date, then file) order.

    Returns:
        The surviving rows sorted by ``(so_number, line)``.
    """
    kept: dict[tuple[str, int], dict] = {}
    for row in rows:
        key = (row["so_number"], row["line"])
        if key not in kept or row["last_modified"] >= kept[key]["last_modified"]:
            kept[key] = row
    return [kept[key] for key in sorted(kept)]


def daily_sales(silver_rows: Iterable[dict]) -> list[dict]:
    """Computes ``so_daily_sales`` for one date from that date's silver.

    Args:
        silver_rows: Silver rows of the date, already deduplicated.

    Returns:
        Rows keyed by region, sku, currency with orders, lines, qty, revenue.
    """
    return _aggregate(silver_rows, DAILY_KEYS)


def mtd_by_region(silver_rows_by_date: Mapping[date, Iterable[dict]]) -> list[dict]:
    """Computes ``so_mtd_by_region`` from the silver of every date passed.

    The caller chooses the dates (see :func:`month_to_date`); this function
    only applies the contract's cross-day rule: dedup over all the rows,
    later dates winning ties, then leave CANCELLED out.

    Args:
        silver_rows_by_date: Silver rows per business date.

    Returns:
        Rows keyed by region, currency with orders, lines, qty, revenue.
    """
    in_date_order = (
        row for day in sorted(silver_rows_by_date) for row in silver_rows_by_date[day]
    )
    return _aggregate(dedup_latest(in_date_order), MTD_KEYS)


def month_to_date(day: date) -> list[date]:
    """Lists the dates whose silver feeds the MTD table of ``day``."""
    return [day.replace(day=n) for n in range(1, day.day + 1)]


def _aggregate(rows: Iterable[dict], keys: tuple[str, ...]) -> list[dict]:
    """Groups non-cancelled rows by ``keys``; sums stay exact Decimals."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        if row["status"] == "CANCELLED":
            continue
        group = groups.setdefault(
            tuple(row[k] for k in keys),
            {"orders": set(), "lines": 0, "qty": 0, "revenue": Decimal("0.00")},
        )
        group["orders"].add(row["so_number"])
        group["lines"] += 1
        group["qty"] += row["qty"]
        with localcontext() as ctx:
            ctx.prec = _WIDE
            group["revenue"] += row["line_amount"]
    return [
        {
            **dict(zip(keys, key)),
            "orders": len(group["orders"]),
            "lines": group["lines"],
            "qty": group["qty"],
            "revenue": group["revenue"].quantize(_CENT),
        }
        for key, group in sorted(groups.items())
    ]


def _decode(data: str | bytes, source_name: str) -> str:
    """Decodes strict UTF-8 and drops one leading byte-order mark."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReferenceContractError(
                f"{source_name}: not valid UTF-8 (byte {exc.start})"
            ) from exc
    return data[1:] if data.startswith("\ufeff") else data


def _records(text: str, source_name: str) -> Iterator[list[str]]:
    """Yields the non-blank CSV records; malformed CSV fails the file."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            if len(record) > 1 or (record and record[0].strip()):
                yield record
    except csv.Error as exc:
        raise ReferenceContractError(
            f"{source_name}: malformed CSV at line {reader.line_num}: {exc}"
        ) from exc


def _column_positions(header: list[str], source_name: str) -> dict[str, int]:
    """Maps each silver column to its field index; unknown headers drop."""
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        name = _HEADER_TO_COLUMN.get(title.strip().casefold())
        if name is None:
            continue
        if name in positions:
            raise ReferenceContractError(
                f"{source_name}: duplicate column {title.strip()!r}"
            )
        positions[name] = index
    missing = [title for title, name in COLUMNS if name not in positions]
    if missing:
        raise ReferenceContractError(
            f"{source_name}: missing column(s): {', '.join(missing)}"
        )
    return positions


def _field(record: list[str], position: int) -> str | None:
    """Returns the raw field, or None when a short record lacks it."""
    return record[position] if position < len(record) else None


def _silver_row(record: list[str], positions: dict[str, int], width: int) -> dict:
    """Validates one data record and builds its silver row (or raises)."""
    if len(record) != width:
        raise _Reject("wrong number of fields")
    text = {name: record[pos].strip() for name, pos in positions.items()}
    for name in REQUIRED:
        if not text[name]:
            raise _Reject(f"empty required field: {name}")
    row = {name: parse(text[name]) for name, parse in _PARSERS.items()}
    with localcontext() as ctx:
        ctx.prec = _WIDE
        amount = Decimal(row["qty"]) * row["unit_price"]
    if abs(amount) >= _DECIMAL_18_2_BOUND:
        raise _Reject("line_amount out of decimal(18,2) range")
    row["line_amount"] = amount.quantize(_CENT)
    return row


def _parse_int(value: str, name: str) -> int:
    """Parses a signed, optionally comma-grouped integer.

    Very long digit strings are clamped (sign kept) instead of converted:
    they are out of every range checked here, and ``int()`` refuses strings
    over 4300 digits.
    """
    if not _INT_RE.fullmatch(value):
        raise _Reject(f"unparseable {name}")
    digits = value.lstrip("+-").replace(",", "").lstrip("0") or "0"
    magnitude = int(digits) if len(digits) <= 40 else 10**40
    return -magnitude if value.startswith("-") else magnitude


def _parse_line(value: str) -> int:
    """Parses Line: rule 1 wants >= 1, silver stores int32."""
    number = _parse_int(value, "line")
    if number < 1:
        raise _Reject("line < 1")
    if number > _INT32_MAX:
        raise _Reject("line out of int32 range")
    return number


def _parse_qty(value: str) -> int:
    """Parses Qty: rule 1 wants > 0, silver stores int64."""
    number = _parse_int(value, "qty")
    if number <= 0:
        raise _Reject("qty <= 0")
    if number > _INT64_MAX:
        raise _Reject("qty out of int64 range")
    return number


def _parse_unit_price(value: str) -> Decimal:
    """Parses a price; decimal places are judged on the value, not the text."""
    match = _PRICE_RE.fullmatch(value)
    if not match:
        raise _Reject("unparseable unit_price")
    sign, whole, fraction = match.groups()
    whole = whole.replace(",", "")
    fraction = (fraction or "").rstrip("0")
    if sign == "-" and (whole.strip("0") or fraction):
        raise _Reject("unit_price < 0")
    if len(fraction) > 2:
        raise _Reject("unit_price has more than two decimal places")
    price = Decimal(f"{whole}.{fraction.ljust(2, '0')}")  # "-0.00" becomes 0.00
    if price >= _DECIMAL_18_2_BOUND:
        raise _Reject("unit_price out of decimal(18,2) range")
    return price


def _parse_order_date(value: str) -> date:
    """Parses M/D/YYYY; ``date()`` rejects days a calendar does not have."""
    match = _DATE_RE.fullmatch(value)
    try:
        if match:
            month, day, year = map(int, match.groups())
            return date(year, month, day)
    except ValueError:
        pass
    raise _Reject("unparseable order_date")


def _parse_last_modified(value: str) -> datetime:
    """Parses ``YYYY-MM-DD HH:MM:SS``; ``datetime()`` rejects 24:00, :60."""
    match = _TIMESTAMP_RE.fullmatch(value)
    try:
        if match:
            return datetime(*map(int, match.groups()))
    except ValueError:
        pass
    raise _Reject("unparseable last_modified")


def _parse_region(value: str) -> str:
    """Maps any casing of a region to its canonical spelling."""
    try:
        return _REGION_BY_FOLD[value.casefold()]
    except KeyError:
        raise _Reject("region not canonical") from None


def _parse_status(value: str) -> str:
    """Maps any casing of a status to its canonical spelling."""
    try:
        return _STATUS_BY_FOLD[value.casefold()]
    except KeyError:
        raise _Reject("status not canonical") from None


def _parse_currency(value: str) -> str:
    """Accepts three ASCII letters only; ``isalpha`` would allow any script."""
    if not _CURRENCY_RE.fullmatch(value):
        raise _Reject("currency not three letters")
    return value.upper()


def _keep(value: str) -> str:
    """Keeps a free-text field as trimmed (emptiness was checked before)."""
    return value


def _optional(value: str) -> str | None:
    """Stores an empty optional field (Customer Name) as null."""
    return value or None


# One parser per silver column, in contract order: the first failure names
# the reject reason, so this order is part of the reference's behaviour.
_PARSERS = {
    "so_number": _keep,
    "line": _parse_line,
    "order_date": _parse_order_date,
    "customer_id": _keep,
    "customer_name": _optional,
    "region": _parse_region,
    "sku": _keep,
    "qty": _parse_qty,
    "unit_price": _parse_unit_price,
    "currency": _parse_currency,
    "status": _parse_status,
    "last_modified": _parse_last_modified,
}
