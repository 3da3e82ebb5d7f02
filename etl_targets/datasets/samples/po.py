r"""Deterministic generator of messy, contract-conforming PO landing files.

Why: a PO file is the ERP's end-of-day snapshot of every purchase-order
line not yet archived, so one line appears day after day while it is
received bit by bit, pushed back, short-closed or cancelled, and leaves the
snapshot a few days after it is done. This module simulates that book of
open orders (starting three weeks before the first written date, so the
first file already holds partial and overdue lines) and writes each day's
snapshot with the noise of a real export: the file-level irregularities of
:mod:`.landing`, codes in any case, quantities and costs with thousands
separators, costs with trailing zeros (``12.5000``, ``12.500000``), vendor
names with commas and quotes, stale duplicate lines and about 1% invalid
rows -- over-received lines, five-decimal costs among them.

SKUs come from SO's catalog, costs from its list prices. Standard library
only; the same seed writes the same bytes.

Example:
    python -m etl_targets.datasets.samples.po --start 2026-01-01 --days 31 \
        --out sample_data/landing --seed 20260101
"""

from __future__ import annotations

import datetime
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from etl_targets.datasets.samples import catalog, landing, spelling
from etl_targets.datasets.samples.landing import DEFAULT_MESSINESS, Messiness

HEADERS = (
    "PO Number", "Line", "Order Date", "Vendor ID", "Vendor Name", "SKU", "Qty Ordered",
    "Qty Received", "Unit Cost", "Currency", "Status", "Expected Date", "Last Modified",
)
EXTRA_HEADER = "Buyer"
STATUSES = ("OPEN", "PARTIAL", "RECEIVED", "CLOSED", "CANCELLED")
_PO, _LINE, _ODATE, _VID, _QORD, _QREC, _COST, _CUR, _STATUS, _EXP, _LM = (
    0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12)
_REQUIRED = (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 12)  # HEADERS indexes that may not be empty
_BUYERS = ("jdoe", "M. Rossi, Purchasing", "", "a.kowalski", 'K. "Kit" Ng')
EXPORT = landing.Export("po", "zhePO", HEADERS, EXTRA_HEADER, _BUYERS)
_PACKS = (1, 1, 6, 10, 12, 24, 50, 100)
VENDOR_SEED = 7702
WARM_UP_DAYS = 21
_FINAL = ("RECEIVED", "CLOSED", "CANCELLED")


@dataclass
class Line:
    """One purchase-order line as the ERP holds it (costs in 1/10,000)."""

    po: str
    line: int
    order_date: datetime.date
    vendor: tuple
    sku: str
    qty_ordered: int
    cost: int
    expected: datetime.date | None
    modified: str
    qty_received: int = 0
    status: str = "OPEN"
    archive_on: datetime.date | None = None


def po_file_name(day: datetime.date) -> str:
    """``zhePO-2026-1-7.csv``: month and day not zero-padded."""
    return landing.file_name(EXPORT.prefix, day)


def _vendors() -> tuple:
    """Vendors are master data: the same for every seed. (id, name, currency, lead days)."""
    rng = random.Random(VENDOR_SEED)
    heads = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware",
             "Wingtip", "Lucerne", "Fourth Coffee", "Blue Yonder", "Graphic Design", "Zoë's",
             "Ålesund Marine", "Schäfer & Söhne", "Margie's", "Coho", "Trey", "Humongous")
    tails = ("Inc.", "LLC", "Ltd", "GmbH", "AS", "Supply Co.", "Trading", "Wholesale")
    vendors = []
    for i, head in enumerate(heads, start=1):
        tail, r = rng.choice(tails), rng.random()
        name = f"{head}, {tail}" if r < 0.3 else f'{head} "Direct" {tail}' if r < 0.4 else \
            "" if r < 0.45 else f"{head} {tail}"
        r = rng.random()
        currency = "EUR" if r < 0.25 else "GBP" if r < 0.35 else "USD"
        vendors.append((f"V{i * 7:04d}", name, currency, rng.randint(3, 21)))
    return tuple(vendors)


_VENDORS = _vendors()
_FX = {"USD": 100, "EUR": 92, "GBP": 79}  # cost in the vendor's currency, per 100 USD


class Book:
    """The ERP's purchase-order lines that are not archived yet."""

    def __init__(self, rng: random.Random):
        self.rng, self.lines, self.skus = rng, [], catalog.list_prices()

    def advance(self, day: datetime.date) -> None:
        """Receives, closes and cancels lines during ``day``; orders new ones."""
        self.lines = [ln for ln in self.lines if ln.archive_on is None or ln.archive_on > day]
        for ln in self.lines:
            if ln.status in ("OPEN", "PARTIAL"):
                self._progress(ln, day)
        for n in range(1, self.rng.randint(4, 8)):
            self._order(day, n)

    def _progress(self, ln: Line, day: datetime.date) -> None:
        rand = self.rng.random
        due = ln.expected or ln.order_date + datetime.timedelta(days=10)
        if rand() < (0.35 if day >= due - datetime.timedelta(days=2) else 0.03):
            left = ln.qty_ordered - ln.qty_received
            ln.qty_received += left if rand() < 0.6 else self.rng.randint(1, left)
            ln.status = "RECEIVED" if ln.qty_received == ln.qty_ordered else "PARTIAL"
        elif ln.status == "PARTIAL" and rand() < 0.02:
            ln.status = "CLOSED"
        elif ln.qty_received == 0 and rand() < 0.006:
            ln.status = "CANCELLED"
        elif ln.expected is not None and rand() < 0.01:
            ln.expected += datetime.timedelta(days=self.rng.randint(3, 10))
        else:
            return
        ln.modified = spelling.work_time(day, self.rng)
        if ln.status in _FINAL:
            ln.archive_on = day + datetime.timedelta(days=self.rng.randint(1, 4))

    def _order(self, day: datetime.date, n: int) -> None:
        rng = self.rng
        vendor = _VENDORS[int(rng.random() * len(_VENDORS))]
        ordered = day - datetime.timedelta(days=1 if rng.random() < 0.15 else 0)
        expected = None if rng.random() < 0.08 else \
            ordered + datetime.timedelta(days=max(1, vendor[3] + rng.randint(-2, 4)))
        modified, r = spelling.work_time(day, rng), rng.random()
        picked = rng.sample(self.skus, 1 + int(r * r * 6))
        for number, (sku, cents) in enumerate(picked, start=1):
            cost = cents * rng.randint(450, 750) * _FX[vendor[2]] // 1000
            cost = cost // 100 * 100 if rng.random() < 0.3 else cost
            r = rng.random()
            qty = (1 + int(r * r * 49)) * rng.choice(_PACKS)
            self.lines.append(Line(f"PO-{day:%y%m%d}-{n:02d}", number, ordered, vendor, sku,
                                   qty, cost, expected, modified))


def _render(ln: Line, rng: random.Random, mess: Messiness) -> list:
    """One line as the export spells it (spellings vary from day to day)."""
    rate, num = mess.value_variation, mess.number_variation
    return [
        ln.po, str(ln.line), spelling.us_date(ln.order_date, rng, rate), ln.vendor[0],
        ln.vendor[1], ln.sku, spelling.integer_text(ln.qty_ordered, rng, num),
        spelling.integer_text(ln.qty_received, rng, num),
        spelling.decimal_text(ln.cost, 4, rng, num), spelling.spell(ln.vendor[2], rng, rate),
        spelling.spell(ln.status, rng, rate),
        "" if ln.expected is None else spelling.us_date(ln.expected, rng, rate), ln.modified,
    ]


def _stale(row: list, rng: random.Random) -> tuple:
    """An older version of the line (another received quantity) and the current one."""
    ordered = int(row[_QORD].replace(",", ""))
    old = list(row)
    old[_QREC] = str((int(row[_QREC].replace(",", "")) + rng.randint(1, ordered)) % (ordered + 1))
    return landing.versions(old, row, rng, _LM)


def _five_decimals(row: list, rng: random.Random) -> str:
    return spelling.five_decimals(row[_COST], rng)


def _over_received(row: list, rng: random.Random) -> str:
    return str(int(row[_QORD].replace(",", "")) + rng.randint(1, 12))


_CORRUPTIONS = (
    ("empty", None), (_QREC, _over_received), (_QREC, _over_received), (_COST, _five_decimals),
    (_COST, _five_decimals), (_COST, "-1.2500"), (_QORD, "0"), (_QORD, "-24"), (_QREC, "-1"),
    (_QORD, "12.5"), (_ODATE, "02/30/2026"), (_ODATE, "2026-01-15"), (_EXP, "13/01/2026"),
    (_STATUS, "SHIPPED"), (_STATUS, "PENDING"), (_CUR, "US"), (_CUR, "EURO"), (_LINE, "0"),
    (_LM, "2026-01-15T10:00:00"),
)


def _corrupt(row: list, rng: random.Random) -> tuple:
    """A copy broken in one way the contract rejects; half the time the line stays too."""
    return landing.corrupt(row, rng, _CORRUPTIONS, _LM, _REQUIRED)


def write_po_day(day: datetime.date, book: Book, out_dir, rng: random.Random, *,
                 mess: Messiness = DEFAULT_MESSINESS) -> Path:
    """Advances ``book`` through ``day`` and writes its end-of-day snapshot; returns its path.

    ``book`` holds the open purchase-order lines: share one across days. The
    other arguments are :func:`.landing.write_snapshot`'s (the file goes to
    ``out_dir/po/``, written atomically).
    """
    book.advance(day)
    lines = sorted(book.lines, key=lambda ln: (ln.po, ln.line))
    return landing.write_snapshot(EXPORT, day, out_dir,
                                  lambda: [_render(ln, rng, mess) for ln in lines],
                                  rng, mess, _stale, _corrupt)


def generate(start: datetime.date, days: int, out, seed: int = 0, *,
             mess: Messiness = DEFAULT_MESSINESS) -> list[Path]:
    """Write ``days`` consecutive PO landing files from ``start`` under ``out/po/``.

    The book is simulated from three weeks before ``start``, so the first
    snapshot already holds older orders. As every generator's ``generate``
    (:func:`.landing.entry_point`): the same seed writes the same bytes;
    returns the paths in date order.
    """
    rng = random.Random(seed)
    book = Book(rng)
    for day in landing.days_of(start - datetime.timedelta(days=WARM_UP_DAYS), WARM_UP_DAYS):
        book.advance(day)
    return [write_po_day(day, book, out, rng, mess=mess) for day in landing.days_of(start, days)]


main = landing.entry_point("po", "PO", generate)

if __name__ == "__main__":
    sys.exit(main())
