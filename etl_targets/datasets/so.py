"""SO, sales orders: the contract's section 2 written as a declaration."""

import pyarrow as pa

from etl_targets.datasets.base import Column, Dataset, Derived
from etl_targets.datasets.columns import Choice, Integer, Money, Text
from etl_targets.datasets.expressions import col
from etl_targets.datasets.gold_tables import DAY, MONTH_TO_DATE, GoldTable, Measure
from etl_targets.datasets.shared_columns import CURRENCY, LAST_MODIFIED, LINE, ORDER_DATE, SKU

REGIONS = ("North", "South", "East", "West")
STATUSES = ("OPEN", "SHIPPED", "INVOICED", "CANCELLED")

MEASURES = (
    Measure("orders", "count_distinct", "so_number"),
    Measure("lines", "count"),
    Measure("qty", "sum", "qty"),
    Measure("revenue", "sum", "line_amount"),
)
NOT_CANCELLED = ~col("status").isin("CANCELLED")

SO = Dataset(
    code="SO",
    folder="so",
    file_prefix="zheSO",
    columns=(
        Column("SO Number", "so_number", Text()),
        LINE,
        ORDER_DATE,
        Column("Customer ID", "customer_id", Text()),
        Column("Customer Name", "customer_name", Text(), required=False),
        Column("Region", "region", Choice(REGIONS)),
        SKU,
        Column("Qty", "qty", Integer(bits=64, minimum=1)),
        Column("Unit Price", "unit_price", Money(precision=18, scale=2, minimum=0)),
        CURRENCY,
        Column("Status", "status", Choice(STATUSES)),
        LAST_MODIFIED,
    ),
    derived=(Derived("line_amount", col("qty") * col("unit_price"), pa.decimal128(18, 2)),),
    dedup_keys=("so_number", "line"),
    latest_by="last_modified",
    gold=(
        GoldTable(name="so_daily_sales", task="GoldSO", window=DAY, where=NOT_CANCELLED,
                  group_by=("region", "sku", "currency"), measures=MEASURES),
        GoldTable(name="so_mtd_by_region", task="GoldSOMTD", window=MONTH_TO_DATE,
                  where=NOT_CANCELLED, group_by=("region", "currency"), measures=MEASURES),
    ),
)
