"""PO, purchase orders: the contract's section 4 (end-of-day snapshot of open lines)."""

import pyarrow as pa

from etl_targets.datasets.base import Column, Dataset, Derived, RowRule
from etl_targets.datasets.columns import Choice, Date, Integer, Text
from etl_targets.datasets.expressions import business_date, col
from etl_targets.datasets.gold_tables import DAY, GoldTable, Measure
from etl_targets.datasets.shared_columns import CURRENCY, LAST_MODIFIED, LINE, ORDER_DATE, SKU, UNIT_COST

STATUSES = ("OPEN", "PARTIAL", "RECEIVED", "CLOSED", "CANCELLED")
COST = pa.decimal128(18, 4)

PO = Dataset(
    code="PO",
    folder="po",
    file_prefix="zhePO",
    columns=(
        Column("PO Number", "po_number", Text()),
        LINE,
        ORDER_DATE,
        Column("Vendor ID", "vendor_id", Text()),
        Column("Vendor Name", "vendor_name", Text(), required=False),
        SKU,
        Column("Qty Ordered", "qty_ordered", Integer(bits=64, minimum=1)),
        Column("Qty Received", "qty_received", Integer(bits=64, minimum=0)),
        UNIT_COST,
        CURRENCY,
        Column("Status", "status", Choice(STATUSES)),
        Column("Expected Date", "expected_date", Date(), required=False),
        LAST_MODIFIED,
    ),
    rules=(RowRule("Qty Received", "must be <= Qty Ordered",
                   col("qty_received") <= col("qty_ordered")),),
    derived=(
        Derived("open_qty", col("qty_ordered") - col("qty_received"), pa.int64()),
        Derived("open_value", col("open_qty") * col("unit_cost"), COST),
    ),
    dedup_keys=("po_number", "line"),
    latest_by="last_modified",
    gold=(
        GoldTable(name="po_open_by_vendor", task="GoldPO", window=DAY,
                  where=col("status").isin("OPEN", "PARTIAL"),
                  group_by=("vendor_id", "currency"),
                  measures=(
                      Measure("open_lines", "count"),
                      Measure("open_qty", "sum", "open_qty"),
                      Measure("open_value", "sum", "open_value"),
                      # no expected date: never overdue (the comparison is null)
                      Measure("overdue_value", "sum", "open_value",
                              where=col("expected_date") < business_date()),
                  )),
    ),
)
