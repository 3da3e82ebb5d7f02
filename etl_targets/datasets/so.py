"""SO, sales orders: the contract's section 2 written as a declaration."""

from etl_targets.datasets.base import DAY, MONTH_TO_DATE, Column, Dataset, GoldTable, Measure, Product
from etl_targets.datasets.columns import Choice, Date, Integer, Letters, Money, Text, Timestamp

REGIONS = ("North", "South", "East", "West")
STATUSES = ("OPEN", "SHIPPED", "INVOICED", "CANCELLED")

MEASURES = (
    Measure("orders", "count_distinct", "so_number"),
    Measure("lines", "count"),
    Measure("qty", "sum", "qty"),
    Measure("revenue", "sum", "line_amount"),
)
NOT_CANCELLED = (("status", ("CANCELLED",)),)

SO = Dataset(
    code="SO",
    folder="so",
    file_prefix="zheSO",
    columns=(
        Column("SO Number", "so_number", Text()),
        Column("Line", "line", Integer(bits=32, minimum=1)),
        Column("Order Date", "order_date", Date()),
        Column("Customer ID", "customer_id", Text()),
        Column("Customer Name", "customer_name", Text(), required=False),
        Column("Region", "region", Choice(REGIONS)),
        Column("SKU", "sku", Text()),
        Column("Qty", "qty", Integer(bits=64, minimum=1)),
        Column("Unit Price", "unit_price", Money(precision=18, scale=2, minimum=0)),
        Column("Currency", "currency", Letters(3)),
        Column("Status", "status", Choice(STATUSES)),
        Column("Last Modified", "last_modified", Timestamp()),
    ),
    derived=(Product("line_amount", "qty", "unit_price"),),
    dedup_keys=("so_number", "line"),
    latest_by="last_modified",
    gold=(
        GoldTable("so_daily_sales", DAY, ("region", "sku", "currency"), MEASURES, NOT_CANCELLED),
        GoldTable("so_mtd_by_region", MONTH_TO_DATE, ("region", "currency"), MEASURES,
                  NOT_CANCELLED),
    ),
)
