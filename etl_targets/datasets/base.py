"""Declarations: what a dataset is, written once as data.

A :class:`Dataset` names its landing files, its columns and their rules, its
dedup key and its gold tables. The luigi graph, the lake paths, the silver
and rejects schemas and the CLI subcommand are all derived from it, so adding
purchase orders or the general ledger means writing one more declaration,
not new task classes. Importing this module does no I/O.
"""

import dataclasses
import datetime as dt
from typing import Optional, Tuple

import pyarrow as pa

from etl_targets.dates import erp_stamp

DAY = "day"
MONTH_TO_DATE = "month_to_date"


@dataclasses.dataclass(frozen=True)
class Column:
    """One landing column and the silver column it becomes.

    Attributes:
        header: the header as the contract spells it (matched after trimming
            and case-folding).
        name: the silver column name.
        type: a column type from :mod:`etl_targets.datasets.columns`.
        required: False when an empty value is allowed (stored as null).
    """

    header: str
    name: str
    type: object
    required: bool = True


@dataclasses.dataclass(frozen=True)
class Product:
    """A derived column: ``left * right`` computed exactly as a decimal."""

    name: str
    left: str
    right: str
    type: pa.DataType = pa.decimal128(18, 2)


@dataclasses.dataclass(frozen=True)
class Measure:
    """One aggregated gold column.

    Attributes:
        name: output column.
        function: ``count`` (rows), ``count_distinct`` or ``sum``.
        column: the silver column aggregated (None for ``count``).
    """

    name: str
    function: str
    column: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class GoldTable:
    """A business table, a pure function of silver.

    Attributes:
        name: the lake folder under ``gold/`` (e.g. ``so_daily_sales``).
        window: ``day`` (silver of D) or ``month_to_date`` (silver of the
            first of D's month through D, deduplicated again across days).
        group_by: grouping keys, also the sort order.
        measures: the aggregated columns.
        exclude: ``(column, values)`` rows left out before grouping.
    """

    name: str
    window: str
    group_by: Tuple[str, ...]
    measures: Tuple[Measure, ...]
    exclude: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()

    @property
    def task_suffix(self) -> str:
        """``""`` for the daily table, ``MTD`` for month to date."""
        return "MTD" if self.window == MONTH_TO_DATE else ""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One ERP export and everything the lake builds from it.

    Attributes:
        code: upper-case code used in task names (``SO`` -> ``GoldSO``).
        folder: landing and lake folder name (``so``).
        file_prefix: landing file name prefix (``zheSO``).
        columns: the contract's columns, in contract order.
        derived: exact computed columns appended to silver.
        dedup_keys: a row's identity; duplicates keep the latest.
        latest_by: the column that decides which duplicate is latest.
        gold: the gold tables.
    """

    code: str
    folder: str
    file_prefix: str
    columns: Tuple[Column, ...]
    derived: Tuple[Product, ...]
    dedup_keys: Tuple[str, ...]
    latest_by: str
    gold: Tuple[GoldTable, ...]

    def landing_name(self, day: dt.date) -> str:
        """``zheSO-2026-1-27.csv``: the ERP does not zero-pad."""
        return f"{self.file_prefix}-{erp_stamp(day)}.csv"

    @property
    def rejects_folder(self) -> str:
        return f"{self.folder}_rejects"

    @property
    def silver_schema(self) -> pa.Schema:
        fields = [pa.field(c.name, c.type.arrow_type) for c in self.columns]
        fields += [pa.field(d.name, d.type) for d in self.derived]
        return pa.schema(fields)

    @property
    def rejects_schema(self) -> pa.Schema:
        fields = [pa.field(c.name, pa.string()) for c in self.columns]
        fields += [pa.field("source_file", pa.string()), pa.field("row_number", pa.int64()),
                   pa.field("reject_reason", pa.string())]
        return pa.schema(fields)

    def gold_table(self, name: str) -> GoldTable:
        for table in self.gold:
            if table.name == name:
                return table
        raise KeyError(name)
