r"""Deterministic generator of messy, contract-conforming SO landing files.

Why: the lake must be exercised with what the ERP really sends -- byte-order
marks, padded and shuffled headers, unknown extra columns, quoted names with
commas, prices with thousands separators, blank lines, duplicate lines,
orders that change status later in the month and the odd broken row -- and
tests, demos and benchmarks need such files on demand, byte-identical for
the same seed, without shipping megabytes of fixtures. Only the standard
library is used, so the generator never depends on the code it exercises.

Example:
    python -m etl_targets.datasets.samples.so --start 2026-01-01 --days 31 --rows 300 \
        --out sample_data/landing --seed 20260101
"""

from __future__ import annotations

import collections
import datetime
import heapq
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The generators import only the standard library and each other, never the
# pipeline they exercise (tests/test_layering.py holds every one to that).
from etl_targets.datasets.samples import landing, spelling
from etl_targets.datasets.samples.catalog import master_data as _catalog
from etl_targets.datasets.samples.landing import DEFAULT_MESSINESS, Messiness

HEADERS = (
    "SO Number", "Line", "Order Date", "Customer ID", "Customer Name", "Region",
    "SKU", "Qty", "Unit Price", "Currency", "Status", "Last Modified",
)
EXTRA_HEADER = "Warehouse"
STATUSES = ("OPEN", "SHIPPED", "INVOICED", "CANCELLED")
_NEXT_STATUS = {"OPEN": "SHIPPED", "SHIPPED": "INVOICED", "INVOICED": "INVOICED",
                "CANCELLED": "CANCELLED"}
_REQUIRED = (0, 1, 2, 3, 6, 7, 8, 9, 10, 11)  # HEADERS indexes that may not be empty
_LINE, _ODATE, _REGION, _QTY, _PRICE, _CUR, _STATUS, _LM = 1, 2, 5, 7, 8, 9, 10, 11
_WAREHOUSES = ("WH-01", "WH-02", "WH-07", "DC-EAST")
EXPORT = landing.Export("so", "zheSO", HEADERS, EXTRA_HEADER, _WAREHOUSES)
_NUMBER_TEXT = tuple(str(i) for i in range(101))


@dataclass
class MonthHistory:
    """Orders exported earlier in the month, kept to re-export them changed.

    Real ERPs export an order again when its status changes, so the same
    (SO Number, Line) shows up on a later day with a newer Last Modified;
    that is what makes month-to-date deduplication across days matter.
    """

    capacity: int = 2000
    month: tuple[int, int] | None = None
    orders: list = field(default_factory=list)
    today: list = field(default_factory=list)

    def begin(self, day: datetime.date) -> None:
        """Start a business day; a new month forgets the previous one."""
        if (day.year, day.month) != self.month:
            self.month, self.orders = (day.year, day.month), []
        self.today = []

    def take(self, rng: random.Random) -> list | None:
        """Remove and return a random earlier order, or None when empty."""
        if not self.orders:
            return None
        i = int(rng.random() * len(self.orders))
        self.orders[i], self.orders[-1] = self.orders[-1], self.orders[i]
        return self.orders.pop()

    def offer(self, order: list) -> None:
        """Keep today's order for later days (rows are never mutated)."""
        if len(self.today) < self.capacity:
            self.today.append(order)

    def end(self) -> None:
        """Make today's orders available to the following days."""
        self.orders = (self.orders + self.today)[-self.capacity:]
        self.today = []


# Everything a day's row generators share; customers are (id, name, region),
# skus are (sku, canonical price text, alternative price text).
_Day = collections.namedtuple(
    "_Day", "rng mess customers skus history prefix order_dates day")


def so_file_name(day: datetime.date) -> str:
    """Landing file name for a business date, month and day not zero-padded.

    >>> so_file_name(datetime.date(2026, 1, 7))
    'zheSO-2026-1-7.csv'
    """
    return landing.file_name(EXPORT.prefix, day)


def _qty_text(r: float) -> str:
    return _NUMBER_TEXT[1 + int(r * r * r * 99)]  # mostly small quantities


def _fresh_order(ctx: _Day, n: int) -> list:
    """One new order of 1-6 lines, all valid, the same Last Modified per order."""
    rand, mess, skus = ctx.rng.random, ctx.mess, ctx.skus
    cust_id, name, region = ctx.customers[int(rand() * len(ctx.customers))]
    so = f"{ctx.prefix}{n:06d}"
    order_date = ctx.order_dates[int(rand() * len(ctx.order_dates))]
    currency = "EUR" if rand() < 0.15 else "USD"
    r = rand()
    status = "OPEN" if r < 0.4 else "SHIPPED" if r < 0.7 else "INVOICED" if r < 0.95 else "CANCELLED"
    stamp = spelling.work_time(ctx.day, ctx.rng)
    rate, short = mess.value_variation, mess.short_price
    rows = []
    r = rand()
    for line in range(1, 2 + int(r * r * 6)):
        sku, canonical, alt = skus[int(rand() * len(skus))]
        rows.append([
            so, _NUMBER_TEXT[line], order_date, cust_id, name,
            spelling.spell(region, ctx.rng, rate), sku, _qty_text(rand()),
            alt if rand() < short else canonical, spelling.spell(currency, ctx.rng, rate),
            spelling.spell(status, ctx.rng, rate), stamp,
        ])
    return rows


def _reexport(order: list, ctx: _Day) -> list:
    """An earlier order exported again today: cancelled or moved forward."""
    cancel = ctx.rng.random() < 0.5
    stamp = spelling.work_time(ctx.day, ctx.rng)
    rows = []
    for row in order:
        status = "CANCELLED" if cancel else _NEXT_STATUS[row[_STATUS].strip().upper()]
        new = list(row)
        new[_STATUS], new[_LM] = spelling.spell(status, ctx.rng, ctx.mess.value_variation), stamp
        rows.append(new)
    return rows


def _source_rows(ctx: _Day):
    """Endless valid rows: mostly new orders, some re-exported earlier ones."""
    n = 0
    while True:
        order = ctx.history.take(ctx.rng) if ctx.rng.random() < ctx.mess.reappear else None
        if order is not None:
            order = _reexport(order, ctx)
        else:
            n += 1
            order = _fresh_order(ctx, n)
        if ctx.rng.random() < ctx.mess.remember:
            ctx.history.offer(order)
        yield from order


def _duplicate_pair(row: list, rng: random.Random) -> tuple:
    """Two versions of one (SO Number, Line), in the order they are written.

    A third are exact ties (same Last Modified, different Qty: the later row
    in the file wins); otherwise the newer version is written second or, to
    catch readers that keep the last row, first.
    """
    newer = list(row)
    newer[_QTY] = _NUMBER_TEXT[1 + int(rng.random() * 99)]
    r = rng.random()
    if r < 1 / 3:
        return row, newer
    newer[_LM] = spelling.later(row[_LM], rng)  # before 23:00: Last Modified is at most 22:00
    newer[_STATUS] = _NEXT_STATUS[row[_STATUS].strip().upper()]
    return (row, newer) if r < 2 / 3 else (newer, row)


_CORRUPTIONS = (
    ("empty", None), (_ODATE, "02/30/2026"), (_ODATE, "13/01/2026"), (_ODATE, "2026-01-15"),
    (_QTY, "0"), (_QTY, "-3"), (_QTY, "twelve"), (_QTY, "2.5"), (_PRICE, "1.234"),
    (_PRICE, "-5.00"), (_REGION, "Central"), (_STATUS, "PENDING"), (_CUR, "US"),
    (_CUR, "EURO"), (_LINE, "0"), (_LINE, "x1"),
)


def _corrupt(row: list, rng: random.Random) -> list:
    """A copy of the row broken in one way the contract rejects."""
    bad = list(row)
    index, value = rng.choice(_CORRUPTIONS)
    if index == "empty":
        index, value = rng.choice(_REQUIRED), ""
    bad[index] = value
    return bad


def _day_rows(ctx: _Day, rows: int):
    """Exactly ``rows`` data rows, with duplicates and invalid rows mixed in."""
    rand, mess = ctx.rng.random, ctx.mess
    source, pending, seq, out = _source_rows(ctx), [], 0, 0
    while out < rows:
        if pending and (pending[0][0] <= out or rows - out <= len(pending)):
            yield heapq.heappop(pending)[2]
        else:
            row, r = next(source), rand()
            if r < mess.duplicate and rows - out - len(pending) >= 2:
                row, later = _duplicate_pair(row, ctx.rng)
                seq += 1
                heapq.heappush(pending, (out + 1 + int(rand() * 40), seq, later))
            elif mess.duplicate <= r < mess.duplicate + mess.invalid:
                row = _corrupt(row, ctx.rng)
            yield row
        out += 1


def _new_day(day: datetime.date, rng: random.Random, mess: Messiness,
             history: MonthHistory) -> _Day:
    dates = tuple((day - datetime.timedelta(days=k)).strftime("%m/%d/%Y") for k in range(15))
    return _Day(rng, mess, *_catalog(), history, f"SO-{day:%y%m%d}", dates, day)


def write_so_day(day: datetime.date, rows: int, out_dir, rng: random.Random, *,
                 history: MonthHistory | None = None,
                 mess: Messiness = DEFAULT_MESSINESS) -> Path:
    """Write one business date's SO landing file.

    Args:
        day: The business date; names the file and dates Last Modified.
        rows: Number of data rows (blank lines and the header not counted).
        out_dir: Landing root; the file goes to ``out_dir/so/``.
        rng: Source of all randomness, so a seed reproduces the bytes.
        history: Earlier orders of the month to re-export with a newer Last
            Modified; share one across days. None means no re-exports.
        mess: Rates of each irregularity.

    Returns:
        The path of the written file. It is written under a ``.``-prefixed
        temporary name and renamed, so a crash never leaves half a file.
    """
    history = history if history is not None else MonthHistory()
    history.begin(day)
    ctx = _new_day(day, rng, mess, history)
    layout = landing.choose_layout(rng, mess, HEADERS, EXTRA_HEADER)
    rand = rng.random
    # rows are drawn as they are written, so the draws interleave with the writer's
    path = landing.write_landing(EXPORT.path(out_dir, day), layout, _day_rows(ctx, rows),
                                 lambda: _WAREHOUSES[int(rand() * len(_WAREHOUSES))], rng, mess)
    history.end()
    return path


def generate(start: datetime.date, days: int, rows: int, out, seed: int = 0,
             mess: Messiness = DEFAULT_MESSINESS) -> list[Path]:
    """Write ``days`` consecutive SO landing files starting at ``start``.

    Args:
        start: First business date.
        days: Number of consecutive dates.
        rows: Data rows per file.
        out: Landing root; files go to ``out/so/``.
        seed: Same seed, same bytes.
        mess: How messy the files are (tiny days want ``Messiness(invalid=0.0)``:
            one bad row in 20 is already above silver's 5% reject-ratio gate).

    Returns:
        The written paths, in date order.
    """
    rng, history = random.Random(seed), MonthHistory()
    return [write_so_day(day, rows, out, rng, history=history, mess=mess)
            for day in landing.days_of(start, days)]


main = landing.entry_point("so", "SO", generate, rows=300,
                          failure="cannot write to {args.out}: {exc}")

if __name__ == "__main__":
    sys.exit(main())
