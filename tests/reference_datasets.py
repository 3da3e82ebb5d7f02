"""Independent reference implementation of PO, INV, GL and days of cover.

Tests compare the real ``etl_targets`` pipeline against this module, so it
is written from the data contract (section 4, with the common rules of
sections 2 and 3) alone: standard library only (csv, decimal, datetime, re),
no pandas, no pyarrow, no import from ``etl_targets``. Rows are plain dicts;
money and costs are ``Decimal`` at the contract's scale, never floats.

Parsing decisions the contract leaves open, the project's (see
``docs/data-contract.md``, "Decisions where the contract is silent"):

* Integers: optional ``+``/``-`` sign, then ASCII digits, plain or in proper
  thousands groups (``1,200``); at most 18 digits; int32 columns must fit.
* Decimals: the same, plus an optional ``.digits`` (a digit is needed before
  the point). Places are judged by value (``12.5000`` is 12.5, ``1.23456`` at
  four places is rejected); ``-0`` is zero; at most 18 - scale whole digits.
* ``Debit`` and ``Credit``: an empty (or blank) field means 0.
* Optional fields (names, descriptions, Expected Date): empty means null.
* Codes: statuses match after trimming and ``str.casefold``; Warehouse is
  trimmed, case-folded and upper-cased (``straße`` is ``STRASSE``);
  Currency is exactly three ASCII letters.
* A blank line is a record with no field or one whitespace-only field; it is
  skipped and not counted. A record whose field count differs from the
  header's, broken quoting, a header naming a contract column twice, a
  missing column, no header or invalid UTF-8 fail the whole file.
* A derived value too large for its decimal (``open_value``,
  ``stock_value``) rejects the row.

A rejected row's ``reject_reason`` is the first failing check: required
fields in contract column order, each field's own rule in contract order,
then the row's cross-field rules (Qty Received <= Qty Ordered; GL's debit and
credit rule), then derived values; GL's balance rule gives ``journal
unbalanced``. Rejects carry every contract field's raw (untrimmed) text.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Callable, Iterable, Mapping, Optional

_WIDE = 80  # decimal precision that keeps every sum and product here exact
_GROUPED = r"(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)"
_INT_RE = re.compile(rf"[+-]?{_GROUPED}")
_DECIMAL_RE = re.compile(rf"([+-]?)({_GROUPED})(?:\.([0-9]+))?")
_DATE_RE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_TIMESTAMP_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")
PO_STATUSES = ("OPEN", "PARTIAL", "RECEIVED", "CLOSED", "CANCELLED")
UNBALANCED = "journal unbalanced"


class ReferenceContractError(Exception):
    """A landing file fails as a whole (rule 4 and section 4): nothing is published."""


class _Reject(Exception):
    """Carries one row's ``reject_reason`` out of the parsers."""


# --- value rules --------------------------------------------------------------------


def text(value: str, name: str) -> str:
    return value


def optional_text(value: str, name: str) -> Optional[str]:
    return value or None


def upper_code(value: str, name: str) -> str:
    """Case-folded, then in capitals: ``straße`` and ``STRAẞE`` are both ``STRASSE``."""
    return value.casefold().upper()


def currency(value: str, name: str) -> str:
    if not _CURRENCY_RE.fullmatch(value):
        raise _Reject(f"{name} not three letters")
    return value.upper()


def integer(bits: int, minimum: int) -> Callable[[str, str], int]:
    """An integer rule: ``bits`` wide (32 or 64), at least ``minimum``."""
    def parse(value: str, name: str) -> int:
        digits = value.lstrip("+-").replace(",", "").lstrip("0") or "0"
        if not _INT_RE.fullmatch(value) or len(digits) > 40:
            raise _Reject(f"unparseable {name}")
        number = -int(digits) if value.startswith("-") else int(digits)
        if not -2 ** (bits - 1) <= number < 2 ** (bits - 1):
            raise _Reject(f"{name} out of int{bits} range")
        if number < minimum:
            raise _Reject(f"{name} < {minimum}")
        return number
    return parse


def decimal(scale: int, empty_is_zero: bool = False) -> Callable[[str, str], Decimal]:
    """A decimal rule: >= 0, at most ``scale`` places by value, decimal128(18, scale)."""
    def parse(value: str, name: str) -> Decimal:
        if not value and empty_is_zero:
            return Decimal("0." + "0" * scale)
        match = _DECIMAL_RE.fullmatch(value)
        if not match:
            raise _Reject(f"unparseable {name}")
        sign, whole, fraction = match.groups()
        whole, fraction = whole.replace(",", "").lstrip("0"), (fraction or "").rstrip("0")
        if sign == "-" and (whole or fraction):
            raise _Reject(f"{name} < 0")
        if len(fraction) > scale:
            raise _Reject(f"{name} has more than {scale} decimal places")
        if len(whole) > 18 - scale:
            raise _Reject(f"{name} out of decimal(18,{scale}) range")
        return Decimal(f"{whole or '0'}.{fraction.ljust(scale, '0')}")
    return parse


def us_date(value: str, name: str) -> date:
    match = _DATE_RE.fullmatch(value)
    try:
        if match:
            month, day, year = map(int, match.groups())
            return date(year, month, day)
    except ValueError:
        pass
    raise _Reject(f"unparseable {name}")


def optional_date(value: str, name: str) -> Optional[date]:
    return us_date(value, name) if value else None


def timestamp(value: str, name: str) -> datetime:
    match = _TIMESTAMP_RE.fullmatch(value)
    try:
        if match:
            return datetime(*map(int, match.groups()))
    except ValueError:
        pass
    raise _Reject(f"unparseable {name}")


def choice(values: tuple) -> Callable[[str, str], str]:
    by_fold = {v.casefold(): v for v in values}

    def parse(value: str, name: str) -> str:
        try:
            return by_fold[value.casefold()]
        except KeyError:
            raise _Reject(f"{name} not canonical") from None
    return parse


# --- the datasets -------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One dataset as the contract writes it.

    Attributes:
        folder: landing and lake folder (``po``); file prefix is ``zhe`` + upper.
        columns: ``(header, silver name, rule, required)`` in contract order.
        key: the dedup key; ``latest``: the column that decides the latest.
        row_rule: cross-field checks and derived columns; returns extra columns.
    """

    folder: str
    columns: tuple
    key: tuple
    latest: str
    row_rule: Callable[[dict], dict]

    @property
    def names(self) -> tuple:
        return tuple(name for _, name, _, _ in self.columns)

    def landing_name(self, day: date) -> str:
        return f"zhe{self.folder.upper()}-{day.year}-{day.month}-{day.day}.csv"


def _product(qty: int, cost: Decimal, name: str) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _WIDE
        value = qty * cost
    if abs(value) >= Decimal(10) ** 14:
        raise _Reject(f"{name} out of decimal(18,4) range")
    return value.quantize(Decimal("0.0001"))


def _po_rule(row: dict) -> dict:
    if row["qty_received"] > row["qty_ordered"]:
        raise _Reject("qty_received > qty_ordered")
    open_qty = row["qty_ordered"] - row["qty_received"]
    return {"open_qty": open_qty, "open_value": _product(open_qty, row["unit_cost"], "open_value")}


def _inv_rule(row: dict) -> dict:
    return {"stock_value": _product(row["on_hand"], row["unit_cost"], "stock_value")}


def _gl_rule(row: dict) -> dict:
    if row["debit"] and row["credit"]:
        raise _Reject("debit and credit both non-zero")
    if not row["debit"] and not row["credit"]:
        raise _Reject("debit and credit both zero")
    return {}


PO = Spec("po", (
    ("PO Number", "po_number", text, True),
    ("Line", "line", integer(32, 1), True),
    ("Order Date", "order_date", us_date, True),
    ("Vendor ID", "vendor_id", text, True),
    ("Vendor Name", "vendor_name", optional_text, False),
    ("SKU", "sku", text, True),
    ("Qty Ordered", "qty_ordered", integer(64, 1), True),
    ("Qty Received", "qty_received", integer(64, 0), True),
    ("Unit Cost", "unit_cost", decimal(4), True),
    ("Currency", "currency", currency, True),
    ("Status", "status", choice(PO_STATUSES), True),
    ("Expected Date", "expected_date", optional_date, False),
    ("Last Modified", "last_modified", timestamp, True),
), ("po_number", "line"), "last_modified", _po_rule)

INV = Spec("inv", (
    ("SKU", "sku", text, True),
    ("Warehouse", "warehouse", upper_code, True),
    ("On Hand", "on_hand", integer(64, 0), True),
    ("Allocated", "allocated", integer(64, 0), True),
    ("Unit Cost", "unit_cost", decimal(4), True),
    ("Currency", "currency", currency, True),
    ("Snapshot Time", "snapshot_time", timestamp, True),
), ("sku", "warehouse"), "snapshot_time", _inv_rule)

GL = Spec("gl", (
    ("Journal ID", "journal_id", text, True),
    ("Line", "line", integer(32, 1), True),
    ("Posting Date", "posting_date", us_date, True),
    ("Account", "account", text, True),
    ("Account Name", "account_name", optional_text, False),
    ("Debit", "debit", decimal(2, empty_is_zero=True), False),
    ("Credit", "credit", decimal(2, empty_is_zero=True), False),
    ("Currency", "currency", currency, True),
    ("Description", "description", optional_text, False),
    ("Last Modified", "last_modified", timestamp, True),
), ("journal_id", "line"), "last_modified", _gl_rule)

SPECS = {spec.folder: spec for spec in (PO, INV, GL)}


# --- silver ---------------------------------------------------------------------------


def parse_landing(spec: Spec, data: str | bytes, source_name: str) -> tuple[list, list]:
    """Turns one landing file into silver rows and reject rows.

    Args:
        spec: ``PO``, ``INV`` or ``GL``.
        data: The file's content; bytes are decoded as strict UTF-8.
        source_name: The landing file name, stamped on rejects and errors.

    Returns:
        ``(silver, rejects)``: silver deduplicated (for GL, balanced) and
        sorted by the dedup key; rejects sorted by row number.

    Raises:
        ReferenceContractError: The file fails as a whole.
    """
    records = _records(_decode(data, source_name), source_name)
    header = next(records, None)
    if header is None:
        raise ReferenceContractError(f"{source_name}: no header")
    positions = _positions(spec, header, source_name)
    valid, rejects = [], []
    for row_number, record in enumerate(records, start=1):
        if len(record) != len(header):
            raise ReferenceContractError(
                f"{source_name}: data row {row_number} has {len(record)} fields, "
                f"the header {len(header)}")
        raw = {name: record[pos] for name, pos in positions.items()}
        try:
            valid.append((_silver_row(spec, raw), raw, row_number))
        except _Reject as reject:
            rejects.append(_reject_row(raw, source_name, row_number, str(reject)))
    kept = _dedup_in_file(valid, spec)
    if spec is GL:
        kept, unbalanced = _balanced(kept)
        rejects += [_reject_row(raw, source_name, n, UNBALANCED) for _, raw, n in unbalanced]
    silver = sorted((row for row, _, _ in kept), key=lambda r: tuple(r[k] for k in spec.key))
    return silver, sorted(rejects, key=lambda r: r["row_number"])


def _reject_row(raw: dict, source_name: str, row_number: int, reason: str) -> dict:
    return {**raw, "source_file": source_name, "row_number": row_number,
            "reject_reason": reason}


def _silver_row(spec: Spec, raw: dict) -> dict:
    """Validates one record's fields and builds its silver row (or raises)."""
    trimmed = {name: value.strip() for name, value in raw.items()}
    for _, name, _, required in spec.columns:
        if required and not trimmed[name]:
            raise _Reject(f"empty required field: {name}")
    row = {name: rule(trimmed[name], name) for _, name, rule, _ in spec.columns}
    row.update(spec.row_rule(row))
    return row


def _dedup_in_file(valid: list, spec: Spec) -> list:
    """Greatest ``latest`` per key, ties to the row last in the file."""
    kept: dict = {}
    for entry in valid:
        row = entry[0]
        key = tuple(row[k] for k in spec.key)
        if key not in kept or row[spec.latest] >= kept[key][0][spec.latest]:
            kept[key] = entry
    return list(kept.values())


def _balanced(kept: list) -> tuple[list, list]:
    """Splits GL rows into balanced journals and every line of the unbalanced ones."""
    sums: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row, _, _ in kept:
        pair = sums[row["journal_id"], row["currency"]]
        pair[0] += row["debit"]
        pair[1] += row["credit"]
    bad = {journal for (journal, _), (debit, credit) in sums.items() if debit != credit}
    return ([e for e in kept if e[0]["journal_id"] not in bad],
            [e for e in kept if e[0]["journal_id"] in bad])


def _decode(data: str | bytes, source_name: str) -> str:
    """Decodes strict UTF-8 and drops one leading byte-order mark."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReferenceContractError(
                f"{source_name}: not valid UTF-8 (byte {exc.start})") from exc
    return data[1:] if data.startswith("\ufeff") else data


def _records(text_: str, source_name: str):
    """Yields the non-blank CSV records; malformed CSV fails the file."""
    reader = csv.reader(io.StringIO(text_, newline=""), strict=True)
    try:
        for record in reader:
            if len(record) > 1 or (record and record[0].strip()):
                yield record
    except csv.Error as exc:
        raise ReferenceContractError(
            f"{source_name}: malformed CSV at line {reader.line_num}: {exc}") from exc


def _positions(spec: Spec, header: list, source_name: str) -> dict:
    """Maps each silver column to its field index; unknown headers are dropped."""
    by_fold = {title.casefold(): name for title, name, _, _ in spec.columns}
    positions: dict = {}
    for index, title in enumerate(header):
        name = by_fold.get(title.strip().casefold())
        if name is None:
            continue
        if name in positions:
            raise ReferenceContractError(f"{source_name}: duplicate column {title.strip()!r}")
        positions[name] = index
    missing = [title for title, name, _, _ in spec.columns if name not in positions]
    if missing:
        raise ReferenceContractError(f"{source_name}: missing column(s): {', '.join(missing)}")
    return positions


# --- gold ---------------------------------------------------------------------------


def month_to_date(day: date) -> list[date]:
    """The dates whose silver feeds a month-to-date table of ``day``."""
    return [day.replace(day=n) for n in range(1, day.day + 1)]


def last_seven_days(day: date) -> list[date]:
    """``day - 6`` through ``day``: the SO dates behind days of cover."""
    return [day - timedelta(days=k) for k in range(6, -1, -1)]


def latest_across_days(rows_by_date: Mapping[date, Iterable[dict]], key: tuple,
                       latest: str) -> list[dict]:
    """One row per key over several dates: greatest ``latest``, ties to the later date."""
    kept: dict = {}
    for day in sorted(rows_by_date):
        for row in rows_by_date[day]:
            k = tuple(row[c] for c in key)
            if k not in kept or row[latest] >= kept[k][latest]:
                kept[k] = row
    return list(kept.values())


def _group(rows: Iterable[dict], keys: tuple, measures: dict) -> list[dict]:
    """Groups rows by ``keys`` (sorted); ``measures``: name -> (start, add(acc, row))."""
    groups: dict = {}
    with localcontext() as ctx:
        ctx.prec = _WIDE
        for row in rows:
            acc = groups.setdefault(tuple(row[k] for k in keys),
                                    {m: start() for m, (start, _) in measures.items()})
            for m, (_, add) in measures.items():
                acc[m] = add(acc[m], row)
    return [{**dict(zip(keys, key)), **acc} for key, acc in sorted(groups.items())]


def _sum(column: str, scale: Optional[int] = None):
    start = (lambda: Decimal("0." + "0" * scale)) if scale else (lambda: 0)
    return start, lambda acc, row: acc + row[column]


def _count():
    return (lambda: 0), lambda acc, row: acc + 1


def po_open_by_vendor(silver: Iterable[dict], day: date) -> list[dict]:
    """``po_open_by_vendor`` of ``day`` from PO silver of ``day``."""
    open_rows = [r for r in silver if r["status"] in ("OPEN", "PARTIAL")]
    return _group(open_rows, ("vendor_id", "currency"), {
        "open_lines": _count(), "open_qty": _sum("open_qty"),
        "open_value": _sum("open_value", 4),
        "overdue_value": (lambda: Decimal("0.0000"), lambda acc, row: acc + (
            row["open_value"] if row["expected_date"] is not None and row["expected_date"] < day
            else 0)),
    })


def inv_value_by_warehouse(silver: Iterable[dict]) -> list[dict]:
    """``inv_value_by_warehouse`` of a date from INV silver of that date."""
    rows = _group(silver, ("warehouse", "currency"), {
        "skus": (set, lambda acc, row: acc | {row["sku"]}), "on_hand": _sum("on_hand"),
        "available": (lambda: 0, lambda acc, row: acc + max(row["on_hand"] - row["allocated"], 0)),
        "value": _sum("stock_value", 4),
    })
    return [{**row, "skus": len(row["skus"])} for row in rows]


def gl_trial_balance(silver_by_date: Mapping[date, Iterable[dict]]) -> list[dict]:
    """``gl_trial_balance``, month to date: pass the GL silver of :func:`month_to_date`."""
    rows = latest_across_days(silver_by_date, GL.key, GL.latest)
    totals = _group(rows, ("account", "currency"),
                    {"debit": _sum("debit", 2), "credit": _sum("credit", 2)})
    return [{**row, "net": row["debit"] - row["credit"]} for row in totals]


def inv_days_of_cover(inv_silver: Iterable[dict],
                      so_silver_by_date: Mapping[date, Iterable[dict]]) -> list[dict]:
    """``inv_days_of_cover`` of D from INV silver of D and SO silver of D-6..D.

    Args:
        inv_silver: INV silver rows of D.
        so_silver_by_date: SO silver rows (``reference_so.parse_landing``) of
            the seven dates of :func:`last_seven_days`.
    """
    so_rows = latest_across_days(so_silver_by_date, ("so_number", "line"), "last_modified")
    sold: dict = defaultdict(int)
    for row in so_rows:
        if row["status"] != "CANCELLED":
            sold[row["sku"]] += row["qty"]
    on_hand: dict = defaultdict(int)
    for row in inv_silver:
        on_hand[row["sku"]] += row["on_hand"]
    return [{"sku": sku, "on_hand": on_hand[sku], "sold_7d": sold.get(sku, 0),
             "avg_daily_qty": _ratio(sold.get(sku, 0), 7),
             "days_of_cover": _ratio(on_hand[sku] * 7, sold[sku]) if sold.get(sku) else None}
            for sku in sorted(on_hand)]


def _ratio(numerator: int, denominator: int) -> Decimal:
    """``numerator / denominator`` rounded half away from zero to 2 places, exactly."""
    hundredths, rest = divmod(abs(numerator) * 100, denominator)
    hundredths += 2 * rest >= denominator
    sign = "-" if numerator < 0 and hundredths else ""
    return Decimal(f"{sign}{hundredths // 100}.{hundredths % 100:02d}")
