"""A one-day gold table computed a slice of silver at a time: the same table, in bounded memory.

:func:`etl_targets.datasets.gold.aggregate` of a big day would hold every
row of the columns it reads, and its grouping state, at once. Its measures
add up over disjoint slices of the rows: ``count`` and ``sum`` always, and
``count_distinct`` of a column when no value of that column is in two
slices. Silver is sorted by its dedup key, so slices cut between two
values of the first key column keep a ``count_distinct`` of that column
exact. Each slice is aggregated as a table of its own, the partial tables
are summed in wide decimals (never wrapping around), and the totals are
cast back to their declared types with overflow checking.

Whenever that could be inexact — a ``count_distinct`` of another column, a
cut column that is not sorted after all, a partial or a total too large
for its type (whose error must name the true total) — the day is
aggregated whole instead, so the result and every error are exactly those
of :func:`~etl_targets.datasets.gold.aggregate`.
"""

import datetime as dt
from typing import Callable, Iterable, Iterator, List, Optional

import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.base import Dataset
from etl_targets.datasets.gold import aggregate, gold_schema
from etl_targets.datasets.gold_tables import GoldTable
from etl_targets.datasets.threads import ordered_map
from etl_targets.errors import ContractError

#: rows aggregated at a time by each thread (at least: a slice ends between two values of its cut column)
SLICE_ROWS = 1 << 17
#: partial tables held before they are summed into one (each sum groups them all again)
SUMMED_PARTS = 8
WIDE_PRECISION = 38


class _NotSliceable(Exception):
    """The slices would not add up exactly: the day is aggregated whole."""


def aggregate_day(dataset: Dataset, table: GoldTable,
                  read: Callable[[], Iterable[pa.RecordBatch]], schema: pa.Schema,
                  day: Optional[dt.date] = None) -> pa.Table:
    """``aggregate(dataset, table, silver, day)`` of one day's silver, slice by slice.

    Args:
        read: the day's silver batches (the columns the table reads, in file
            order); called again when the day must be aggregated whole.
        schema: those columns' schema.
    """
    cut = cut_column(dataset, table)
    if cut is not False:
        try:
            return _by_slices(dataset, table, read(), schema, cut, day)
        except (_NotSliceable, ContractError, pa.ArrowInvalid):
            pass  # aggregated whole below: its result, or its error, is the table's
    return aggregate(dataset, table, pa.Table.from_batches(list(read()), schema), day)


def cut_column(dataset: Dataset, table: GoldTable):
    """The column no two slices may share a value of (None: any; False: no slicing)."""
    distinct = {m.column for m in table.measures if m.function == "count_distinct"}
    if not distinct:
        return None
    first = dataset.dedup_keys[0] if dataset.dedup_keys else None
    return first if distinct == {first} else False


def _by_slices(dataset: Dataset, table: GoldTable, batches: Iterable[pa.RecordBatch],
               schema: pa.Schema, cut: Optional[str], day) -> pa.Table:
    def partial(piece: pa.Table) -> pa.Table:
        return _widened(aggregate(dataset, table, piece, day), table)
    parts = [partial(schema.empty_table())]
    for part in ordered_map(partial, _slices(batches, schema, cut)):  # slices on every core
        parts.append(part)
        if len(parts) > SUMMED_PARTS:
            parts = [_summed(pa.concat_tables(parts), table)]
    total = _summed(pa.concat_tables(parts), table)
    declared = gold_schema(dataset, table)
    columns = [total.column(key) for key in table.group_by]
    columns += [pc.cast(total.column(m.name), declared.field(m.name).type) for m in table.measures]
    result = pa.table(columns, schema=declared)  # the casts are checked: overflow raises
    return result.sort_by([(key, "ascending") for key in table.group_by]).combine_chunks()


def _slices(batches: Iterable[pa.RecordBatch], schema: pa.Schema,
            cut: Optional[str]) -> Iterator[pa.Table]:
    """Tables of about SLICE_ROWS rows; with ``cut``, ending between two of its values."""
    held: List[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        if count >= SLICE_ROWS:
            rows = pa.Table.from_batches(held, schema)
            piece, rest = _split(rows, cut)
            held, count = rest.to_batches(), rest.num_rows
            if piece.num_rows:
                yield piece
    rows = pa.Table.from_batches(held, schema)
    _split(rows, cut)  # checks the order of the last rows too
    if rows.num_rows:
        yield rows


def _split(rows: pa.Table, cut: Optional[str]):
    """(rows before the last value of ``cut``, the rows holding it); checks ``cut`` is sorted."""
    if cut is None or rows.num_rows == 0:
        return rows, rows.slice(0, 0)
    values = rows.column(cut).combine_chunks()
    count = len(values)
    if values.null_count or (count > 1 and pc.any(pc.less(values.slice(1), values.slice(0, count - 1))).as_py()):
        raise _NotSliceable(cut)
    last = pc.sum(pc.equal(values, values[count - 1])).as_py()
    return rows.slice(0, count - last), rows.slice(count - last)


def _widened(partial: pa.Table, table: GoldTable) -> pa.Table:
    """Measures as 38-digit decimals, so that adding partials can neither wrap nor overflow."""
    for index, measure in enumerate(table.measures):
        values = partial.column(measure.name)
        scale = values.type.scale if pa.types.is_decimal(values.type) else 0
        partial = partial.set_column(partial.schema.get_field_index(measure.name), measure.name,
                                     pc.cast(values, pa.decimal128(WIDE_PRECISION, scale)))
    return partial


def _summed(partials: pa.Table, table: GoldTable) -> pa.Table:
    """One row per group: the partial measures added up."""
    keys = list(table.group_by)
    grouped = partials.group_by(keys, use_threads=False).aggregate(
        [(m.name, "sum") for m in table.measures])
    return pa.table([grouped.column(k) for k in keys]
                    + [grouped.column(f"{m.name}_sum") for m in table.measures],
                    names=keys + [m.name for m in table.measures])
