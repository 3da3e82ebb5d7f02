"""PO, purchase orders: the contract's section 4 (end-of-day snapshot of open lines)."""

import pyarrow as pa

from etl_targets.datasets.base import DAY, Column, Dataset, Derived, GoldTable, Measure, RowRule
from etl_targets.datasets.columns import Choice, Date, Integer, Letters, Money, Text, Timestamp
from etl_targets.datasets.expressions import business_date, col

STATUSES = ("OPEN", "PARTIAL", "RECEIVED", "CLOSED", "CANCELLED")
COST = pa.decimal128(18, 4)

PO = Dataset(
    code="PO",
    folder="po",
    file_prefix="zhePO",
    columns=(
        Column("PO Number", "po_number", Text()),
        Column("Line", "line", Integer(bits=32, minimum=1)),
        Column("Order Date", "order_date", Date()),
        Column("Vendor ID", "vendor_id", Text()),
        Column("Vendor Name", "vendor_name", Text(), required=False),
        Column("SKU", "sku", Text()),
        Column("Qty Ordered", "qty_ordered", Integer(bits=64, minimum=1)),
        Column("Qty Received", "qty_received", Integer(bits=64, minimum=0)),
        Column("Unit Cost", "unit_cost", Money(precision=18, scale=4, minimum=0)),
        Column("Currency", "currency", Letters(3)),
        Column("Status", "status", Choice(STATUSES)),
        Column("Expected Date", "expected_date", Date(), required=False),
        Column("Last Modified", "last_modified", Timestamp()),
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
