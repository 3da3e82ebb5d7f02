"""What every sample generator shares: the file, not the rows.

Why: every ERP export arrives with the same kinds of file-level noise -- a
byte-order mark, padded or re-cased headers, shuffled columns, an unknown
extra column, LF or CRLF, blank lines -- and the same ways of spelling a
value (:mod:`.spelling`), and a snapshot export repeats stale versions of
a line and breaks the odd one. Writing that once keeps the generators about
their data. The SKU catalog is :mod:`.catalog`'s, so stock, purchases and
sales talk about the same products.

Standard library only, and nothing from the pipeline: the generators must
never depend on the code they exercise.
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
from typing import Callable, Iterable, Optional

from etl_targets.datasets.samples.spelling import earlier, later

@dataclass(frozen=True)
class Messiness:
    """How often each contract-allowed irregularity appears.

    File-level rates are per day, value-level rates per row; the dataset
    rates apply to the generator that has such rows (``short_price``,
    ``reappear`` and ``remember`` to SO, ``unbalanced_journal`` and
    ``resend_journal`` to GL). Tests pass ``Messiness(invalid=0.0)`` and the
    like to isolate one behaviour. ``invalid`` stays near 1% so a day's
    reject share stays far below a 5% gate, even counting the lines of GL's
    unbalanced journals.
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
    short_price: float = 0.4
    reappear: float = 0.03
    remember: float = 0.1
    unbalanced_journal: float = 0.35
    resend_journal: float = 0.04


DEFAULT_MESSINESS = Messiness()

# File-level choices for one day; ``order`` is a column permutation or None.
Layout = collections.namedtuple("Layout", "bom header order extra newline trailing_blank")


@dataclass(frozen=True)
class Export:
    """One ERP export apart from its rows: its landing folder and file name, headers, extra column.

    Attributes:
        folder: the landing folder (``po``).
        prefix: the file name prefix (``zhePO``).
        headers: the contract's headers, in contract order.
        extra_header: the unknown column some days carry.
        extras: the values that column draws from.
    """

    folder: str
    prefix: str
    headers: tuple
    extra_header: str
    extras: tuple

    def path(self, out, day: datetime.date) -> Path:
        """Where the file of ``day`` lands under the landing root ``out``."""
        return Path(out) / self.folder / file_name(self.prefix, day)


def file_name(prefix: str, day: datetime.date) -> str:
    """Landing file name, month and day not zero-padded.

    >>> file_name("zhePO", datetime.date(2026, 1, 7))
    'zhePO-2026-1-7.csv'
    """
    return f"{prefix}-{day.year}-{day.month}-{day.day}.csv"


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


def write_landing(path: Path, layout: Layout, rows: Iterable, extra: Callable[[], str],
                  rng: random.Random, mess: Messiness) -> Path:
    """Writes one landing file atomically: a ``.``-prefixed temp, then a rename.

    Args:
        path: The landing file to write.
        layout: The day's file-level choices.
        rows: Data rows, each a sequence of texts in contract column order;
            an iterator may draw from ``rng`` as it goes (SO's rows do).
        extra: Draws the unknown extra column's value of the next row
            (called only on a day that has the column).
        rng: Draws the blank lines.
        mess: Rate of blank lines.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
            _write_csv(f, layout, rows, extra, rng, mess)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_csv(f, layout: Layout, rows: Iterable, extra: Callable[[], str],
               rng: random.Random, mess: Messiness) -> None:
    if layout.bom:
        f.write("\ufeff")
    writer = csv.writer(f, lineterminator=layout.newline)
    writer.writerow(layout.header)
    pick = operator.itemgetter(*layout.order) if layout.order else None
    rand, blank = rng.random, mess.blank_line
    for row in rows:
        if layout.extra:
            row = (*row, extra())
        writer.writerow(pick(row) if pick else row)
        if rand() < blank:
            f.write(layout.newline)
    if layout.trailing_blank:
        f.write(layout.newline)


def write_snapshot(export: Export, day: datetime.date, out, rows: Callable[[], list],
                   rng: random.Random, mess: Messiness, stale, corrupt) -> Path:
    """Writes one day of ``export``: its layout, then ``rows()`` with duplicates and broken rows.

    Args:
        export: The file apart from its rows.
        day: The business date; names the file.
        out: Landing root.
        rows: Draws the day's valid rows (after the layout, so the random
            stream, and with it the bytes, stay those of a given seed).
        rng: Source of all randomness.
        mess: Rates of each irregularity.
        stale, corrupt: ``stale(row, rng)`` and ``corrupt(row, rng)``, as
            :func:`sprinkle` calls them.
    """
    layout = choose_layout(rng, mess, export.headers, export.extra_header)
    rows = sprinkle(rows(), rng, mess, lambda row: stale(row, rng), lambda row: corrupt(row, rng))
    return write_landing(export.path(out, day), layout, rows, lambda: rng.choice(export.extras),
                         rng, mess)


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


def versions(old: list, row: list, rng: random.Random, stamp_index: int) -> tuple:
    """An older version ``old`` of ``row`` and ``row``, in the order they are written.

    A third are exact ties of the timestamp at ``stamp_index`` (``row``
    written second: the later row in the file wins); otherwise ``old`` gets
    an earlier timestamp and is written first or, to catch readers that keep
    the last row, second.
    """
    r = rng.random()
    if r < 1 / 3:
        return old, row
    old[stamp_index] = earlier(row[stamp_index], rng)
    return (old, row) if r < 2 / 3 else (row, old)


def corrupt(row: list, rng: random.Random, corruptions: tuple, stamp_index: int,
            required: tuple = (), keep: Optional[float] = 0.5) -> tuple:
    """A copy of ``row`` broken in one way the contract rejects, and whether ``row`` stays too.

    A copy that stays beside the valid row gets a later timestamp, so a
    reader that deduplicates before validating would keep the wrong row.

    Args:
        corruptions: ``(index, value)`` or ``((index, ...), (value, ...))``
            cases, drawn evenly; a value may be ``value(row, rng)``; the case
            ``("empty", None)`` empties one of ``required``.
        stamp_index: The timestamp column.
        keep: The rate at which ``row`` stays beside the copy; None: always.
    """
    bad = list(row)
    indexes, values = rng.choice(corruptions)
    if indexes == "empty":
        indexes, values = rng.choice(required), ""
    if not isinstance(indexes, tuple):
        indexes, values = (indexes,), (values,)
    stays = keep is None or rng.random() < keep
    if stays and stamp_index not in indexes:
        bad[stamp_index] = later(row[stamp_index], rng)
    for index, value in zip(indexes, values):
        bad[index] = value(row, rng) if callable(value) else value
    return bad, stays


def days_of(start: datetime.date, days: int) -> list:
    """The ``days`` consecutive business dates from ``start``."""
    return [start + datetime.timedelta(days=k) for k in range(days)]


def argument_parser(module: str, what: str, *, rows: Optional[int] = None,
                    options: tuple = ()) -> argparse.ArgumentParser:
    """The options every generator takes: ``--start``, ``--days``, ``--out``, ``--seed``.

    Args:
        rows: The default of ``--rows``, for a generator whose days have a
            chosen number of rows (SO); None: no such option.
        options: ``(flag, help)`` of further optional text options (INV's ``--sales``).
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m etl_targets.datasets.samples.{module}",
        description=f"Write deterministic, messy {what} landing files per the data contract.")
    parser.add_argument("--start", required=True, type=datetime.date.fromisoformat,
                        help="first business date, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=1, help="number of dates (default 1)")
    if rows is not None:
        parser.add_argument("--rows", type=int, default=rows,
                            help=f"data rows per day (default {rows})")
    parser.add_argument("--out", required=True, help=f"landing root; files go to OUT/{module}/")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    for flag, text in options:
        parser.add_argument(flag, help=text)
    return parser


def entry_point(module: str, what: str, generate: Callable[..., list], *,
                rows: Optional[int] = None, options: tuple = (),
                failure: str = "{exc}") -> Callable[..., int]:
    """A generator's ``main(argv=None) -> int``: each option is a keyword of ``generate``.

    Args:
        module, what, rows, options: as for :func:`argument_parser`.
        generate: ``generate(start, days, out, seed=0, *, mess, ...)`` writes
            the landing files of ``days`` consecutive dates from ``start``
            under ``out/<module>/`` and returns their paths in date order;
            the same seed (``mess`` and inputs) writes the same bytes.
        failure: The message of an OSError, formatted with ``args`` and ``exc``.
    """
    def main(argv: Optional[list] = None) -> int:
        """Command-line entry point; returns the process exit code."""
        parser = argument_parser(module, what, rows=rows, options=options)
        args = parser.parse_args(argv)
        if rows is not None and (args.days < 1 or args.rows < 0):
            parser.error("--days must be >= 1 and --rows >= 0")
        if args.days < 1:
            parser.error("--days must be >= 1")
        try:
            paths = generate(**vars(args))
        except OSError as exc:
            print(f"etl_targets.datasets.samples.{module}: " + failure.format(args=args, exc=exc),
                  file=sys.stderr)
            return 1
        print(f"wrote {len(paths)} file(s) under {Path(args.out) / module}")
        return 0
    return main
