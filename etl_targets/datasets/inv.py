"""INV, inventory: the contract's section 4 (end-of-day stock snapshot), and days of cover."""

import pyarrow as pa

from etl_targets.datasets.base import Column, Dataset, Derived
from etl_targets.datasets.columns import Integer, Text, Timestamp
from etl_targets.datasets.cover import INV_DAYS_OF_COVER
from etl_targets.datasets.expressions import col, greatest
from etl_targets.datasets.gold_tables import DAY, GoldTable, Measure
from etl_targets.datasets.shared_columns import CURRENCY, SKU, UNIT_COST

INV = Dataset(
    code="INV",
    folder="inv",
    file_prefix="zheINV",
    columns=(
        SKU,
        Column("Warehouse", "warehouse", Text(upper=True)),
        Column("On Hand", "on_hand", Integer(bits=64, minimum=0)),
        Column("Allocated", "allocated", Integer(bits=64, minimum=0)),
        UNIT_COST,
        CURRENCY,
        Column("Snapshot Time", "snapshot_time", Timestamp()),
    ),
    derived=(Derived("stock_value", col("on_hand") * col("unit_cost"), pa.decimal128(18, 4)),),
    dedup_keys=("sku", "warehouse"),
    latest_by="snapshot_time",
    gold=(
        GoldTable(name="inv_value_by_warehouse", task="GoldINV", window=DAY,
                  group_by=("warehouse", "currency"),
                  measures=(
                      Measure("skus", "count_distinct", "sku"),
                      Measure("on_hand", "sum", "on_hand"),
                      Measure("available", "sum", greatest(col("on_hand") - col("allocated"), 0)),
                      Measure("value", "sum", "stock_value"),
                  )),
        INV_DAYS_OF_COVER,
    ),
)
