"""The contract's SO gold tables, one behaviour per test.

``so_daily_sales`` and ``so_mtd_by_region`` are pure functions of silver, so
these tests build small silver tables by hand (in the contract's silver
schema) and call the real ``aggregate`` and ``month_to_date``.
"""

import datetime as dt
import random
from decimal import Decimal

import pyarrow as pa
import pytest

from etl_targets.datasets.gold import aggregate, month_to_date
from etl_targets.datasets.so import SO

DAILY = SO.gold_table("so_daily_sales")
MTD = SO.gold_table("so_mtd_by_region")
D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)
MEASURES = [("orders", pa.int64()), ("lines", pa.int64()), ("qty", pa.int64()),
            ("revenue", pa.decimal128(18, 2))]


def line(so="SO-1", number=1, region="West", sku="SKU-1", currency="USD", status="SHIPPED",
         qty=1, price="1.00", modified="2026-01-01 12:00:00") -> dict:
    """One silver row; ``line_amount`` is qty x unit price, exactly."""
    unit_price = Decimal(price)
    return {
        "so_number": so, "line": number, "order_date": dt.date(2026, 1, 1),
        "customer_id": "C1", "customer_name": None, "region": region, "sku": sku,
        "qty": qty, "unit_price": unit_price, "currency": currency, "status": status,
        "last_modified": dt.datetime.fromisoformat(modified),
        "line_amount": qty * unit_price,
    }


def silver(*rows: dict) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=SO.silver_schema)


def daily(*rows: dict):
    return aggregate(SO, DAILY, silver(*rows)).to_pylist()


def mtd(*days):
    """MTD of ``(date, [rows])`` pairs, in the order given."""
    return month_to_date(SO, MTD, [(day, silver(*rows)) for day, rows in days]).to_pylist()


def totals(rows, *keys):
    """Each output row as (keys..., orders, lines, qty, revenue)."""
    return [tuple(r[k] for k in keys) + (r["orders"], r["lines"], r["qty"], r["revenue"])
            for r in rows]


# --- so_daily_sales -------------------------------------------------------------


def test_daily_sales_schema_is_keys_then_measures():
    table = aggregate(SO, DAILY, silver(line()))
    assert table.schema == pa.schema(
        [("region", pa.string()), ("sku", pa.string()), ("currency", pa.string())] + MEASURES)


def test_daily_sales_of_empty_silver_is_empty_with_the_schema():
    table = aggregate(SO, DAILY, SO.silver_schema.empty_table())
    assert table.num_rows == 0
    assert table.schema == aggregate(SO, DAILY, silver(line())).schema


def test_daily_sales_leaves_out_cancelled_lines():
    rows = daily(line(so="SO-1", qty=2), line(so="SO-2", qty=5, status="CANCELLED"))
    assert totals(rows, "region", "sku", "currency") == [
        ("West", "SKU-1", "USD", 1, 1, 2, Decimal("2.00"))]


def test_daily_sales_of_only_cancelled_lines_is_empty():
    assert daily(line(status="CANCELLED"), line(so="SO-2", status="CANCELLED")) == []


@pytest.mark.parametrize("status", ["OPEN", "SHIPPED", "INVOICED"])
def test_daily_sales_counts_every_status_but_cancelled(status):
    assert len(daily(line(status=status))) == 1


def test_daily_sales_groups_by_region_sku_and_currency():
    rows = daily(
        line(so="SO-1", number=1),
        line(so="SO-1", number=2),
        line(so="SO-2", region="East"),
        line(so="SO-3", sku="SKU-2"),
        line(so="SO-4", currency="EUR"),
    )
    assert [(r["region"], r["sku"], r["currency"], r["lines"]) for r in rows] == [
        ("East", "SKU-1", "USD", 1),
        ("West", "SKU-1", "EUR", 1),
        ("West", "SKU-1", "USD", 2),
        ("West", "SKU-2", "USD", 1),
    ]


def test_daily_sales_is_sorted_by_region_then_sku_then_currency():
    keys = [(r, s, c) for r in ("West", "South", "North", "East")
            for s in ("SKU-9", "SKU-10", "SKU-1") for c in ("USD", "GBP", "EUR")]
    random.Random(3).shuffle(keys)
    rows = daily(*[line(so=f"SO-{i}", region=r, sku=s, currency=c)
                   for i, (r, s, c) in enumerate(keys)])
    assert [(r["region"], r["sku"], r["currency"]) for r in rows] == sorted(keys)


def test_orders_counts_distinct_so_numbers():
    rows = daily(line(so="SO-1", number=1), line(so="SO-1", number=2),
                 line(so="SO-1", number=3), line(so="SO-2", number=1))
    assert (rows[0]["orders"], rows[0]["lines"]) == (2, 4)


def test_orders_do_not_count_an_order_whose_lines_are_all_cancelled():
    rows = daily(line(so="SO-1"), line(so="SO-2", status="CANCELLED"))
    assert rows[0]["orders"] == 1


def test_qty_is_summed():
    rows = daily(line(so="SO-1", qty=3), line(so="SO-2", qty=1200), line(so="SO-3", qty=7))
    assert rows[0]["qty"] == 1210


def test_revenue_is_the_exact_sum_of_line_amounts():
    rows = daily(line(so="SO-1", qty=3, price="19.99"), line(so="SO-2", qty=1, price="0.01"),
                 line(so="SO-3", qty=1200, price="1234.50"))
    assert rows[0]["revenue"] == Decimal("59.97") + Decimal("0.01") + Decimal("1481400.00")


def test_revenue_of_a_thousand_ten_cent_lines_is_exactly_one_hundred():
    rows = daily(*[line(number=n, price="0.10") for n in range(1, 1001)])
    assert rows[0]["revenue"] == Decimal("100.00")
    assert str(rows[0]["revenue"]) == "100.00"


def test_revenue_keeps_cents_near_the_decimal_18_2_limit():
    rows = daily(line(so="SO-1", price="9999999999999.99"), line(so="SO-2", price="0.01"))
    assert rows[0]["revenue"] == Decimal("10000000000000.00")


# --- so_mtd_by_region -------------------------------------------------------------


def test_mtd_schema_is_keys_then_measures():
    table = month_to_date(SO, MTD, [(D1, silver(line(so="SO-1"), line(so="SO-2")))])
    assert table.schema == pa.schema([("region", pa.string()), ("currency", pa.string())] + MEASURES)


def test_mtd_of_empty_silver_is_empty_with_the_schema():
    table = month_to_date(SO, MTD, [(D1, SO.silver_schema.empty_table()),
                                    (D2, SO.silver_schema.empty_table())])
    assert table.num_rows == 0
    assert table.schema == pa.schema([("region", pa.string()), ("currency", pa.string())] + MEASURES)


def test_mtd_of_a_single_line():
    """The first of the month may well hold one order line and nothing else."""
    rows = mtd((D1, [line(qty=2, price="5.00")]))
    assert totals(rows, "region", "currency") == [("West", "USD", 1, 1, 2, Decimal("10.00"))]


def test_mtd_adds_up_every_day_of_the_month_so_far():
    rows = mtd((D1, [line(so="SO-1", qty=1), line(so="SO-2", qty=2)]),
               (D2, [line(so="SO-3", qty=4)]),
               (D3, [line(so="SO-4", qty=8, price="0.10")]))
    assert totals(rows, "region", "currency") == [("West", "USD", 4, 4, 15, Decimal("7.80"))]


def test_mtd_groups_by_region_and_currency_only():
    rows = mtd((D1, [line(so="SO-1", sku="SKU-1"), line(so="SO-2", sku="SKU-2"),
                     line(so="SO-3", region="East"), line(so="SO-4", currency="EUR")]))
    assert [(r["region"], r["currency"], r["lines"]) for r in rows] == [
        ("East", "USD", 1), ("West", "EUR", 1), ("West", "USD", 2)]


def test_mtd_is_sorted_by_region_then_currency():
    keys = [(r, c) for r in ("West", "South", "North", "East") for c in ("USD", "GBP", "EUR")]
    random.Random(5).shuffle(keys)
    rows = mtd((D1, [line(so=f"SO-{i}", region=r, currency=c) for i, (r, c) in enumerate(keys)]))
    assert [(r["region"], r["currency"]) for r in rows] == sorted(keys)


def test_mtd_counts_an_order_seen_on_several_days_once():
    rows = mtd((D1, [line(so="SO-1", number=1)]), (D2, [line(so="SO-1", number=2)]))
    assert (rows[0]["orders"], rows[0]["lines"]) == (1, 2)


def test_mtd_line_restated_later_counts_once_with_its_latest_values():
    rows = mtd((D1, [line(qty=1, price="1.00", modified="2026-01-01 09:00:00")]),
               (D2, [line(qty=3, price="2.00", modified="2026-01-02 09:00:00")]))
    assert totals(rows, "region", "currency") == [("West", "USD", 1, 1, 3, Decimal("6.00"))]


def test_mtd_greatest_last_modified_wins_even_from_an_earlier_date():
    rows = mtd((D1, [line(qty=5, modified="2026-01-02 18:00:00")]),
               (D2, [line(qty=9, modified="2026-01-02 08:00:00")]))
    assert rows[0]["qty"] == 5


def test_mtd_tie_on_last_modified_goes_to_the_later_date():
    same = "2026-01-01 12:00:00"
    rows = mtd((D1, [line(qty=5, modified=same)]), (D2, [line(qty=9, modified=same)]))
    assert rows[0]["qty"] == 9


def test_mtd_tie_goes_to_the_later_date_whatever_order_the_days_are_given_in():
    same = "2026-01-01 12:00:00"
    rows = mtd((D3, [line(qty=9, modified=same)]), (D1, [line(qty=5, modified=same)]),
               (D2, [line(qty=7, modified=same)]))
    assert rows[0]["qty"] == 9


def test_mtd_line_cancelled_on_a_later_day_disappears():
    rows = mtd((D1, [line(so="SO-1", qty=5), line(so="SO-2", qty=1)]),
               (D2, [line(so="SO-1", qty=5, status="CANCELLED", modified="2026-01-02 10:00:00")]))
    assert totals(rows, "region", "currency") == [("West", "USD", 1, 1, 1, Decimal("1.00"))]


def test_mtd_line_cancelled_with_the_same_last_modified_on_a_later_day_disappears():
    same = "2026-01-01 12:00:00"
    rows = mtd((D1, [line(so="SO-1"), line(so="SO-2")]),
               (D2, [line(so="SO-1", status="CANCELLED", modified=same)]))
    assert [r["orders"] for r in rows] == [1]


def test_mtd_line_reinstated_after_a_cancel_counts_again():
    rows = mtd((D1, [line(status="CANCELLED", modified="2026-01-01 09:00:00")]),
               (D2, [line(status="OPEN", qty=4, modified="2026-01-02 09:00:00")]))
    assert rows[0]["qty"] == 4


def test_mtd_stale_cancel_from_before_does_not_remove_a_newer_line():
    rows = mtd((D1, [line(qty=4, modified="2026-01-01 15:00:00")]),
               (D2, [line(status="CANCELLED", modified="2026-01-01 09:00:00")]))
    assert rows[0]["qty"] == 4


def test_mtd_moves_a_line_to_its_latest_region():
    rows = mtd((D1, [line(region="West", modified="2026-01-01 09:00:00")]),
               (D2, [line(region="East", modified="2026-01-02 09:00:00")]))
    assert [(r["region"], r["lines"]) for r in rows] == [("East", 1)]


def test_mtd_of_only_cancelled_lines_is_empty():
    assert mtd((D1, [line(status="CANCELLED")]), (D2, [line(so="SO-2", status="CANCELLED")])) == []


def test_mtd_revenue_of_a_month_of_ten_cent_lines_is_exact():
    days = [(dt.date(2026, 1, d), [line(so=f"SO-{d}", number=n, price="0.10") for n in range(1, 101)])
            for d in range(1, 31)]
    rows = mtd(*days)
    assert rows[0]["revenue"] == Decimal("300.00")
    assert (rows[0]["orders"], rows[0]["lines"]) == (30, 3000)
