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

import argparse
import collections
import csv
import datetime
import functools
import heapq
import operator
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

HEADERS = (
    "SO Number", "Line", "Order Date", "Customer ID", "Customer Name", "Region",
    "SKU", "Qty", "Unit Price", "Currency", "Status", "Last Modified",
)
EXTRA_HEADER = "Warehouse"
REGIONS = ("North", "South", "East", "West")
STATUSES = ("OPEN", "SHIPPED", "INVOICED", "CANCELLED")
_NEXT_STATUS = {"OPEN": "SHIPPED", "SHIPPED": "INVOICED", "INVOICED": "INVOICED",
                "CANCELLED": "CANCELLED"}
_REQUIRED = (0, 1, 2, 3, 6, 7, 8, 9, 10, 11)  # HEADERS indexes that may not be empty
_LINE, _ODATE, _REGION, _QTY, _PRICE, _CUR, _STATUS, _LM = 1, 2, 5, 7, 8, 9, 10, 11
_WAREHOUSES = ("WH-01", "WH-02", "WH-07", "DC-EAST")
_NUMBER_TEXT = tuple(str(i) for i in range(101))
_DAY_START, _DAY_SPAN = 6 * 3600, 16 * 3600  # Last Modified between 06:00 and 22:00
CATALOG_SEED = 4180


@dataclass(frozen=True)
class Messiness:
    """How often each contract-allowed irregularity appears.

    File-level rates are per day; value-level rates are per row. Tests can
    pass ``Messiness(invalid=0.0)`` and the like to isolate one behaviour.
    """

    bom: float = 0.3
    header_variation: float = 0.4
    shuffle_columns: float = 0.25
    extra_column: float = 0.25
    lf_newlines: float = 0.3
    trailing_blank: float = 0.3
    blank_line: float = 0.004
    value_variation: float = 0.2
    short_price: float = 0.4
    duplicate: float = 0.02
    invalid: float = 0.01
    reappear: float = 0.03
    remember: float = 0.1


DEFAULT_MESSINESS = Messiness()


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


# File-level choices for one day; ``order`` is a column permutation or None.
_Layout = collections.namedtuple("_Layout", "bom header order extra newline trailing_blank")
# Everything a day's row generators share; customers are (id, name, region),
# skus are (sku, canonical price text, alternative price text).
_Day = collections.namedtuple(
    "_Day", "rng mess customers skus history prefix order_dates stamp")


def so_file_name(day: datetime.date) -> str:
    """Landing file name for a business date, month and day not zero-padded.

    >>> so_file_name(datetime.date(2026, 1, 7))
    'zheSO-2026-1-7.csv'
    """
    return f"zheSO-{day.year}-{day.month}-{day.day}.csv"


def _variants(word: str) -> tuple:
    low, up = word.lower(), word.upper()
    return (up, low, word.title(), f" {word}", f"{word} ", f"  {low} ", f" {up}", f"{low} ")


_VARIANTS = {w: _variants(w) for w in REGIONS + STATUSES + ("USD", "EUR")}


def _price_texts(cents: int) -> tuple:
    """Canonical ``1234.50`` plus the form a sloppy export might use instead."""
    whole, frac = divmod(cents, 100)
    canonical = f"{whole}.{frac:02d}"
    if whole >= 1000:
        return canonical, f"{whole:,}.{frac:02d}"
    if frac == 0:
        return canonical, str(whole)
    if frac % 10 == 0:
        return canonical, f"{whole}.{frac // 10}"
    return canonical, canonical


def _customer_name(rng: random.Random) -> str:
    heads = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli",
             "Vandelay", "Tyrell", "Wonka", "Cyberdyne", "Müller", "Zoë's", "Café Olé",
             "Nordic", "Pacific", "Summit", "Blue River", "Oak & Iron", "Łódź Tools")
    tails = ("Inc.", "LLC", "Ltd", "GmbH", "Corp.", "Industries", "Trading", "Supply Co.")
    head, tail, r = rng.choice(heads), rng.choice(tails), rng.random()
    if r < 0.02:
        return ""
    if r < 0.25:
        name = f"{head}, {tail}"
    elif r < 0.35:
        name = f'{head} "{rng.choice(("Best", "Prime", "The Original"))}" {tail}'
    elif r < 0.40:
        name = f'"{head}", {tail}'
    else:
        name = f"{head} {tail}"
    return f"  {name} " if rng.random() < 0.05 else name


@functools.lru_cache(maxsize=4)
def _catalog(seed: int = CATALOG_SEED) -> tuple:
    """Customers and SKUs are fixed across seeds, as real master data is."""
    rng = random.Random(seed)
    customers = tuple((f"C{i:05d}", _customer_name(rng), rng.choice(REGIONS))
                      for i in range(1, 601))
    skus = []
    for i in range(2500):
        r = rng.random()
        top = 900000 if r < 0.1 else rng.choice((999, 9999, 99999))  # integers only:
        cents = 0 if r < 0.01 else rng.randint(50, top)  # same bytes on every platform
        r = rng.random()
        cents = cents // 100 * 100 if r < 0.15 else cents // 10 * 10 if r < 0.3 else cents
        skus.append((f"SKU-{10000 + i}", *_price_texts(cents)))
    return customers, tuple(skus)


def _render(word: str, rng: random.Random, rate: float) -> str:
    return rng.choice(_VARIANTS[word]) if rng.random() < rate else word


def _stamp(stamp: str, seconds: int) -> str:
    return f"{stamp} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


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
    stamp = _stamp(ctx.stamp, _DAY_START + int(rand() * _DAY_SPAN))
    rate, short = mess.value_variation, mess.short_price
    rows = []
    r = rand()
    for line in range(1, 2 + int(r * r * 6)):
        sku, canonical, alt = skus[int(rand() * len(skus))]
        rows.append([
            so, _NUMBER_TEXT[line], order_date, cust_id, name,
            _render(region, ctx.rng, rate), sku, _qty_text(rand()),
            alt if rand() < short else canonical, _render(currency, ctx.rng, rate),
            _render(status, ctx.rng, rate), stamp,
        ])
    return rows


def _reexport(order: list, ctx: _Day) -> list:
    """An earlier order exported again today: cancelled or moved forward."""
    cancel = ctx.rng.random() < 0.5
    stamp = _stamp(ctx.stamp, _DAY_START + int(ctx.rng.random() * _DAY_SPAN))
    rows = []
    for row in order:
        status = "CANCELLED" if cancel else _NEXT_STATUS[row[_STATUS].strip().upper()]
        new = list(row)
        new[_STATUS], new[_LM] = _render(status, ctx.rng, ctx.mess.value_variation), stamp
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
    h, m, s = (int(part) for part in row[_LM][11:].split(":"))
    newer[_LM] = _stamp(row[_LM][:10], h * 3600 + m * 60 + s + rng.randint(1, 3600))
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


def _choose_layout(rng: random.Random, mess: Messiness) -> _Layout:
    """File-level choices for one day: BOM, header spelling and order, extras."""
    bom, vary, extra = (rng.random() < rate for rate in
                        (mess.bom, mess.header_variation, mess.extra_column))
    names = HEADERS + (EXTRA_HEADER,) if extra else HEADERS
    names = tuple(rng.choice((n, n.upper(), n.lower(), f" {n}", f"{n}  ", f" {n.lower()} ",
                              n.title())) if vary else n for n in names)
    order = None
    if rng.random() < mess.shuffle_columns:
        order = tuple(rng.sample(range(len(names)), len(names)))
    newline = "\n" if rng.random() < mess.lf_newlines else "\r\n"
    trailing = rng.random() < mess.trailing_blank
    header = tuple(names[i] for i in order) if order else names
    return _Layout(bom, header, order, extra, newline, trailing)


def _write_csv(f, layout: _Layout, rows, ctx: _Day) -> None:
    if layout.bom:
        f.write("\ufeff")
    writer = csv.writer(f, lineterminator=layout.newline)
    writer.writerow(layout.header)
    rand, blank = ctx.rng.random, ctx.mess.blank_line
    pick = operator.itemgetter(*layout.order) if layout.order else None
    for row in rows:
        if layout.extra:
            row = (*row, _WAREHOUSES[int(rand() * len(_WAREHOUSES))])
        writer.writerow(pick(row) if pick else row)
        if rand() < blank:
            f.write(layout.newline)
    if layout.trailing_blank:
        f.write(layout.newline)


def _new_day(day: datetime.date, rng: random.Random, mess: Messiness,
             history: MonthHistory) -> _Day:
    dates = tuple((day - datetime.timedelta(days=k)).strftime("%m/%d/%Y") for k in range(15))
    return _Day(rng, mess, *_catalog(), history, f"SO-{day:%y%m%d}", dates, day.isoformat())


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
    layout = _choose_layout(rng, mess)
    path = Path(out_dir) / "so" / so_file_name(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
            _write_csv(f, layout, _day_rows(ctx, rows), ctx)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
    return [write_so_day(start + datetime.timedelta(days=k), rows, out, rng, history=history,
                         mess=mess)
            for k in range(days)]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m etl_targets.datasets.samples.so",
        description="Write deterministic, messy SO landing files per the data contract.")
    parser.add_argument("--start", required=True, type=datetime.date.fromisoformat,
                        help="first business date, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=1, help="number of dates (default 1)")
    parser.add_argument("--rows", type=int, default=300, help="data rows per day (default 300)")
    parser.add_argument("--out", required=True, help="landing root; files go to OUT/so/")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.days < 1 or args.rows < 0:
        parser.error("--days must be >= 1 and --rows >= 0")
    try:
        paths = generate(args.start, args.days, args.rows, args.out, args.seed)
    except OSError as exc:
        print(f"etl_targets.datasets.samples.so: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(paths)} file(s) under {Path(args.out) / 'so'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
