"""Silver -> gold: business tables as pure functions of silver tables.

Aggregation runs in pyarrow (``Table.group_by``); sums of decimals stay
decimals and are cast back to decimal128(18, 2) with overflow checking, so
revenue is exact to the cent.
"""

import datetime as dt
from typing import List, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.base import Dataset, GoldTable
from etl_targets.datasets.silver import deduplicate

_ARROW_FUNCTION = {"count": "count", "count_distinct": "count_distinct", "sum": "sum"}
DAY_COLUMN = "__day__"


def needed_columns(dataset: Dataset, table: GoldTable) -> List[str]:
    """The silver columns a gold table reads (so readers can prune the rest)."""
    names = set(table.group_by) | {m.column for m in table.measures if m.column}
    names |= {column for column, _ in table.exclude}
    if table.window != "day":
        names |= set(dataset.dedup_keys) | {dataset.latest_by}
    return [c for c in dataset.silver_schema.names if c in names]


def aggregate(dataset: Dataset, table: GoldTable, silver: pa.Table) -> pa.Table:
    """Filters, groups and measures one silver table into ``table``'s schema."""
    for column, values in table.exclude:
        silver = silver.filter(pc.invert(pc.is_in(silver.column(column),
                                                  value_set=pa.array(values))))
    keys = list(table.group_by)
    aggregations = [_aggregation(m, keys) for m in table.measures]
    grouped = silver.group_by(keys, use_threads=False).aggregate(aggregations)
    outputs = [grouped.column(_output_name(m, keys)) for m in table.measures]
    schema = gold_schema(dataset, table)
    columns = [grouped.column(k) for k in keys]
    columns += [pc.cast(col, schema.field(m.name).type) for col, m in zip(outputs, table.measures)]
    result = pa.table(columns, schema=schema)
    return result.sort_by([(k, "ascending") for k in keys])


def gold_schema(dataset: Dataset, table: GoldTable) -> pa.Schema:
    """Keys keep their silver type; counts are int64; sums keep the input type."""
    silver = dataset.silver_schema
    fields = [silver.field(k) for k in table.group_by]
    for measure in table.measures:
        if measure.function == "sum":
            kind = silver.field(measure.column).type
        else:
            kind = pa.int64()
        fields.append(pa.field(measure.name, kind))
    return pa.schema(fields)


def _aggregation(measure, keys) -> Tuple:
    function = _ARROW_FUNCTION[measure.function]
    if measure.function == "count":
        return (keys[0], "count", pc.CountOptions(mode="all"))
    return (measure.column, function)


def _output_name(measure, keys) -> str:
    if measure.function == "count":
        return f"{keys[0]}_count"
    return f"{measure.column}_{_ARROW_FUNCTION[measure.function]}"


def month_to_date(dataset: Dataset, table: GoldTable,
                  days: Sequence[Tuple[dt.date, pa.Table]]) -> pa.Table:
    """Aggregates silver of several days after deduplicating across them.

    Args:
        days: (business date, silver table) for the first of the month
            through D, each holding at least :func:`needed_columns`.

    The latest ``latest_by`` wins across days; on a tie the later date's
    file wins, which the business date as tie-breaker expresses exactly.
    """
    columns = needed_columns(dataset, table)
    parts = []
    for day, silver in days:
        part = silver.select(columns)
        parts.append(part.append_column(DAY_COLUMN, pa.array([day] * part.num_rows, pa.date32())))
    schema = pa.schema([dataset.silver_schema.field(c) for c in columns]
                       + [pa.field(DAY_COLUMN, pa.date32())])
    combined = pa.concat_tables(parts) if parts else schema.empty_table()
    latest = deduplicate(dataset, combined, tie_breaker=DAY_COLUMN)
    return aggregate(dataset, table, latest)
