"""Silver -> gold: business tables as pure functions of silver tables.

A :class:`~etl_targets.datasets.gold_tables.GoldTable` is interpreted here:
filter, group (``Table.group_by``), measure. Sums are exact: decimals stay
decimals and are cast back to their declared type with overflow checking,
whole numbers are summed as decimals so they can never wrap around. A
:class:`~etl_targets.datasets.gold_tables.GoldFunction` is called with its inputs.
Either way every input over several days (month to date, trailing days) is
first combined and deduplicated across the days by :func:`combine`.
"""

import datetime as dt
import inspect
from typing import Dict, List, Mapping, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.base import Dataset
from etl_targets.datasets.gold_tables import Day, GoldFunction, GoldTable, Input
from etl_targets.datasets.expressions import Expr, evaluate, type_of
from etl_targets.datasets.silver import deduplicate
from etl_targets.errors import ContractError

DAY_COLUMN = "__day__"
#: the one input of a declarative gold table: its dataset's silver
SILVER = "silver"


def needed_columns(dataset: Dataset, table: GoldTable) -> List[str]:
    """The silver columns a gold table reads (so readers can prune the rest)."""
    return _with_keys(dataset, table.own_columns(), table.window)


def _with_keys(dataset: Dataset, names, window) -> List[str]:
    """``names`` in silver order, plus the dedup key when several days are combined."""
    names = set(names)
    if not isinstance(window, Day):
        names |= set(dataset.dedup_keys) | ({dataset.latest_by} if dataset.latest_by else set())
    return [c for c in dataset.silver_schema.names if c in names]


def inputs(dataset: Dataset, table) -> Tuple[Input, ...]:
    """What a gold table reads: (name, dataset folder, window, columns, gold table) per input."""
    if isinstance(table, GoldFunction):
        return tuple(Input(i.name, i.dataset or dataset.folder, i.window, i.columns, i.gold)
                     for i in table.inputs)
    return (Input(SILVER, dataset.folder, table.window, tuple(needed_columns(dataset, table))),)


def input_columns(dataset: Dataset, source: Input) -> List[str]:
    """The columns ``source`` reads of ``dataset``'s silver (or of gold table ``source.gold``)."""
    if source.gold is not None:
        table = dataset.gold_table(source.gold)
        schema = gold_schema(dataset, table) if isinstance(table, GoldTable) else table.schema
        return list(source.columns or schema.names)
    return _with_keys(dataset, source.columns or dataset.silver_schema.names, source.window)


def combine(dataset: Dataset, days: Sequence[Tuple[dt.date, pa.Table]],
            columns: Sequence[str]) -> pa.Table:
    """Silver of several days as one table, deduplicated across them.

    The latest ``latest_by`` wins across days; on a tie the later date's
    file wins, which the business date as tie-breaker expresses exactly.
    """
    parts = []
    for day, silver in days:
        part = silver.select(list(columns))
        parts.append(part.append_column(DAY_COLUMN, pa.array([day] * part.num_rows, pa.date32())))
    schema = pa.schema([dataset.silver_schema.field(c) for c in columns]
                       + [pa.field(DAY_COLUMN, pa.date32())])
    combined = pa.concat_tables(parts) if parts else schema.empty_table()
    return deduplicate(dataset, combined, tie_breaker=DAY_COLUMN)


def compute(dataset: Dataset, table, tables: Mapping[str, pa.Table], day: dt.date) -> pa.Table:
    """One gold table of ``day`` from its inputs (each already combined over its window).

    Raises:
        TypeError: a function's result does not have its declared schema.
    """
    if isinstance(table, GoldTable):
        return aggregate(dataset, table, tables[SILVER], day)
    arguments: Dict[str, object] = dict(tables)
    if "day" in inspect.signature(table.function).parameters:
        arguments["day"] = day
    result = table.function(**arguments)
    if table.schema is not None and not result.schema.equals(table.schema):
        raise TypeError(f"{table.function.__name__} returned ({_one_line(result.schema)}), "
                        f"not the declared schema of {table.name} ({_one_line(table.schema)})")
    return result


def _one_line(schema: pa.Schema) -> str:
    """``id: string, qty: int64``: a schema as an error line can hold it."""
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


def aggregate(dataset: Dataset, table: GoldTable, silver: pa.Table, day: dt.date = None) -> pa.Table:
    """Filters, groups and measures one silver table into ``table``'s schema.

    Args:
        day: the business date, for measures or filters that compare with it.
    """
    if table.where is not None:
        silver = silver.filter(pc.fill_null(evaluate(table.where, silver, day), False))
    keys = list(table.group_by)
    work = silver.select(keys)
    aggregations = []
    for index, measure in enumerate(table.measures):
        name = f"__m{index}"
        work = work.append_column(name, _measured(measure, silver, day))
        options = pc.CountOptions(mode="all") if measure.function == "count" else None
        aggregations.append((name, measure.function, options) if options else
                            (name, measure.function))
    grouped = work.group_by(keys, use_threads=False).aggregate(aggregations)
    schema = gold_schema(dataset, table)
    columns = [grouped.column(k) for k in keys]
    for index, measure in enumerate(table.measures):
        value = grouped.column(f"__m{index}_{measure.function}")
        if measure.function == "sum":  # a sum over no rows is 0
            value = pc.fill_null(value, pa.scalar(0, value.type))
        columns.append(_fitted(value, schema.field(measure.name).type, table, measure.name,
                               day, grouped.select(keys)))
    result = pa.table(columns, schema=schema)
    return result.sort_by([(k, "ascending") for k in keys])


def _fitted(value: pa.Array, kind: pa.DataType, table: GoldTable, measure: str, day,
            groups: pa.Table) -> pa.Array:
    """``value`` cast to its declared type; a sum too large for it names the table, date and group.

    Raises:
        ContractError: the first group whose value does not fit, in one line.
    """
    try:
        return pc.cast(value, kind)  # checked: overflow raises
    except pa.ArrowInvalid:
        for row in range(len(value)):  # the failure path only: find the group to name
            try:
                pc.cast(value.slice(row, 1), kind)
            except pa.ArrowInvalid:
                group = ", ".join(f"{k}={v}" for k, v in groups.slice(row, 1).to_pylist()[0].items())
                raise ContractError(f"gold {table.name}" + (f" for {day}" if day else ""),
                                    f"{measure} of group ({group}) is {value[row].as_py()}, "
                                    f"too large for {kind}") from None
        raise


def _measured(measure, silver: pa.Table, day) -> pa.Array:
    """The values a measure aggregates: a column, an expression, zero where its filter fails."""
    if measure.function == "count":
        return pa.repeat(True, silver.num_rows)
    if isinstance(measure.column, Expr):
        values = evaluate(measure.column, silver, day)
    else:
        values = silver.column(measure.column).combine_chunks()
    if measure.function != "sum":
        return values
    if pa.types.is_integer(values.type):  # summed exactly, never wrapped around
        values = pc.cast(values, pa.decimal128(38, 0))
    if measure.where is not None:
        keep = pc.fill_null(evaluate(measure.where, silver, day), False)
        values = pc.if_else(keep, values, pa.scalar(0, values.type))
    return values


def gold_schema(dataset: Dataset, table: GoldTable) -> pa.Schema:
    """Keys keep their silver type; counts are int64; sums keep their value's type."""
    silver = dataset.silver_schema
    fields = [silver.field(k) for k in table.group_by]
    for measure in table.measures:
        if measure.type is not None:
            kind = measure.type
        elif measure.function != "sum":
            kind = pa.int64()
        elif isinstance(measure.column, Expr):
            kind = type_of(measure.column, silver)
        else:
            kind = silver.field(measure.column).type
        fields.append(pa.field(measure.name, kind))
    return pa.schema(fields)


def month_to_date(dataset: Dataset, table: GoldTable,
                  days: Sequence[Tuple[dt.date, pa.Table]]) -> pa.Table:
    """A gold table over several days of silver: :func:`combine`, then :func:`aggregate`.

    Args:
        days: (business date, silver table) for the first of the month
            through D, each holding at least :func:`needed_columns`.
    """
    latest = combine(dataset, days, needed_columns(dataset, table))
    return aggregate(dataset, table, latest, days[-1][0] if days else None)
