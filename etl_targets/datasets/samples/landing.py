"""What the PO, INV and GL sample generators share: the file, not the rows.

Why: every ERP export arrives with the same kinds of file-level noise -- a
byte-order mark, padded or re-cased headers, shuffled columns, an unknown
extra column, LF or CRLF, blank lines -- and the same ways of spelling a
value (a code in any case, a number with thousands separators, a decimal
with trailing zeros). Writing that once keeps the three generators about
their data. The SKU catalog is SO's (``so._catalog``), so stock, purchases
and sales talk about the same products.

Standard library only, and nothing from the pipeline: the generators must
never depend on the code they exercise. ``so.py`` keeps its own copy of the
file-level code, so its shipped files stay byte-identical.
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime
import operator
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from etl_targets.datasets.samples import so

_DAY_START, _DAY_SPAN = 6 * 3600, 16 * 3600  # activity between 06:00 and 22:00


@dataclass(frozen=True)
class Messiness:
    """How often each contract-allowed irregularity appears (PO, INV and GL).

    File-level rates are per day, value-level rates per row; the dataset
    rates apply to the generator that has such rows. Tests pass
    ``Messiness(invalid=0.0)`` and the like to isolate one behaviour.
    ``invalid`` stays near 1% so a day's reject share stays far below a 5%
    gate, even counting the lines of GL's unbalanced journals.
    """

    bom: float = 0.3
    header_variation: float = 0.4
    shuffle_columns: float = 0.25
    extra_column: float = 0.25
    lf_newlines: float = 0.3
    trailing_blank: float = 0.3
    blank_line: float = 0.004
    value_variation: float = 0.2
    number_variation: float = 0.3
    duplicate: float = 0.02
    invalid: float = 0.01
    unbalanced_journal: float = 0.35
    resend_journal: float = 0.04


DEFAULT_MESSINESS = Messiness()

# File-level choices for one day; ``order`` is a column permutation or None.
Layout = collections.namedtuple("Layout", "bom header order extra newline trailing_blank")


def file_name(prefix: str, day: datetime.date) -> str:
    """Landing file name, month and day not zero-padded.

    >>> file_name("zhePO", datetime.date(2026, 1, 7))
    'zhePO-2026-1-7.csv'
    """
    return f"{prefix}-{day.year}-{day.month}-{day.day}.csv"


def catalog() -> tuple:
    """SO's SKUs with their list price in cents: ``(("SKU-10000", 1999), ...)``.

    SO builds its master data from ``so.CATALOG_SEED``; the same SKUs here
    make INV and PO consistent with SO's sales.
    """
    # so.py exposes its catalog only as a private helper; a public accessor
    # there would replace this (so.py's bytes must not change meanwhile).
    return tuple((sku, int(price.replace(".", ""))) for sku, price, _ in so._catalog()[1])


def variants(word: str) -> tuple:
    """Spellings of a code that trim and case-fold back to ``word``."""
    low, up = word.lower(), word.upper()
    return (up, low, word.title(), f" {word}", f"{word} ", f"  {low} ", f" {up}", f"{low} ")


def spell(word: str, rng: random.Random, rate: float) -> str:
    """``word``, or with probability ``rate`` one of its :func:`variants`."""
    return rng.choice(variants(word)) if rng.random() < rate else word


def integer_text(value: int, rng: random.Random, rate: float) -> str:
    """Plain digits, or (at ``rate``, for 1,000 and up) thousands-grouped."""
    return f"{value:,}" if value >= 1000 and rng.random() < rate else str(value)


def decimal_text(units: int, scale: int, rng: random.Random, rate: float) -> str:
    """An exact decimal ``units / 10**scale`` in one of the accepted spellings.

    Canonical ``1234.5600``; at ``rate`` one of: thousands-grouped, trailing
    zeros trimmed (``1234.56``) or padded beyond the scale (``1234.560000``):
    the contract judges decimal places by value, so all mean the same.
    """
    whole, frac = divmod(units, 10**scale)
    digits = f"{frac:0{scale}d}"
    if rng.random() >= rate:
        return f"{whole}.{digits}"
    style = rng.random()
    if style < 0.4 and whole >= 1000:
        return f"{whole:,}.{digits}"
    if style < 0.7:
        trimmed = digits.rstrip("0")
        return f"{whole}.{trimmed}" if trimmed else str(whole)
    return f"{whole}.{digits}00"


def us_date(day: datetime.date, rng: random.Random, rate: float) -> str:
    """MM/DD/YYYY, or at ``rate`` with one-digit month and day (M/D/YYYY)."""
    if rng.random() < rate:
        return f"{day.month}/{day.day}/{day.year}"
    return day.strftime("%m/%d/%Y")


def stamp(day: datetime.date, seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` for ``seconds`` after midnight of ``day``."""
    return f"{day.isoformat()} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def work_time(day: datetime.date, rng: random.Random) -> str:
    """A timestamp during the working day (06:00-22:00) of ``day``."""
    return stamp(day, _DAY_START + int(rng.random() * _DAY_SPAN))


def later(text: str, rng: random.Random, at_most: int = 3600) -> str:
    """A timestamp 1..``at_most`` seconds after ``text``, the same day at the latest."""
    day = datetime.date.fromisoformat(text[:10])
    h, m, s = (int(part) for part in text[11:].split(":"))
    return stamp(day, min(h * 3600 + m * 60 + s + rng.randint(1, at_most), 86399))


def earlier(text: str, rng: random.Random, at_most: int = 3600) -> str:
    """A timestamp 1..``at_most`` seconds before ``text``, the same day at the earliest."""
    day = datetime.date.fromisoformat(text[:10])
    h, m, s = (int(part) for part in text[11:].split(":"))
    return stamp(day, max(h * 3600 + m * 60 + s - rng.randint(1, at_most), 0))


def choose_layout(rng: random.Random, mess: Messiness, headers: tuple, extra: str) -> Layout:
    """File-level choices for one day: BOM, header spelling and order, extras."""
    bom, vary, has_extra = (rng.random() < rate for rate in
                            (mess.bom, mess.header_variation, mess.extra_column))
    names = headers + (extra,) if has_extra else headers
    names = tuple(rng.choice((n, n.upper(), n.lower(), f" {n}", f"{n}  ", f" {n.lower()} ",
                              n.title())) if vary else n for n in names)
    order = None
    if rng.random() < mess.shuffle_columns:
        order = tuple(rng.sample(range(len(names)), len(names)))
    newline = "\n" if rng.random() < mess.lf_newlines else "\r\n"
    trailing = rng.random() < mess.trailing_blank
    header = tuple(names[i] for i in order) if order else names
    return Layout(bom, header, order, has_extra, newline, trailing)


def write_landing(path: Path, layout: Layout, rows, extras: tuple, rng: random.Random,
                  mess: Messiness) -> Path:
    """Writes one landing file atomically: a ``.``-prefixed temp, then a rename.

    Args:
        path: The landing file to write.
        layout: The day's file-level choices.
        rows: Data rows, each a list of texts in contract column order.
        extras: Values the unknown extra column draws from.
        rng: Draws the extra values and the blank lines.
        mess: Rate of blank lines.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pick = operator.itemgetter(*layout.order) if layout.order else None
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if layout.bom:
                f.write("\ufeff")
            writer = csv.writer(f, lineterminator=layout.newline)
            writer.writerow(layout.header)
            for row in rows:
                if layout.extra:
                    row = (*row, rng.choice(extras))
                writer.writerow(pick(row) if pick else row)
                if rng.random() < mess.blank_line:
                    f.write(layout.newline)
            if layout.trailing_blank:
                f.write(layout.newline)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def sprinkle(rows: list, rng: random.Random, mess: Messiness, stale, corrupt) -> list:
    """Mixes duplicates and invalid rows into a day's valid rows.

    Args:
        rows: The day's valid rows, in file order.
        rng: Source of randomness.
        mess: ``duplicate`` and ``invalid`` rates, per row.
        stale: ``stale(row) -> (first, second)``: two versions of one key in
            the order they are written (the second 1-30 rows later); the
            valid row with the greatest timestamp (ties: the second) must
            carry ``row``'s values.
        corrupt: ``corrupt(row) -> (broken, keep)``: a copy broken in one way
            the contract rejects, and whether ``row`` stays in the file too.

    Returns:
        The rows to write.
    """
    out, pending = [], []
    for row in rows:
        r = rng.random()
        if r < mess.duplicate:
            first, second = stale(row)
            out.append(first)
            pending.append([1 + int(rng.random() * 30), second])
        elif r < mess.duplicate + mess.invalid:
            broken, keep = corrupt(row)
            out.extend(((row, broken) if rng.random() < 0.5 else (broken, row)) if keep
                       else (broken,))
        else:
            out.append(row)
        for item in pending:
            item[0] -= 1
        out.extend(item[1] for item in pending if item[0] <= 0)
        pending = [item for item in pending if item[0] > 0]
    out.extend(item[1] for item in pending)
    return out


def days_of(start: datetime.date, days: int) -> list:
    """The ``days`` consecutive business dates from ``start``."""
    return [start + datetime.timedelta(days=k) for k in range(days)]


def argument_parser(module: str, what: str) -> argparse.ArgumentParser:
    """The options every generator takes: ``--start``, ``--days``, ``--out``, ``--seed``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m etl_targets.datasets.samples.{module}",
        description=f"Write deterministic, messy {what} landing files per the data contract.")
    parser.add_argument("--start", required=True, type=datetime.date.fromisoformat,
                        help="first business date, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=1, help="number of dates (default 1)")
    parser.add_argument("--out", required=True, help=f"landing root; files go to OUT/{module}/")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def run(parser: argparse.ArgumentParser, argv, module: str, write) -> int:
    """Parses ``argv``, calls ``write(args) -> paths`` and reports; returns the exit code."""
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be >= 1")
    try:
        paths = write(args)
    except OSError as exc:
        print(f"etl_targets.datasets.samples.{module}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(paths)} file(s) under {Path(args.out) / module}")
    return 0
