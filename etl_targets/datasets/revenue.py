"""``so_revenue_usd``: SO revenue of a day in US dollars, at that day's FX rates.

A plain typed function of its two inputs (SO's ``so_daily_sales`` of D and
FX silver of D), testable without luigi. Money stays exact: revenue is
summed in cents, each currency's sum is divided by its rate in integers and
rounded once, half away from zero, to the cent, and only then summed per
region. Never through a float.

>>> import datetime as dt, decimal
>>> sales = pa.table({"region": ["East", "East"], "currency": ["EUR", "USD"],
...                   "revenue": pa.array([decimal.Decimal("10.00"), decimal.Decimal("1.00")],
...                                       MONEY)})
>>> fx = pa.table({"currency": ["EUR", "USD"],
...                "rate": pa.array([decimal.Decimal("0.9"), decimal.Decimal(1)],
...                                 pa.decimal128(18, 6))})
>>> so_revenue_usd(sales, fx, dt.date(2026, 1, 27)).to_pylist()
[{'region': 'East', 'revenue_usd': Decimal('12.11'), 'currencies': 2}]
"""

import datetime as dt
import decimal
from typing import Dict, Tuple

import pyarrow as pa

from etl_targets.datasets.gold_tables import GoldFunction, Input
from etl_targets.datasets.cover import divide_rounded
from etl_targets.errors import ContractError

MONEY = pa.decimal128(18, 2)
NAME = "so_revenue_usd"

SCHEMA = pa.schema([
    ("region", pa.string()),
    ("revenue_usd", MONEY),
    ("currencies", pa.int64()),
])


def so_revenue_usd(sales: pa.Table, fx: pa.Table, day: dt.date) -> pa.Table:
    """One row per region, sorted by region.

    Args:
        sales: ``so_daily_sales`` of D (``region``, ``currency``, ``revenue``).
        fx: FX silver of D (``currency``, ``rate`` in units per 1 USD).
        day: the business date, named when a rate is missing.

    Returns:
        ``region``, ``revenue_usd`` (the sum over the region's currencies of
        revenue / rate, each rounded to the cent) and ``currencies`` (how many
        currencies were converted, USD at rate 1 included).

    Raises:
        ContractError: a currency has no rate that day, or a sum does not fit.
    """
    cents: Dict[Tuple[str, str], int] = {}
    for region, currency, revenue in zip(*(sales.column(c).to_pylist()
                                          for c in ("region", "currency", "revenue"))):
        key = (region, currency)
        cents[key] = cents.get(key, 0) + _units(revenue, 2)
    micros = {c: _units(r, 6) for c, r in zip(fx.column("currency").to_pylist(),
                                            fx.column("rate").to_pylist())}
    usd: Dict[str, decimal.Decimal] = {}
    counted: Dict[str, int] = {}
    for (region, currency), amount in sorted(cents.items()):
        if currency not in micros:
            raise ContractError(f"gold {NAME} for {day.isoformat()}",
                                f"no FX rate for {currency} on {day.isoformat()}")
        # revenue / rate = (cents / 10^2) / (micros / 10^6) = cents * 10^4 / micros
        converted = divide_rounded(amount * 10 ** 4, micros[currency], 2)
        usd[region] = usd.get(region, decimal.Decimal("0.00")) + converted
        counted[region] = counted.get(region, 0) + 1
    regions = sorted(usd)
    try:
        revenue_usd = pa.array([usd[r] for r in regions], MONEY)
    except (pa.ArrowInvalid, decimal.InvalidOperation):
        largest = max(regions, key=lambda r: abs(usd[r]))
        raise ContractError(f"gold {NAME} for {day.isoformat()}",
                            f"revenue_usd of region {largest} is {usd[largest]}, too large "
                            f"for {MONEY}") from None
    return pa.table([pa.array(regions, pa.string()), revenue_usd,
                     pa.array([counted[r] for r in regions], pa.int64())], schema=SCHEMA)


def _units(value: decimal.Decimal, places: int) -> int:
    """An exact decimal as a whole number of 10^-places (cents for 2)."""
    return int(value.scaleb(places))


SO_REVENUE_USD = GoldFunction(
    name=NAME,
    task="GoldSORevenueUSD",
    function=so_revenue_usd,
    inputs=(
        Input("sales", "so", columns=("region", "currency", "revenue"), gold="so_daily_sales"),
        Input("fx", columns=("currency", "rate")),
    ),
    schema=SCHEMA,
)
