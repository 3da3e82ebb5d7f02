"""A foreign writer of PO, INV and GL landing files, independent of the samples.

Like ``foreign_so``, it exists because fixtures written by the people who
wrote the parser share its blind spots, and the sample generators
(``etl_targets.datasets.samples``) were written next to the pipeline. This
writer has its own habits -- every field quoted in most files, CRLF, headers
lower-cased and padded, a ``Notes`` column, blank lines anywhere, signs and
leading zeros on integers -- and plants the contract's edge cases on every
day instead of leaving them to chance:

* PO: an over-received line, a five-decimal cost (rejected) next to
  ``12.50000`` and ``"1,234.5"`` (accepted), empty and past Expected Dates,
  lines that stay in the snapshot from day to day while they are received,
  a duplicate whose winner comes first, a timestamp tie, an invalid copy
  with a later Last Modified (it must not win);
* INV: SKUs ``SKU-10000``..``SKU-10039`` (the ones ``foreign_so`` sells) and
  ``SKU-10090``..``SKU-10094`` (never sold), allocations above on hand,
  warehouses in lower case, re-counts, a five-decimal cost;
* GL: balanced journals with the zero side empty, ``0`` or ``0.00``, an
  amount written ``1,234.5000``; a journal unbalanced in one of its two
  currencies; one that loses a line to a value rule (so it no longer
  balances); lines with both or neither of Debit and Credit; a stale
  duplicate that would unbalance its journal if it won; journals re-sent
  on the next day with corrections -- one with the very same Last Modified
  (the later date must win) and one that no longer balances (the earlier
  version must stay in the month to date).

Standard library only, deterministic for a seed. What the files mean is
left to ``reference_datasets``.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

PO_HEADERS = ("PO Number", "Line", "Order Date", "Vendor ID", "Vendor Name", "SKU",
              "Qty Ordered", "Qty Received", "Unit Cost", "Currency", "Status",
              "Expected Date", "Last Modified")
INV_HEADERS = ("SKU", "Warehouse", "On Hand", "Allocated", "Unit Cost", "Currency",
               "Snapshot Time")
GL_HEADERS = ("Journal ID", "Line", "Posting Date", "Account", "Account Name", "Debit",
              "Credit", "Currency", "Description", "Last Modified")
SOLD_SKUS = tuple(f"SKU-{n}" for n in range(10000, 10040))
UNSOLD_SKUS = tuple(f"SKU-{n}" for n in range(10090, 10095))
_VENDORS = (("V-01", "Acme, Inc.", "USD"), ("V-02", 'The "Bolt" Shop', "USD"),
            ("V-03", "", "EUR"), ("V-04", "Øresund Handel AB", "EUR"), ("V-05", "Smith & Co", "GBP"))
_WAREHOUSES = (("wh-a", "USD"), ("WH-B", "USD"), (" eu-1 ", "EUR"))
_ACCOUNTS = (("1010", "Cash at bank"), ("1200", "Receivables, trade"), ("2000", "Payables"),
             ("4000", "Revenue"), ("5000", "COGS"), ("6100", ""), ("7900", 'FX "gains"'))
_STAMP = "%Y-%m-%d %H:%M:%S"


def file_name(folder: str, day: date) -> str:
    """``zhePO-2026-3-7.csv``: written out from the contract, month and day not padded."""
    return f"zhe{folder.upper()}-{day.year}-{day.month}-{day.day}.csv"


def write_foreign_days(out_dir, days: list[date], seed: int) -> dict[str, list[Path]]:
    """Writes PO, INV and GL landing files for ``days`` (consecutive, in order).

    Args:
        out_dir: Landing root; files go to ``po/``, ``inv/`` and ``gl/``.
        days: The business dates, ascending.
        seed: Makes the output reproducible.

    Returns:
        The written paths per folder, in date order.
    """
    rng = random.Random(seed)
    po_state, journals = _PurchaseOrders(rng), {}
    written = {"po": [], "inv": [], "gl": []}
    for index, day in enumerate(days):
        po_state.next_day(day)
        tables = {"po": (PO_HEADERS, po_state.rows(day)),
                  "inv": (INV_HEADERS, _inventory(rng, day, index)),
                  "gl": (GL_HEADERS, _ledger(rng, day, journals))}
        for folder, (headers, rows) in tables.items():
            path = Path(out_dir) / folder / file_name(folder, day)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_render(rng, headers, rows))
            written[folder].append(path)
    return written


def _at(day: date, rng: random.Random, start: int = 7, end: int = 19) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(
        seconds=rng.randrange(start * 3600, end * 3600))


def _spell(rng: random.Random, code: str) -> str:
    return rng.choice((code, code.lower(), f"  {code} ", code.title(), code.upper()))


def _count(rng: random.Random, value: int) -> str:
    if value >= 1000 and rng.random() < 0.5:
        return f"{value:,}"
    return rng.choice((str(value),) * 5 + (f"+{value}", f"0{value}"))


def _mdy(rng: random.Random, day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}" if rng.random() < 0.5 else f"{day:%m/%d/%Y}"


# --- PO -------------------------------------------------------------------------------


class _PurchaseOrders:
    """Open order lines; each day some are received, a few orders are added."""

    def __init__(self, rng: random.Random):
        self.rng, self.lines, self.serial = rng, {}, 0

    def next_day(self, day: date) -> None:
        for line in self.lines.values():
            left = line["ordered"] - line["received"]
            if line["status"] in ("OPEN", "PARTIAL") and self.rng.random() < 0.3:
                line["received"] += self.rng.randint(1, left)
                line["status"] = "RECEIVED" if line["received"] == line["ordered"] else "PARTIAL"
                line["modified"] = _at(day, self.rng)
        for _ in range(6 if self.lines else 40):  # the first day starts with a backlog
            self._order(day)

    def _order(self, day: date) -> None:
        rng = self.rng
        self.serial += 1
        vendor = rng.choice(_VENDORS)
        modified = _at(day, rng)
        for number in range(1, rng.randint(2, 5)):
            self.lines[(f"P{self.serial:05d}", number)] = {
                "vendor": vendor, "ordered": rng.choice((5, 12, 40, 144, 1200, 2500)),
                "received": 0, "status": rng.choice(("OPEN",) * 8 + ("CANCELLED", "CLOSED")),
                "sku": rng.choice(SOLD_SKUS + UNSOLD_SKUS), "ordered_on": day,
                "cost": f"{rng.randrange(10, 900_000) / 10_000:.4f}", "modified": modified,
                "expected": None if rng.random() < 0.15 else day + timedelta(rng.randint(-3, 9)),
            }

    def rows(self, day: date) -> list[dict]:
        rows = [self._row(key, line) for key, line in sorted(self.lines.items())]
        return _po_edge_cases(self.rng, rows)

    def _row(self, key: tuple, line: dict) -> dict:
        rng = self.rng
        return {
            "PO Number": key[0], "Line": _count(rng, key[1]),
            "Order Date": _mdy(rng, line["ordered_on"]), "Vendor ID": line["vendor"][0],
            "Vendor Name": line["vendor"][1], "SKU": line["sku"],
            "Qty Ordered": _count(rng, line["ordered"]),
            "Qty Received": _count(rng, line["received"]), "Unit Cost": line["cost"],
            "Currency": _spell(rng, line["vendor"][2]), "Status": _spell(rng, line["status"]),
            "Expected Date": "" if line["expected"] is None else _mdy(rng, line["expected"]),
            "Last Modified": f"{line['modified']:{_STAMP}}",
        }


def _po_edge_cases(rng: random.Random, rows: list[dict]) -> list[dict]:
    """Plants one of each PO edge case among the day's rows."""
    victims = rng.sample(range(len(rows)), 6)
    over, five, zeros, grouped, dup, tie = (rows[i] for i in victims)
    over["Qty Received"] = str(int(over["Qty Ordered"].replace(",", "")) + 1)
    five["Unit Cost"] = "3.14159"
    zeros["Unit Cost"] = "12.50000"
    grouped["Unit Cost"] = "1,234.5"
    winner, loser = dict(dup), dict(dup, **{"Qty Received": "0"})
    loser["Last Modified"] = f"{datetime.strptime(dup['Last Modified'], _STAMP) - timedelta(minutes=9):{_STAMP}}"
    rows[victims[4]] = winner
    rows.append(loser)  # the winner comes first in the file
    rows.append(dict(tie, **{"Qty Received": "0"}))  # same Last Modified, later in the file
    copy = dict(rng.choice(rows), **{"Qty Ordered": "-5"})
    copy["Last Modified"] = f"{datetime.strptime(copy['Last Modified'], _STAMP) + timedelta(hours=1):{_STAMP}}"
    rows.append(copy)  # invalid, newer: must not replace the valid line
    return rows


# --- INV ------------------------------------------------------------------------------


def _inventory(rng: random.Random, day: date, index: int) -> list[dict]:
    """A stock snapshot of every SKU in two or three warehouses, with edge cases."""
    rows = []
    for number, sku in enumerate(SOLD_SKUS + UNSOLD_SKUS):
        for code, cur in _WAREHOUSES[: 2 + (number % 2)]:
            on_hand = rng.choice((0, 3, 17, 60, 250, 1800)) + index
            rows.append({
                "SKU": sku, "Warehouse": code, "On Hand": _count(rng, on_hand),
                "Allocated": str(rng.choice((0, on_hand // 3, on_hand + 4))),
                "Unit Cost": f"{rng.randrange(5, 2_000_000) / 10_000:.4f}",
                "Currency": _spell(rng, cur),
                "Snapshot Time": f"{_at(day, rng, 21, 23):{_STAMP}}",
            })
    recount = rng.choice(rows)
    earlier = dict(recount, **{"On Hand": "999"})
    earlier["Snapshot Time"] = f"{datetime.strptime(recount['Snapshot Time'], _STAMP) - timedelta(minutes=30):{_STAMP}}"
    rows.append(earlier)  # the later count came first
    rows.append(dict(rng.choice(rows), **{"Unit Cost": "0.12345"}))
    rows.append(dict(rng.choice(rows), **{"Warehouse": "  "}))
    return rows


# --- GL -------------------------------------------------------------------------------


def _journal(rng: random.Random, day: date, journal_id: str, currencies=("USD",),
             splits: int = 0) -> list[dict]:
    """A balanced journal: per currency one debit against ``splits`` (0: 1-3) credit lines."""
    lines, modified = [], f"{_at(day, rng):{_STAMP}}"
    for cur in currencies:
        total = rng.randrange(100, 5_000_000)
        parts = sorted(rng.sample(range(1, total), (splits or rng.randint(1, 3)) - 1))
        credits = [b - a for a, b in zip([0] + parts, parts + [total])]
        lines.append((rng.choice(_ACCOUNTS), total, 0, cur))
        lines += [(rng.choice(_ACCOUNTS), 0, c, cur) for c in credits]
    return [{
        "Journal ID": journal_id, "Line": str(n), "Posting Date": _mdy(rng, day),
        "Account": account[0], "Account Name": account[1],
        "Debit": _amount(rng, debit), "Credit": _amount(rng, credit), "Currency": _spell(rng, cur),
        "Description": rng.choice(("", "Month-end accrual", 'Batch "A", east')),
        "Last Modified": modified,
    } for n, (account, debit, credit, cur) in enumerate(lines, start=1)]


def _amount(rng: random.Random, cents: int) -> str:
    if not cents:
        return rng.choice(("", "0", "0.00", " "))
    whole, frac = divmod(cents, 100)
    return rng.choice((f"{whole}.{frac:02d}", f"{whole:,}.{frac:02d}0", f"{whole}.{frac:02d}00"))


def _ledger(rng: random.Random, day: date, earlier: dict) -> list[dict]:
    """The day's journal lines; ``earlier`` maps journal id -> its lines, for re-sends."""
    tag = f"{day:%m%d}"
    journals = {}
    for n in range(1, 101):
        planted = n in (5, 7)  # small, so their rejected lines stay a small share of the day
        journals[f"J{tag}-{n:03d}"] = _journal(
            rng, day, f"J{tag}-{n:03d}", ("USD", "EUR") if n % 10 == 0 or n == 5 else ("USD",),
            splits=1 if planted else 0)
    two = journals[f"J{tag}-005"]
    two[-1]["Credit"] = f"{_cents(two[-1]['Credit']) + Decimal('0.01')}"  # EUR only: unbalanced
    journals[f"J{tag}-007"][0]["Debit"] = "-1.00"  # rejected; its journal no longer balances
    stale = dict(journals[f"J{tag}-009"][0], Debit="1.00")
    stale["Last Modified"] = f"{datetime.strptime(stale['Last Modified'], _STAMP) - timedelta(seconds=5):{_STAMP}}"
    rows = [line for lines in journals.values() for line in lines]
    rows.append(stale)  # older and unbalancing: dedup must drop it before the balance check
    rows.append(dict(rows[0], Line="99", Debit="0.00", Credit=""))  # both zero
    rows.append(dict(rows[1], Line="98", Debit="10.00", Credit="10.00"))  # both set
    rows += _resends(rng, day, earlier)
    earlier.clear()
    earlier.update(journals)
    rng.shuffle(rows)
    return rows


def _resends(rng: random.Random, day: date, earlier: dict) -> list[dict]:
    """Yesterday's journals again: corrected, tied on Last Modified, or now unbalanced."""
    ids = sorted(earlier)
    if not ids:
        return []
    rows = []
    for number, journal_id in enumerate(ids[10:13]):
        lines = [dict(line) for line in earlier[journal_id]]
        debit = next(line for line in lines if line["Debit"].strip() not in ("", "0", "0.00"))
        credit = next(line for line in lines if line["Credit"].strip() not in ("", "0", "0.00"))
        for line, column in ((debit, "Debit"), (credit, "Credit")):
            line[column] = f"{_cents(line[column]) + 7}"
        if number == 2:
            credit["Credit"] = f"{_cents(credit['Credit']) + Decimal('0.01')}"  # corrected wrongly
        for line in lines:
            if number != 1:  # number 1 keeps the earlier Last Modified: a tie
                line["Last Modified"] = f"{_at(day, rng):{_STAMP}}" if line is lines[0] else \
                    lines[0]["Last Modified"]
        rows += lines
    return rows


def _cents(written: str) -> Decimal:
    """The amount a field spells, at two places (every amount here has at most two)."""
    return Decimal(written.replace(",", "")).quantize(Decimal("0.01"))


# --- files ----------------------------------------------------------------------------


def _render(rng: random.Random, headers: tuple, rows: list[dict]) -> bytes:
    """Serialises rows in this writer's own dialect of the contract."""
    columns = list(headers) + ["Notes"]
    rng.shuffle(columns)
    quoting = csv.QUOTE_ALL if rng.random() < 0.7 else csv.QUOTE_MINIMAL
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=quoting)
    writer.writerow([rng.choice((f"  {c.lower()} ", c.upper(), c)) for c in columns])
    for row in rows:
        writer.writerow([row.get(c, rng.choice(("", "see ticket 12, urgent", "n/a"))) for c in columns])
        if rng.random() < 0.03:
            out.write("\r\n")
    bom = "\ufeff" if rng.random() < 0.4 else ""
    return (bom + out.getvalue()).encode("utf-8")
