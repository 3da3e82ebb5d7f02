"""``inv_days_of_cover``: the contract's cross-dataset gold table (INV of D, SO of D-6..D).

A plain typed function of its two inputs, testable without luigi; the
declaration beside it says what it reads. Sums are exact (whole numbers
summed as decimals), and the two divisions are done in integers and rounded
once, half away from zero, to 2 places: never through a float.
"""

import decimal

import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.gold_tables import GoldFunction, Input, Trailing
from etl_targets.errors import ContractError

#: days of sales a cover is reckoned on (SO of D-6..D)
SALES_DAYS = 7
MONEY = pa.decimal128(18, 2)

SCHEMA = pa.schema([
    ("sku", pa.string()),
    ("on_hand", pa.int64()),
    ("sold_7d", pa.int64()),
    ("avg_daily_qty", MONEY),
    ("days_of_cover", MONEY),
])


def divide_rounded(numerator: int, denominator: int, places: int = 2) -> decimal.Decimal:
    """``numerator / denominator`` rounded once to ``places``, half away from zero, exactly."""
    quotient, remainder = divmod(abs(numerator) * 10 ** places, abs(denominator))
    if 2 * remainder >= abs(denominator):
        quotient += 1
    negative = (numerator < 0) != (denominator < 0) and quotient != 0
    return decimal.Decimal(-quotient if negative else quotient).scaleb(-places)


def _sum_by_sku(table: pa.Table, column: str, name: str) -> pa.Table:
    """``sku, name`` with ``name`` = exact sum of ``column`` (as decimal128(38, 0))."""
    values = pc.cast(table.column(column), pa.decimal128(38, 0))
    summed = pa.table({"sku": table.column("sku"), name: values}).group_by(
        "sku", use_threads=False).aggregate([(name, "sum")])
    return summed.rename_columns(["sku", name])


def inv_days_of_cover(inv: pa.Table, so_7d: pa.Table, day=None) -> pa.Table:
    """One row per SKU of the day's inventory, sorted by SKU.

    Args:
        inv: INV silver of D (``sku``, ``on_hand``).
        so_7d: SO silver of D-6..D, already deduplicated across the days
            (``sku``, ``qty``, ``status``).
        day: D, for the error naming a value too large for its column.

    Returns:
        ``sku``, ``on_hand`` (summed over warehouses), ``sold_7d`` (0 when
        none), ``avg_daily_qty`` = sold_7d / 7 and ``days_of_cover`` =
        on_hand x 7 / sold_7d (null when nothing sold), both rounded to 2 places.

    Raises:
        ContractError: a value does not fit its column (``on_hand`` summed
            beyond int64, a cover beyond decimal(18, 2)), naming the date and
            the SKU; nothing is rounded or clipped.
    """
    sold = so_7d.filter(pc.invert(pc.is_in(so_7d.column("status"), pa.array(["CANCELLED"]))))
    joined = _sum_by_sku(inv, "on_hand", "on_hand").join(
        _sum_by_sku(sold, "qty", "sold_7d"), "sku", join_type="left outer").sort_by("sku")
    skus = joined.column("sku").to_pylist()
    on_hand = [int(v) for v in joined.column("on_hand").to_pylist()]
    sold_7d = [0 if v is None else int(v) for v in joined.column("sold_7d").to_pylist()]
    columns = {
        "on_hand": on_hand,
        "sold_7d": sold_7d,
        "avg_daily_qty": [divide_rounded(s, SALES_DAYS) for s in sold_7d],
        "days_of_cover": [divide_rounded(h * SALES_DAYS, s) if s else None
                          for h, s in zip(on_hand, sold_7d)],
    }
    for name, values in columns.items():
        _check_fits(name, values, skus, day)
    return pa.table([joined.column("sku")] + [pa.array(columns[field.name], field.type)
                                              for field in SCHEMA if field.name != "sku"],
                    schema=SCHEMA)


def _check_fits(name: str, values, skus, day) -> None:
    """Raises ContractError for the first value of ``name`` its column cannot hold."""
    kind = SCHEMA.field(name).type
    if pa.types.is_integer(kind):
        largest = 2 ** 63 - 1
    else:
        largest = decimal.Decimal(10) ** (kind.precision - kind.scale) - decimal.Decimal(1).scaleb(-kind.scale)
    for sku, value in zip(skus, values):
        if value is not None and abs(value) > largest:
            raise ContractError(f"gold inv_days_of_cover" + (f" for {day}" if day else ""),
                                f"{name} of sku {sku} is {value}, too large for {kind}")


INV_DAYS_OF_COVER = GoldFunction(
    name="inv_days_of_cover",
    task="GoldInvCover",
    function=inv_days_of_cover,
    inputs=(
        Input("inv", columns=("sku", "on_hand")),
        Input("so_7d", "so", Trailing(SALES_DAYS), columns=("sku", "qty", "status")),
    ),
    schema=SCHEMA,
    pipeline="cover",
)
