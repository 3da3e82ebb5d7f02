"""Landing columns the contract declares alike in several datasets, written once.

Why: the contract gives "Line", "Order Date", "SKU", "Unit Cost", "Currency"
and "Last Modified" the same header, silver name and rule wherever they
appear (docs/data-contract.md, section 4); one declaration each keeps SO,
PO, INV and GL from drifting apart. A column that only shares a header but
not its rule (each dataset's Status) stays in its own declaration.
"""

from etl_targets.datasets.base import Column
from etl_targets.datasets.columns import Date, Integer, Letters, Money, Text, Timestamp

LINE = Column("Line", "line", Integer(bits=32, minimum=1))
ORDER_DATE = Column("Order Date", "order_date", Date())
SKU = Column("SKU", "sku", Text())
UNIT_COST = Column("Unit Cost", "unit_cost", Money(precision=18, scale=4, minimum=0))
CURRENCY = Column("Currency", "currency", Letters(3))
LAST_MODIFIED = Column("Last Modified", "last_modified", Timestamp())
