"""One block of landing records validated and typed: the contract's column and row rules.

A block is the raw text of each contract column (pyarrow strings, one
record per row). Every column is trimmed, typed and checked by its type's
``parse``; the rules across columns and the derived columns follow; the
rows that broke any rule become rejects, with every rule they broke.

Most landing columns hold few distinct values (regions, statuses, dates,
quantities, prices, timestamps of one day), so a column is parsed once per
*distinct* value of the block (``dictionary_encode``) and the results are
spread back to the rows by index (``take``). A column type's ``parse`` is
elementwise, so this is the same as parsing every row; it is only cheaper.
A rule no row of the block breaks is dropped before it reaches a row.
"""

import decimal
import functools
from typing import Dict, List, Sequence, Tuple

import numpy
import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.base import Column, Dataset, derived_type
from etl_targets.datasets.columns import PER_DISTINCT
from etl_targets.datasets.expressions import columns as read_columns, evaluate

#: the helper column holding each valid row's 1-based data row number
ROW = "__row__"
#: prefix of the raw-text columns kept for group rules
RAW = "__raw__"
#: a column is parsed per distinct value when it has at most this share of distinct values
DISTINCT_SHARE = 0.5

#: (rows that break a rule, the rule's name)
Broken = List[Tuple[pa.Array, str]]


def clean_batch(dataset: Dataset, raw: Sequence[pa.Array], first_row: int,
                source: str) -> Tuple[pa.Table, pa.Table]:
    """Validates and types one block of records.

    Args:
        dataset: the declaration.
        raw: text of each contract column, in ``dataset.columns`` order.
        first_row: 1-based data row number of the block's first record.
        source: file name for the rejects table.

    Returns:
        (valid rows typed, with their row number in ``__row__``; rejects).
    """
    count = len(raw[0]) if raw else 0
    values, broken, invalid = _typed_columns(dataset, raw, count)
    rows = pa.array(numpy.arange(first_row, first_row + count, dtype=numpy.int64))
    table = pa.table(values + [rows], names=[c.name for c in dataset.columns] + [ROW])
    broken += _hits(_row_rules(dataset, table, invalid))
    table, broken = _add_derived(dataset, table, broken)
    bad = _any([mask for mask, _ in broken], count)
    if broken:
        table = table.filter(pc.invert(bad))
    if dataset.group_rules:  # a group rule may still reject a valid row: keep its text
        for column, text in zip(dataset.columns, raw):
            table = table.append_column(RAW + column.name, pc.filter(text, pc.invert(bad)))
    rejected = [pc.filter(column, bad) for column in list(raw) + [rows]]
    size = len(rejected[-1])
    rejects = pa.table(rejected[:-1] + [pa.repeat(pa.scalar(source, pa.string()), size),
                                        rejected[-1], _reasons(broken, bad)],
                       schema=dataset.rejects_schema)
    return table, rejects


def _typed_columns(dataset: Dataset, raw: Sequence[pa.Array], count: int):
    """Each column trimmed, typed and checked by its own rules.

    Returns:
        (typed values, [(rows breaking a rule, the rule's name)] for the
        rules some row breaks, and per column the rows where it broke one:
        only when row rules need it).
    """
    broken: Broken = []
    values = []
    invalid: Dict[str, pa.Array] = {}
    for column, text in zip(dataset.columns, raw):
        typed, problems = _typed_column(column, text)
        broken += problems
        values.append(typed)
        if dataset.rules:
            invalid[column.name] = _any([mask for mask, _ in problems], count)
    return values, broken, invalid


def _typed_column(column: Column, text: pa.Array) -> Tuple[pa.Array, Broken]:
    """One column typed, with the rules its rows break: per distinct value when they are few."""
    per_distinct = getattr(column.type, "per_distinct", PER_DISTINCT) and len(text) > 1
    encoded = pc.dictionary_encode(text) if per_distinct else None
    if encoded is None or len(encoded.dictionary) > DISTINCT_SHARE * len(text):
        return _typed_values(column, text)
    typed, problems = _typed_values(column, encoded.dictionary)
    indices = encoded.indices
    return pc.take(typed, indices), [(pc.take(mask, indices), rule) for mask, rule in problems]


def _typed_values(column: Column, text: pa.Array) -> Tuple[pa.Array, Broken]:
    """``text`` trimmed and parsed by the column's type; the rules some value breaks."""
    trimmed = pc.utf8_trim_whitespace(text)
    if column.if_empty is not None:  # "empty means 0": the stand-in is checked like a value
        trimmed = pc.if_else(pc.equal(trimmed, ""), column.if_empty, trimmed)
    empty = pc.equal(trimmed, "")
    typed, problems = column.type.parse(trimmed)
    label = column.header
    broken: Broken = []
    if column.required:
        broken.append((empty, f"{label}: required"))
    else:  # an allowed empty value is null in silver
        typed = pc.if_else(empty, pa.scalar(None, typed.type), typed)
    broken += [(pc.and_not(mask, empty), f"{label}: {rule}") for mask, rule in problems]
    return typed, _hits(broken)


def _hits(broken) -> Broken:
    """The rules some row breaks (a rule no row breaks changes no row's verdict or reason)."""
    return [(mask, rule) for mask, rule in broken if pc.any(mask).as_py()]


def _any(masks: List[pa.Array], count: int) -> pa.Array:
    """Rows where any mask holds (a null is no)."""
    return functools.reduce(pc.or_, (pc.fill_null(mask, False) for mask in masks),
                            pa.repeat(False, count))


def _row_rules(dataset: Dataset, table: pa.Table, invalid: Dict[str, pa.Array]):
    """Each rule across columns, judged where the columns it reads are valid; null holds."""
    for rule in dataset.rules:
        unjudged = _any([invalid[name] for name in sorted(read_columns(rule.holds))],
                        table.num_rows)
        holds = pc.fill_null(evaluate(rule.holds, table), True)
        yield pc.and_not(pc.invert(holds), unjudged), rule.reason


def _reasons(broken: Broken, bad: pa.Array) -> pa.Array:
    """Every rule each rejected row breaks, joined with "; " (rejected rows only: few)."""
    where = pc.indices_nonzero(bad)
    texts: List[List[str]] = [[] for _ in range(len(where))]
    for mask, rule in broken:
        for position, hit in enumerate(pc.take(pc.fill_null(mask, False), where).to_pylist()):
            if hit:
                texts[position].append(rule)
    return pa.array(["; ".join(parts) for parts in texts], pa.string())


def _add_derived(dataset: Dataset, table: pa.Table, broken: Broken):
    """Appends exact derived columns; a result too large for its type rejects the row."""
    for derived in dataset.derived:
        kind = derived_type(derived, table.schema)
        value = evaluate(derived.expression, table)  # exact: checked int64 or decimal128(<=38)
        too_large = pc.fill_null(_beyond(value, kind), False)
        if pc.any(too_large).as_py():
            broken = broken + [(too_large, f"{derived.name}: too large")]
            value = pc.if_else(too_large, pa.scalar(0, value.type), value)
        table = table.append_column(pa.field(derived.name, kind), pc.cast(value, kind))
    return _move_last(table, ROW), broken


def _beyond(value: pa.Array, kind: pa.DataType) -> pa.Array:
    """Where ``value`` cannot be held by ``kind`` (a decimal's whole digits, an integer's width)."""
    if pa.types.is_decimal(kind):
        if pa.types.is_integer(value.type):
            value = pc.cast(value, pa.decimal128(19, 0))
        limit = decimal.Decimal(10) ** (kind.precision - kind.scale)
        if value.type.precision - value.type.scale <= kind.precision - kind.scale:
            return pa.repeat(False, len(value))
        return pc.greater_equal(pc.abs(value), pa.scalar(limit, value.type))
    if pa.types.is_integer(kind) and kind.bit_width < 64:
        bound = 2 ** (kind.bit_width - 1)
        return pc.or_(pc.less(value, -bound), pc.greater_equal(value, bound))
    return pa.repeat(False, len(value))


def _move_last(table: pa.Table, name: str) -> pa.Table:
    names = [n for n in table.column_names if n != name] + [name]
    return table.select(names)
