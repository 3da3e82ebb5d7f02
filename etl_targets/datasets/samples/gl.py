r"""Deterministic generator of messy, contract-conforming GL landing files.

Why: the ledger's rules are about journals, not rows -- each journal must
balance per currency, a journal may be re-sent on a later day with
corrections, and the trial balance is month to date -- so the files must
hold balanced journals of several shapes (sales with tax, costs of goods,
vendor invoices, payments, payroll, two-currency journals), a few that do
not balance (one of them only in its second currency), journals re-sent
later in the month (some with the very same Last Modified, so the later
date's file must win; some fixing a journal that was unbalanced), and the
odd line with both Debit and Credit set or both zero. On top come the
file-level irregularities of :mod:`.landing`, amounts with thousands
separators and trailing zeros (``1,234.5000`` is 1234.50), the zero side
written empty, ``0`` or ``0.00``, stale duplicate lines and about 1%
invalid rows. Invalid rows are copies of valid lines, so one broken row
does not take its whole journal down with it.

Standard library only; the same seed writes the same bytes.

Example:
    python -m etl_targets.datasets.samples.gl --start 2026-01-01 --days 31 \
        --out sample_data/landing --seed 20260101
"""

from __future__ import annotations

import datetime
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from etl_targets.datasets.samples import landing, spelling
from etl_targets.datasets.samples.landing import DEFAULT_MESSINESS, Messiness

HEADERS = (
    "Journal ID", "Line", "Posting Date", "Account", "Account Name", "Debit", "Credit",
    "Currency", "Description", "Last Modified",
)
EXTRA_HEADER = "Cost Center"
ACCOUNTS = (
    ("1000", "Cash"), ("1100", "Bank - Operating"), ("1200", "Accounts Receivable"),
    ("1300", "Inventory"), ("1400", "Prepaid Expenses"), ("2000", "Accounts Payable"),
    ("2100", "Accrued Liabilities"), ("2200", "Sales Tax Payable"), ("3000", "Retained Earnings"),
    ("4000", "Sales Revenue"), ("4100", "Freight Income"), ("5000", "Cost of Goods Sold"),
    ("6000", "Salaries & Wages"), ("6100", "Rent"), ("6200", "Utilities"),
    ("6300", "Travel, Meals"), ("6400", 'Office "Misc" Supplies'), ("7000", "FX Gain/Loss"),
)
_NAMES = dict(ACCOUNTS)
_JID, _LINE, _PDATE, _ACCOUNT, _NAME, _DEBIT, _CREDIT, _CUR, _DESC, _LM = range(10)
_REQUIRED = (_JID, _LINE, _PDATE, _ACCOUNT, _CUR, _LM)
_COST_CENTERS = ("CC-100", "CC-200", "Sales, West", "", "HQ")
EXPORT = landing.Export("gl", "zheGL", HEADERS, EXTRA_HEADER, _COST_CENTERS)
_EXPENSES = ("1300", "1400", "6100", "6200", "6300", "6400")


@dataclass
class Journal:
    """One journal: ``lines`` are [account, debit cents, credit cents, currency]."""

    journal_id: str
    posting: datetime.date
    description: str
    modified: str
    lines: list


def gl_file_name(day: datetime.date) -> str:
    """``zheGL-2026-1-7.csv``: month and day not zero-padded."""
    return landing.file_name(EXPORT.prefix, day)


def _amount(rng: random.Random) -> int:
    """Cents, from a few dollars to tens of thousands (integers only: same bytes everywhere)."""
    size = rng.choice((100, 1000, 10000, 100000, 100000, 1000000))
    return rng.randint(size, size * 10)


def _split(total: int, parts: int, rng: random.Random) -> list:
    """``parts`` positive amounts adding up to ``total`` exactly."""
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    return [b - a for a, b in zip([0] + cuts, cuts + [total])]


def _lines(kind: str, rng: random.Random, currency: str) -> list:
    """The lines of one balanced journal of ``kind``."""
    total = _amount(rng)
    if kind == "sale":
        tax = total * 8 // 100
        return [["1200", total + tax, 0, currency], ["4000", 0, total, currency],
                ["2200", 0, tax, currency]]
    if kind == "invoice":
        parts = _split(total, rng.randint(1, 3), rng)
        return [[rng.choice(_EXPENSES), p, 0, currency] for p in parts] + \
            [["2000", 0, total, currency]]
    if kind == "payroll":
        parts = _split(total, rng.randint(2, 4), rng)
        return [["6000", p, 0, currency] for p in parts] + [["1100", 0, total, currency]]
    pairs = {"cogs": ("5000", "1300"), "payment": ("2000", "1100"),
             "receipt": ("1100", "1200"), "petty": ("6300", "1000")}[kind]
    return [[pairs[0], total, 0, currency], [pairs[1], 0, total, currency]]


def _new_journal(day: datetime.date, n: int, rng: random.Random) -> Journal:
    r = rng.random()
    kind = ("sale", "sale", "cogs", "invoice", "payment", "receipt", "payroll", "petty",
            "two-currency")[int(r * 9)]
    if kind == "two-currency":  # a EUR receipt and its USD revaluation, each balanced
        lines = _lines("receipt", rng, "EUR") + [["1100", 0, 0, "USD"], ["7000", 0, 0, "USD"]]
        gain = _amount(rng) // 100
        lines[2][1], lines[3][2] = gain, gain
    else:
        lines = _lines(kind, rng, "EUR" if rng.random() < 0.2 else "USD")
    r = rng.random()
    posting = day - datetime.timedelta(days=0 if r < 0.85 else 1 if r < 0.95 else 2)
    description = rng.choice(("", f"{kind} {n}", f"Invoice {4000 + n}, net 30",
                              f'{kind.title()} "batch" {n}', "Accrual, month end"))
    return Journal(f"JE-{day:%y%m%d}-{n:04d}", posting, description,
                   spelling.work_time(day, rng), lines)


def _unbalance(journal: Journal, rng: random.Random) -> None:
    """Breaks the balance: a cent off, or (two-currency) only the EUR side off."""
    line = rng.choice([ln for ln in journal.lines if ln[3] == journal.lines[0][3]])
    side = 1 if line[1] else 2
    line[side] += rng.choice((1, 1, 10, 100, 5000))


def _correct(old: Journal, day: datetime.date, rng: random.Random) -> Journal:
    """The journal re-sent on ``day``: amounts corrected, balanced again.

    One in five keeps the earlier Last Modified exactly (the later date's
    file must win the tie); the others are stamped on ``day``.
    """
    lines = [list(ln) for ln in old.lines]
    for currency in sorted({ln[3] for ln in lines}):
        group = [ln for ln in lines if ln[3] == currency]
        debit = sum(ln[1] for ln in group) - sum(ln[2] for ln in group)
        target = next(ln for ln in group if ln[2]) if debit > 0 else \
            next(ln for ln in group if ln[1])
        target[2 if debit > 0 else 1] += abs(debit)  # balanced again
        up = rng.randint(1, 5000)
        next(ln for ln in group if ln[1])[1] += up
        next(ln for ln in group if ln[2])[2] += up
    modified = old.modified if rng.random() < 0.2 else spelling.work_time(day, rng)
    return Journal(old.journal_id, old.posting, old.description, modified, lines)


def _render(journal: Journal, rng: random.Random, mess: Messiness) -> list:
    """The journal's lines as the export spells them."""
    rows, num, rate = [], mess.number_variation, mess.value_variation
    for number, (account, debit, credit, currency) in enumerate(journal.lines, start=1):
        name = "" if rng.random() < 0.03 else _NAMES[account]
        rows.append([
            journal.journal_id, str(number), spelling.us_date(journal.posting, rng, rate),
            account, f" {name} " if name and rng.random() < 0.05 else name,
            _money(debit, rng, num), _money(credit, rng, num), spelling.spell(currency, rng, rate),
            journal.description, journal.modified,
        ])
    return rows


def _money(cents: int, rng: random.Random, rate: float) -> str:
    """An amount; the zero side is written empty, ``0`` or ``0.00``."""
    if cents:
        return spelling.decimal_text(cents, 2, rng, rate)
    return rng.choice(("", "", "", "0.00", "0"))


def _stale(row: list, rng: random.Random) -> tuple:
    """An earlier version of the line (another amount) and the current one."""
    old = list(row)
    side = _DEBIT if row[_DEBIT] not in ("", "0", "0.00") else _CREDIT
    old[side] = f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"
    return landing.versions(old, row, rng, _LM)


def _both_set(row: list, rng: random.Random) -> str:
    return row[_DEBIT] if row[_DEBIT] not in ("", "0", "0.00") else row[_CREDIT]


_CORRUPTIONS = (
    ("empty", None), ((_DEBIT, _CREDIT), ("0.00", "")), ((_DEBIT, _CREDIT), ("", "")),
    ((_DEBIT, _CREDIT), ("0", "0.00")), ((_DEBIT, _CREDIT), (_both_set, _both_set)),
    ((_DEBIT,), ("12.345",)), ((_CREDIT,), ("-50.00",)), ((_DEBIT,), ("1.234,56",)),
    ((_CUR,), ("US",)), ((_CUR,), ("EURO",)), ((_LINE,), ("0",)), ((_LINE,), ("x",)),
    ((_PDATE,), ("02/30/2026",)), ((_PDATE,), ("2026-01-15",)), ((_LM,), ("2026-01-15T10:00:00",)),
)


def _corrupt(row: list, rng: random.Random) -> tuple:
    """A broken copy of a line, beside it, with a later Last Modified.

    The valid line stays, so its journal still balances: a reader that
    deduplicates before validating would keep the broken copy instead.
    """
    return landing.corrupt(row, rng, _CORRUPTIONS, _LM, _REQUIRED, keep=None)


class MonthJournals:
    """Journals posted earlier in the month (latest version of each), to re-send some."""

    def __init__(self):
        self.month, self.journals, self.broken = None, {}, []

    def begin(self, day: datetime.date) -> None:
        """Start a business day; a new month forgets the previous one."""
        if (day.year, day.month) != self.month:
            self.month, self.journals, self.broken = (day.year, day.month), {}, []

    def resend(self, day: datetime.date, count: int, rng: random.Random) -> list:
        """``count`` distinct earlier journals, corrected; maybe an unbalanced one fixed."""
        chosen = [self.broken.pop(0)] if self.broken and rng.random() < 0.5 else []
        balanced = [j for j in self.journals.values() if j not in chosen]
        chosen += rng.sample(balanced, min(count, len(balanced)))
        return [_correct(j, day, rng) for j in chosen]

    def keep(self, journals: list) -> None:
        """Remember the day's journals; a re-sent one replaces its earlier version."""
        self.journals.update((j.journal_id, j) for j in journals if j not in self.broken)


def _journals(day: datetime.date, history: MonthJournals, rng: random.Random,
              mess: Messiness) -> list:
    """The day's journals: new ones, maybe one unbalanced, and re-sent ones."""
    new = [_new_journal(day, n, rng) for n in range(1, rng.randint(50, 62))]
    resent = history.resend(day, sum(rng.random() < mess.resend_journal for _ in new), rng)
    if rng.random() < mess.unbalanced_journal:
        small = [j for j in new if len(j.lines) <= 4]
        if small:
            broken = rng.choice(small)
            _unbalance(broken, rng)
            history.broken.append(broken)
    history.keep(new + resent)
    journals = new + resent
    rng.shuffle(journals)
    return journals


def write_gl_day(day: datetime.date, history: MonthJournals, out_dir, rng: random.Random, *,
                 mess: Messiness = DEFAULT_MESSINESS) -> Path:
    """Writes the journal lines posted on ``day`` (Last Modified on ``day``); returns the path.

    ``history`` holds the month's earlier journals: share one across days.
    The other arguments are :func:`.landing.write_snapshot`'s (the file goes
    to ``out_dir/gl/``, written atomically).
    """
    history.begin(day)
    return landing.write_snapshot(
        EXPORT, day, out_dir,
        lambda: [row for j in _journals(day, history, rng, mess) for row in _render(j, rng, mess)],
        rng, mess, _stale, _corrupt)


def generate(start: datetime.date, days: int, out, seed: int = 0, *,
             mess: Messiness = DEFAULT_MESSINESS) -> list[Path]:
    """Write ``days`` consecutive GL landing files from ``start`` under ``out/gl/``.

    As every generator's ``generate`` (:func:`.landing.entry_point`): the
    same seed writes the same bytes; returns the paths in date order.
    """
    rng, history = random.Random(seed), MonthJournals()
    return [write_gl_day(day, history, out, rng, mess=mess) for day in landing.days_of(start, days)]


main = landing.entry_point("gl", "GL", generate)

if __name__ == "__main__":
    sys.exit(main())
