r"""Deterministic generator of messy, contract-conforming INV landing files.

Why: days of cover (INV on hand against SO's last seven days of sales) only
means something when the stock was shaped by those sales. So this module
reads the SO landing files of the same dates (``--sales``), stocks the SKUs
that sell most plus a few that never sell at all (dead stock), and
simulates each (SKU, warehouse): sales draw it down, replenishment arrives
a few days after it runs low, so on hand stays between a few days and a few
weeks of its sales. Without SO files it draws SO-like demand itself.

Each day's end-of-day snapshot is written with the noise of a real export:
the file-level irregularities of :mod:`.landing`, warehouse and currency
codes in any case, thousands separators, costs with trailing zeros,
re-counts (the same SKU and warehouse twice, the later Snapshot Time
winning), allocations above on hand, and about 1% invalid rows (five-decimal
costs, negative counts, ...). Standard library only; the same seed and the
same SO files write the same bytes.

Example:
    python -m etl_targets.datasets.samples.inv --start 2026-01-01 --days 31 \
        --out sample_data/landing --sales sample_data/landing --seed 20260101
"""

from __future__ import annotations

import collections
import csv
import datetime
import functools
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from etl_targets.datasets.samples import catalog, landing, so, spelling
from etl_targets.datasets.samples.landing import DEFAULT_MESSINESS, Messiness

HEADERS = ("SKU", "Warehouse", "On Hand", "Allocated", "Unit Cost", "Currency", "Snapshot Time")
EXTRA_HEADER = "Bin"
WAREHOUSES = (("WH-01", "USD"), ("WH-02", "USD"), ("DC-EAST", "USD"), ("WH-EU1", "EUR"))
_SKU, _WH, _ON_HAND, _ALLOC, _COST, _CUR, _TIME = range(7)
_BINS = ("A-01-3", "B-12-1", "Aisle 4, Rack 2", "", 'Cage "Q"', "RCV-DOCK")
EXPORT = landing.Export("inv", "zheINV", HEADERS, EXTRA_HEADER, _BINS)
_FX = {"USD": 100, "EUR": 92}
STOCKED, DEAD = 90, 6
_QTY = re.compile(r"[0-9]{1,3}(,[0-9]{3})*|[0-9]+")


@dataclass
class Item:
    """One SKU in one warehouse: its stock and pending replenishment."""

    sku: str
    warehouse: int
    cost: int  # 1/10,000 of the warehouse's currency
    daily: int  # average units sold per day, 0 for dead stock
    on_hand: int
    arrivals: list = field(default_factory=list)  # (date, qty)


def inv_file_name(day: datetime.date) -> str:
    """``zheINV-2026-1-7.csv``: month and day not zero-padded."""
    return landing.file_name(EXPORT.prefix, day)


def so_demand(root, day: datetime.date) -> collections.Counter:
    """Units sold per SKU in the SO landing file of ``day`` (CANCELLED left out).

    A rough reading (no dedup, unparseable quantities skipped) is enough to
    size stock; the lake's own SO silver is the exact one.

    Raises:
        FileNotFoundError: The SO file of ``day`` is missing under ``root``.
    """
    with open(Path(root) / "so" / so.so_file_name(day), encoding="utf-8-sig", newline="") as f:
        records = [r for r in csv.reader(f) if r and any(v.strip() for v in r)]
    header = [name.strip().casefold() for name in records[0]]
    sku, qty, status = (header.index(n) for n in ("sku", "qty", "status"))
    sold = collections.Counter()
    for rec in records[1:]:
        if _QTY.fullmatch(rec[qty]) and rec[status].strip().casefold() != "cancelled":
            sold[rec[sku].strip()] += int(rec[qty].replace(",", ""))
    return sold


def _drawn_demand(rng: random.Random, skus: list, days: list) -> dict:
    """SO-like demand when no SO files are given: a line now and then, mostly small."""
    demand = {}
    for day in days:
        demand[day] = collections.Counter()
        for sku in skus:
            if rng.random() < 0.3:
                r = rng.random()
                demand[day][sku] += 1 + int(r * r * r * 99)
    return demand


def _stock_plan(rng: random.Random, days: list, sales) -> tuple:
    """The stocked SKUs (best sellers first, then dead stock) and demand per day."""
    skus = [sku for sku, _ in catalog.list_prices()]
    if sales is None:
        picked = rng.sample(skus, STOCKED + DEAD)
        return picked[:STOCKED], picked[STOCKED:], _drawn_demand(rng, picked[:STOCKED], days)
    demand = {day: so_demand(sales, day) for day in days}
    total = collections.Counter()
    for sold in demand.values():
        total.update(sold)
    known = set(skus)
    best = sorted((sku for sku in total if sku in known), key=lambda s: (-total[s], s))
    never = [sku for sku in skus if sku not in total]
    return best[:STOCKED], rng.sample(never, min(DEAD, len(never))), demand


def _items(rng: random.Random, stocked: list, dead: list, demand: dict) -> list:
    """Every (SKU, warehouse), starting with 4-25 days of its own sales on hand."""
    prices, items = dict(catalog.list_prices()), []
    for sku in sorted(stocked + dead):
        sold = sum(d[sku] for d in demand.values()) if sku in stocked else 0
        r = rng.random()
        homes = sorted(rng.sample(range(len(WAREHOUSES)), 1 + int(r * r * 3)))
        base = prices[sku] * rng.randint(450, 750) // 10
        for wh in homes:
            daily = -(-sold // (len(demand) * len(homes)))  # ceiling: sold at all, >= 1
            cost = base * _FX[WAREHOUSES[wh][1]] // 100
            on_hand = daily * rng.randint(4, 25) if daily else rng.randint(5, 300)
            items.append(Item(sku, wh, cost, daily, on_hand))
    return items


def _advance(item: Item, day: datetime.date, sold: int, rng: random.Random) -> None:
    """Sells ``sold`` units, receives what arrives, reorders when low."""
    item.on_hand += sum(q for d, q in item.arrivals if d == day)
    item.arrivals = [(d, q) for d, q in item.arrivals if d > day]
    item.on_hand = max(item.on_hand - sold, 0)
    if rng.random() < 0.02:  # a cycle count corrects the book
        item.on_hand = max(item.on_hand + rng.randint(-5, 5), 0)
    pending = sum(q for _, q in item.arrivals)
    if item.daily and item.on_hand + pending < item.daily * 7:
        item.arrivals.append((day + datetime.timedelta(days=rng.randint(2, 6)),
                              item.daily * rng.randint(14, 28)))


def _render(item: Item, day: datetime.date, clock: list, rng: random.Random,
            mess: Messiness) -> list:
    """One snapshot row; ``clock`` is each warehouse's snapshot time in seconds."""
    code, currency = WAREHOUSES[item.warehouse]
    allocated = item.on_hand * rng.randint(0, 35) // 100
    if rng.random() < 0.03:
        allocated = item.on_hand + rng.randint(1, 20)  # back-orders: more than on hand
    clock[item.warehouse] = min(clock[item.warehouse] + rng.randint(0, 3), 86399)
    rate, num = mess.value_variation, mess.number_variation
    return [
        item.sku, spelling.spell(code, rng, rate), spelling.integer_text(item.on_hand, rng, num),
        spelling.integer_text(allocated, rng, num), spelling.decimal_text(item.cost, 4, rng, num),
        spelling.spell(currency, rng, rate), spelling.stamp(day, clock[item.warehouse]),
    ]


def _stale(row: list, rng: random.Random) -> tuple:
    """An earlier count of the same SKU and warehouse, and the current one."""
    old = list(row)
    old[_ON_HAND] = str(int(row[_ON_HAND].replace(",", "")) + rng.randint(1, 9))
    return landing.versions(old, row, rng, _TIME)


def _five_decimals(row: list, rng: random.Random) -> str:
    return spelling.five_decimals(row[_COST], rng)


_CORRUPTIONS = (
    (_SKU, ""), (_WH, ""), (_WH, "   "), (_ON_HAND, ""), (_ON_HAND, "-3"), (_ON_HAND, "12.5"),
    (_ON_HAND, "n/a"), (_ALLOC, "-1"), (_COST, _five_decimals), (_COST, _five_decimals),
    (_COST, "-0.5000"), (_COST, ""), (_CUR, "EURO"), (_CUR, "U$D"), (_TIME, ""),
    (_TIME, "2026-01-05 24:10:00"), (_TIME, "01/05/2026 23:10:00"),
)


def _corrupt(row: list, rng: random.Random) -> tuple:
    """A copy broken in one way the contract rejects; half the time the row stays too."""
    return landing.corrupt(row, rng, _CORRUPTIONS, _TIME)


def generate(start: datetime.date, days: int, out, seed: int = 0, *, sales=None,
             mess: Messiness = DEFAULT_MESSINESS) -> list[Path]:
    """Write ``days`` consecutive INV landing files from ``start`` under ``out/inv/``.

    As every generator's ``generate`` (:func:`.landing.entry_point`), with
    the same SO files too: the same seed writes the same bytes; returns the
    paths in date order.

    Args:
        sales: Landing root whose ``so/`` files of the same dates shape the
            stock; None draws SO-like demand instead.

    Raises:
        FileNotFoundError: ``sales`` lacks the SO file of one of the dates.
    """
    rng, dates = random.Random(seed), landing.days_of(start, days)
    stocked, dead, demand = _stock_plan(rng, dates, sales)
    items = _items(rng, stocked, dead, demand)
    homes = collections.Counter(item.sku for item in items)
    paths = []
    for day in dates:
        for item in items:
            _advance(item, day, -(-demand[day][item.sku] // homes[item.sku]), rng)
        rows = functools.partial(_snapshot, items, day, rng, mess)
        paths.append(landing.write_snapshot(EXPORT, day, out, rows, rng, mess, _stale, _corrupt))
    return paths


def _snapshot(items: list, day: datetime.date, rng: random.Random, mess: Messiness) -> list:
    """The day's rows, warehouse by warehouse, each counted at its own snapshot time."""
    clock = [23 * 3600 + rng.randint(0, 1800) for _ in WAREHOUSES]
    ordered = sorted(items, key=lambda it: (it.warehouse, it.sku))
    return [_render(it, day, clock, rng, mess) for it in ordered]


main = landing.entry_point("inv", "INV", generate, options=(
    ("--sales", "landing root whose so/ files of the same dates shape the stock "
                "(default: draw SO-like demand)"),))

if __name__ == "__main__":
    sys.exit(main())
