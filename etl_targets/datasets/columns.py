"""Column types of landing files: what a field must look like, and its parse.

Each type is a frozen declaration with one vectorised ``parse`` method: it
takes the trimmed, non-empty text of a column (pyarrow strings) and returns
the typed values plus the rows that break a rule, each with the rule's
name. Whole columns are parsed at once with ``pyarrow.compute``, never row by
row, and money never passes through a float. ``parse`` is elementwise (a
value's result never depends on the other values), so a caller may parse
a column's distinct values once and spread the results back to the rows;
a type says with ``per_distinct`` whether that pays.
"""

import dataclasses
import decimal
from typing import List, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc

#: (rows that break the rule, the rule's name)
Problem = Tuple[pa.Array, str]
#: whether parsing a column's distinct values once pays (the default; Text says no)
PER_DISTINCT = True

_INTEGER = r"^[+-]?(\d+|\d{1,3}(,\d{3})+)$"
_DECIMAL = r"^[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?$"


def _matches(text: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(text, pattern), False)


def _where(mask: pa.Array, values: pa.Array, fallback) -> pa.Array:
    """``values`` where mask holds, ``fallback`` elsewhere (keeps casts safe)."""
    return pc.if_else(mask, values, pa.scalar(fallback, values.type))


@dataclasses.dataclass(frozen=True)
class Text:
    """Free text, kept as given after trimming.

    Attributes:
        upper: a code stored upper-case (``Warehouse``: `` wh-east `` is ``WH-EAST``).
    """

    upper: bool = False
    arrow_type = pa.string()
    #: parsed row by row: trimming (and upper-casing) costs less than finding distinct values
    per_distinct = False

    def parse(self, text: pa.Array) -> Tuple[pa.Array, List[Problem]]:
        if not self.upper:
            return text, []
        if pc.all(pc.string_is_ascii(text)).as_py() is not False:
            return pc.utf8_upper(text), []
        # A code is case-folded, then written in capitals: "straße", "STRAẞE"
        # and "STRASSE" are one warehouse, spelled STRASSE (utf8_upper would
        # give "STRAẞE", a spelling none of them need have used).
        encoded = pc.dictionary_encode(text)
        spelled = [value.casefold().upper() for value in encoded.dictionary.to_pylist()]
        return pc.take(pa.array(spelled, pa.string()), encoded.indices), []


@dataclasses.dataclass(frozen=True)
class Integer:
    """A whole number, optionally with thousands separators (``1,200``).

    Attributes:
        bits: 32 or 64, the silver integer width.
        minimum: the smallest allowed value, or None.
    """

    bits: int = 64
    minimum: Optional[int] = None

    @property
    def arrow_type(self) -> pa.DataType:
        return pa.int32() if self.bits == 32 else pa.int64()

    def problems(self) -> List[str]:
        """What the declaration gets wrong, as phrases (silver holds int32 or int64 only)."""
        found = [] if self.bits in (32, 64) else [f"bits must be 32 or 64, not {self.bits!r}"]
        if self.minimum is not None and not isinstance(self.minimum, int):
            found.append(f"minimum must be a whole number, not {self.minimum!r}")
        return found

    def parse(self, text: pa.Array) -> Tuple[pa.Array, List[Problem]]:
        # ASCII digits only: utf8_is_digit would also pass "²" or "١٢", which
        # int64 casts refuse, failing the whole file instead of the row.
        plain = pc.ascii_is_decimal(text)
        if pc.all(plain).as_py():  # the usual block: digits only, no regex needed
            digits, shaped = text, plain
        else:
            digits = pc.utf8_ltrim(pc.replace_substring(text, ",", ""), characters="+")
            shaped = _matches(text, _INTEGER)
        ok = pc.and_(shaped, _fits_int64(digits))
        wide = pc.cast(_where(ok, digits, "0"), pa.int64())
        if self.bits < 64:
            limit = pa.scalar(2 ** (self.bits - 1), pa.int64())
            ok = pc.and_(ok, pc.and_(pc.greater_equal(wide, pc.negate(limit)), pc.less(wide, limit)))
        problems = [(pc.invert(ok), "not a whole number")]
        if self.minimum is not None:
            below = pc.and_(ok, pc.less(wide, self.minimum))
            rule = "must be > 0" if self.minimum == 1 else f"must be >= {self.minimum}"
            problems.append((below, rule))
        values = pc.cast(_where(ok, wide, 0), self.arrow_type)
        return values, problems


def _fits_int64(digits: pa.Array) -> pa.Array:
    """Whole numbers (an optional ``-``, then digits) that int64 holds; leading zeros do not count."""
    negative = pc.fill_null(pc.starts_with(digits, "-"), False)
    magnitude = pc.utf8_ltrim(pc.utf8_ltrim(digits, characters="-"), characters="0")
    length = pc.utf8_length(magnitude)
    largest = pc.if_else(negative, pa.scalar(str(2 ** 63)), pa.scalar(str(2 ** 63 - 1)))
    # nineteen digits: the same length as the limit, so comparing the text compares the values
    at_limit = pc.and_(pc.equal(length, 19), pc.less_equal(magnitude, largest))
    return pc.fill_null(pc.or_(pc.less(length, 19), at_limit), False)


@dataclasses.dataclass(frozen=True)
class Money:
    """An exact decimal amount, e.g. ``19.99`` or ``"1,234.50"``.

    A value with more decimal places than ``scale`` is refused unless the
    extra digits are zeros (``19.990`` is exactly 19.99; ``19.999`` is not
    representable and is rejected rather than rounded).

    Attributes:
        precision: total digits of the silver decimal128.
        scale: digits after the point.
        minimum: the smallest allowed value, or None.
    """

    precision: int = 18
    scale: int = 2
    minimum: Optional[int] = None

    @property
    def arrow_type(self) -> pa.DataType:
        return pa.decimal128(self.precision, self.scale)

    def problems(self) -> List[str]:
        """What the declaration gets wrong: decimal128 holds 1..38 digits, at least one whole."""
        if not (isinstance(self.precision, int) and 1 <= self.precision <= 38):
            return [f"precision must be a whole number from 1 to 38, not {self.precision!r}"]
        found = []
        if not (isinstance(self.scale, int) and 0 <= self.scale < self.precision):
            found.append(f"scale must be a whole number from 0 to precision - 1 "
                         f"({self.precision - 1}), not {self.scale!r}")
        if self.minimum is not None and not isinstance(self.minimum, int):
            found.append(f"minimum must be a whole number, not {self.minimum!r}")
        return found

    def parse(self, text: pa.Array) -> Tuple[pa.Array, List[Problem]]:
        plain = pc.utf8_ltrim(pc.replace_substring(text, ",", ""), characters="+")
        well_formed = _matches(text, _DECIMAL)
        exact = _matches(plain, r"^[^.]*$|\.\d{0,%d}0*$" % self.scale)
        fits = _matches(plain, r"^-?0*\d{1,%d}(\.|$)" % (self.precision - self.scale))
        ok = pc.and_(pc.and_(well_formed, exact), fits)
        problems = [
            (pc.invert(well_formed), "not a decimal number"),
            (pc.and_(well_formed, pc.invert(exact)), f"more than {self.scale} decimal places"),
            (pc.and_(pc.and_(well_formed, exact), pc.invert(fits)), "too large"),
        ]
        held = _where(ok, plain, "0")
        if pc.max(pc.utf8_length(held)).as_py() > _CASTABLE_DIGITS:  # rare: many zeros
            held = _without_idle_zeros(held, self.scale)
        values = pc.cast(held, self.arrow_type)
        if self.minimum is not None:
            below = pc.and_(ok, pc.less(values, pa.scalar(decimal.Decimal(self.minimum), self.arrow_type)))
            problems.append((below, f"must be >= {self.minimum}"))
        return values, problems


#: the longest text pyarrow casts to a decimal (38 digits, a sign and a point)
_CASTABLE_DIGITS = 38


def _without_idle_zeros(text: pa.Array, scale: int) -> pa.Array:
    """Well-formed decimals without leading zeros or zeros past ``scale`` places: the same values.

    ``0001.5000`` is 1.5 judged by value; written with forty zeros it would
    be too long for pyarrow's decimal cast, which would fail the whole file.
    """
    text = pc.replace_substring_regex(text, r"^(-?)0+(\d)", r"\1\2")
    return pc.replace_substring_regex(text, r"(\.\d{0,%d})0*$" % scale, r"\1")


@dataclasses.dataclass(frozen=True)
class Date:
    """A calendar date written ``MM/DD/YYYY`` (one-digit month/day accepted).

    The date must exist: ``02/30/2026`` is rejected, not rolled into March.
    """

    arrow_type = pa.date32()

    def parse(self, text: pa.Array) -> Tuple[pa.Array, List[Problem]]:
        shaped = _matches(text, r"^(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/\d{4}$")
        safe = _where(shaped, text, "01/01/1970")
        stamp = pc.strptime(safe, format="%m/%d/%Y", unit="s", error_is_null=True)
        # A day past the month's end (02/30) rolls into the next month in
        # strptime; the written month then differs from the parsed one.
        written_month = pc.cast(pc.replace_substring(pc.utf8_slice_codeunits(safe, 0, 2), "/", ""),
                                pa.int64())
        ok = pc.fill_null(pc.and_(pc.and_(shaped, pc.equal(pc.month(stamp), written_month)),
                                  pc.greater_equal(pc.year(stamp), 1)), False)  # no year 0
        values = pc.cast(_where(ok, stamp, 0), pa.date32())
        return values, [(pc.invert(ok), "not a real MM/DD/YYYY date")]


@dataclasses.dataclass(frozen=True)
class Timestamp:
    """A timestamp written ``YYYY-MM-DD HH:MM:SS``, kept to the second.

    Stored as ``timestamp[ms]`` because that is what Parquet holds;
    impossible dates and times are rejected, never rolled over.
    """

    arrow_type = pa.timestamp("ms")

    def parse(self, text: pa.Array) -> Tuple[pa.Array, List[Problem]]:
        # strptime bounds each field but rolls a day past the month's end
        # (02-30) or a leap second (:60) over; the parsed day and second must
        # therefore equal the written ones.
        shaped = _matches(text, r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
        safe = _where(shaped, text, "1970-01-01 00:00:00")
        stamp = pc.strptime(safe, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
        same = pc.and_(
            pc.equal(pc.day(stamp), pc.cast(pc.utf8_slice_codeunits(safe, 8, 10), pa.int64())),
            pc.equal(pc.second(stamp), pc.cast(pc.utf8_slice_codeunits(safe, 17, 19), pa.int64())))
        ok = pc.fill_null(pc.and_(pc.and_(shaped, same), pc.greater_equal(pc.year(stamp), 1)),
                          False)  # the calendar has no year 0
        values = pc.cast(_where(ok, stamp, 0), self.arrow_type)
        return values, [(pc.invert(ok), "not a YYYY-MM-DD HH:MM:SS timestamp")]


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of a fixed set of canonical values, matched case-insensitively.

    Attributes:
        values: the canonical spellings, e.g. ``("North", "South")``.
    """

    values: Tuple[str, ...]
    arrow_type = pa.string()

    def problems(self) -> List[str]:
        """What the declaration gets wrong: one or more distinct, non-empty spellings."""
        values = self.values
        if isinstance(values, str) or not isinstance(values, (tuple, list)) or not values or \
                not all(isinstance(v, str) and v.strip() == v and v for v in values):
            return [f"values must be a tuple of one or more non-empty, trimmed strings "
                    f"(Choice(('OPEN', 'CLOSED'))), not {values!r}"]
        folded = [v.casefold() for v in values]
        twice = sorted({v for v, f in zip(values, folded) if folded.count(f) > 1})
        return [f"values {', '.join(twice)} are one value once case-folded"] if twice else []

    def parse(self, text: pa.Array) -> Tuple[pa.Array, List[Problem]]:
        folded = pa.array([value.casefold() for value in self.values])
        index = pc.index_in(pc.utf8_lower(text), value_set=folded)
        unsettled = pc.and_(pc.is_null(index), pc.invert(pc.string_is_ascii(text)))
        if pc.any(unsettled).as_py():
            # Lower-casing is case-folding for ASCII; the rare non-ASCII miss
            # ("ſouth", "STRAßE") gets Python's full Unicode case folding.
            index = pc.index_in(pa.array([v.casefold() for v in text.to_pylist()], pa.string()),
                                value_set=folded)
        values = pc.take(pa.array(self.values), index)
        missing = pc.is_null(index)
        return values, [(missing, "not one of " + "/".join(self.values))]


@dataclasses.dataclass(frozen=True)
class Letters:
    """A code of exactly ``length`` ASCII letters, stored upper-case."""

    length: int = 3
    arrow_type = pa.string()

    def problems(self) -> List[str]:
        if isinstance(self.length, int) and not isinstance(self.length, bool) and self.length >= 1:
            return []
        return [f"length must be a whole number >= 1, not {self.length!r}"]

    def parse(self, text: pa.Array) -> Tuple[pa.Array, List[Problem]]:
        ok = _matches(text, r"^[A-Za-z]{%d}$" % self.length)
        return pc.utf8_upper(text), [(pc.invert(ok), f"not {self.length} letters")]
