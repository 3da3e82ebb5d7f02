"""Tests of the reference SO implementation itself, on hand-written CSV.

The reference is the yardstick for the real pipeline, so it gets its own
small specification-style tests: one contract rule per test, inputs short
enough to check by eye.
"""

from datetime import date, datetime
from decimal import Decimal

import pytest

# tests/ is on sys.path (see conftest.py); the reference and the foreign writer live there.
from foreign_so import write_foreign_month
from reference_so import (
    REJECT_COLUMNS,
    SILVER_COLUMNS,
    ReferenceContractError,
    daily_sales,
    mtd_by_region,
    parse_landing,
)

HEADER = (
    "SO Number,Line,Order Date,Customer ID,Customer Name,Region,SKU,Qty,"
    "Unit Price,Currency,Status,Last Modified"
)
GOOD = "SO-1,1,01/27/2026,C1,Acme,West,SKU-1,2,19.99,usd,shipped,2026-01-27 13:45:10"


def csv_text(*rows: str, header: str = HEADER) -> str:
    """Joins a header and rows into one LF-terminated CSV document."""
    return "\n".join((header, *rows)) + "\n"


def row(**changes: str) -> str:
    """Returns GOOD with some fields replaced, addressed by silver name."""
    fields = dict(zip(SILVER_COLUMNS, GOOD.split(",")))
    fields.update(changes)
    return ",".join(fields[name] for name in SILVER_COLUMNS[:-1])


def parse(*rows: str, header: str = HEADER):
    """Parses rows under a header as the landing file of 2026-01-27."""
    return parse_landing(csv_text(*rows, header=header), "zheSO-2026-1-27.csv")


def test_valid_row_becomes_typed_silver():
    silver, rejects = parse(GOOD)
    assert rejects == []
    assert silver == [{
        "so_number": "SO-1", "line": 1, "order_date": date(2026, 1, 27),
        "customer_id": "C1", "customer_name": "Acme", "region": "West",
        "sku": "SKU-1", "qty": 2, "unit_price": Decimal("19.99"),
        "currency": "USD", "status": "SHIPPED",
        "last_modified": datetime(2026, 1, 27, 13, 45, 10),
        "line_amount": Decimal("39.98"),
    }]


def test_byte_order_mark_is_stripped():
    silver, _ = parse_landing(b"\xef\xbb\xbf" + csv_text(GOOD).encode(), "f.csv")
    assert [r["so_number"] for r in silver] == ["SO-1"]


def test_headers_match_trimmed_caseless_in_any_order_with_extra_column():
    header = (
        " last modified ,STATUS,currency,unit price,qty,sku,Warehouse,region,"
        "customer name,customer id,order date,line,so number"
    )
    fields = GOOD.split(",")
    reordered = ",".join(fields[::-1][:6] + ["WH-1"] + fields[::-1][6:])
    silver, rejects = parse(reordered, header=header)
    assert rejects == []
    assert silver == parse(GOOD)[0]
    assert "warehouse" not in silver[0]


def test_quoted_commas_doubled_quotes_and_padding_are_read():
    silver, _ = parse(row(customer_name='"  Acme, ""Best"" Inc. "', region=" west "))
    assert silver[0]["customer_name"] == 'Acme, "Best" Inc.'
    assert silver[0]["region"] == "West"


def test_empty_customer_name_is_null():
    silver, rejects = parse(row(customer_name="  "))
    assert rejects == [] and silver[0]["customer_name"] is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"qty": '"1,200"'}, {"qty": 1200, "line_amount": Decimal("23988.00")}),
        ({"unit_price": '"1,234.50"'}, {"unit_price": Decimal("1234.50")}),
        ({"unit_price": "19.990"}, {"unit_price": Decimal("19.99")}),
        ({"unit_price": "7"}, {"unit_price": Decimal("7.00")}),
        ({"line": "+3", "qty": "007"}, {"line": 3, "qty": 7}),
        ({"order_date": "1/5/2026"}, {"order_date": date(2026, 1, 5)}),
        ({"status": " Cancelled "}, {"status": "CANCELLED"}),
    ],
)
def test_allowed_spellings_parse(changes, expected):
    silver, rejects = parse(row(**changes))
    assert rejects == []
    assert {key: silver[0][key] for key in expected} == expected


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"so_number": " "}, "empty required field: so_number"),
        ({"customer_id": ""}, "empty required field: customer_id"),
        ({"last_modified": ""}, "empty required field: last_modified"),
        ({"line": "0"}, "line < 1"),
        ({"line": "1.5"}, "unparseable line"),
        ({"line": "2147483648"}, "line out of int32 range"),
        ({"qty": "0"}, "qty <= 0"),
        ({"qty": "-1"}, "qty <= 0"),
        ({"qty": '"12,00"'}, "unparseable qty"),
        ({"unit_price": "-0.01"}, "unit_price < 0"),
        ({"unit_price": "19.999"}, "unit_price has more than two decimal places"),
        ({"unit_price": "abc"}, "unparseable unit_price"),
        ({"unit_price": "10000000000000000"}, "unit_price out of decimal(18,2) range"),
        ({"qty": "2000", "unit_price": "9999999999999.99"},
         "line_amount out of decimal(18,2) range"),
        ({"order_date": "02/30/2026"}, "unparseable order_date"),
        ({"order_date": "2026-01-27"}, "unparseable order_date"),
        ({"last_modified": "2026-01-27T13:45:10"}, "unparseable last_modified"),
        ({"last_modified": "2026-01-27 24:00:00"}, "unparseable last_modified"),
        ({"region": ""}, "region not canonical"),
        ({"region": "Central"}, "region not canonical"),
        ({"status": "PENDING"}, "status not canonical"),
        ({"currency": "US"}, "currency not three letters"),
        ({"currency": "U5D"}, "currency not three letters"),
    ],
)
def test_invalid_value_is_rejected_with_reason(changes, reason):
    silver, rejects = parse(row(**changes))
    assert silver == []
    assert [r["reject_reason"] for r in rejects] == [reason]


def test_reject_keeps_raw_fields_file_and_row_number():
    raw = row(qty="0", region=" west ")
    silver, rejects = parse(GOOD.replace("SO-1", "SO-0"), "", raw)
    assert [r["so_number"] for r in silver] == ["SO-0"]
    assert list(rejects[0]) == list(REJECT_COLUMNS)
    assert rejects[0]["region"] == " west " and rejects[0]["qty"] == "0"
    assert rejects[0]["source_file"] == "zheSO-2026-1-27.csv"
    assert rejects[0]["row_number"] == 2  # the blank line does not count


def test_wrong_field_count_is_rejected():
    _, rejects = parse(GOOD + ",extra", "SO-2,1")
    assert [r["reject_reason"] for r in rejects] == ["wrong number of fields"] * 2
    assert rejects[1]["line"] == "1" and rejects[1]["sku"] is None


def test_duplicates_keep_greatest_last_modified_even_when_first():
    newer = row(qty="5", last_modified="2026-01-27 14:00:00")
    silver, _ = parse(newer, GOOD)
    assert [r["qty"] for r in silver] == [5]


def test_duplicate_tie_keeps_last_in_file():
    silver, _ = parse(GOOD, row(qty="9"))
    assert [r["qty"] for r in silver] == [9]


def test_rejected_row_does_not_take_part_in_dedup():
    silver, _ = parse(GOOD, row(qty="0", last_modified="2026-01-27 23:00:00"))
    assert [r["qty"] for r in silver] == [2]


def test_silver_is_sorted_by_so_number_then_line():
    silver, _ = parse(row(so_number="SO-2"), row(line="10"), row(line="9"))
    assert [(r["so_number"], r["line"]) for r in silver] == [
        ("SO-1", 9), ("SO-1", 10), ("SO-2", 1)]


def test_crlf_and_blank_lines_are_accepted():
    text = "\r\n" + HEADER + "\r\n\r\n" + GOOD + "\r\n   \r\n"
    silver, rejects = parse_landing(text, "f.csv")
    assert len(silver) == 1 and rejects == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (csv_text(GOOD, header=HEADER.replace(",Qty", "")), "missing column(s): Qty"),
        (b"\xff" + csv_text(GOOD).encode(), "not valid UTF-8"),
        (b"", "no header"),
        ("\ufeff\n\n", "no header"),
        (csv_text(header=HEADER + ",qty "), "duplicate column 'qty'"),
    ],
)
def test_file_level_problems_raise_naming_the_file(data, problem):
    with pytest.raises(ReferenceContractError) as caught:
        parse_landing(data, "zheSO-2026-1-27.csv")
    message = str(caught.value)
    assert message.startswith("zheSO-2026-1-27.csv: ") and problem in message
    assert "\n" not in message


def test_daily_sales_groups_and_leaves_out_cancelled():
    silver, _ = parse(
        GOOD,
        row(line="2", qty="1", unit_price="0.01"),
        row(so_number="SO-2", unit_price="1.00"),
        row(so_number="SO-3", status="CANCELLED"),
        row(so_number="SO-4", region="East"),
    )
    assert daily_sales(silver) == [
        {"region": "East", "sku": "SKU-1", "currency": "USD", "orders": 1,
         "lines": 1, "qty": 2, "revenue": Decimal("39.98")},
        {"region": "West", "sku": "SKU-1", "currency": "USD", "orders": 2,
         "lines": 3, "qty": 5, "revenue": Decimal("41.99")},
    ]


def test_mtd_dedups_across_days_later_date_wins_tie_then_drops_cancelled():
    day1, _ = parse(GOOD, row(so_number="SO-2"), row(so_number="SO-3"))
    day2, _ = parse(
        row(qty="10"),  # same last_modified as day 1: the later date wins
        row(so_number="SO-2", status="CANCELLED", last_modified="2026-01-28 09:00:00"),
        row(so_number="SO-3", qty="99", last_modified="2026-01-27 08:00:00"),
    )
    result = mtd_by_region({date(2026, 1, 28): day2, date(2026, 1, 27): day1})
    assert result == [
        {"region": "West", "currency": "USD", "orders": 2, "lines": 2,
         "qty": 12, "revenue": Decimal("239.88")},
    ]


def test_foreign_month_is_contract_conforming_and_messy(tmp_path):
    paths = write_foreign_month(tmp_path, 2026, 1, 9, rows_per_day=30, seed=7)
    assert [p.name for p in paths][:2] == ["zheSO-2026-1-1.csv", "zheSO-2026-1-2.csv"]
    assert all(p.parent == tmp_path / "so" for p in paths)
    parsed = [parse_landing(p.read_bytes(), p.name) for p in paths]
    valid = sum(len(silver) for silver, _ in parsed)
    rejected = sum(len(rejects) for _, rejects in parsed)
    assert 0 < rejected < valid / 10
    raw = b"".join(p.read_bytes() for p in paths)
    assert b"\r\n" in raw and b'","' in raw and b"\xef\xbb\xbf" in raw


def test_foreign_month_is_deterministic(tmp_path):
    first = write_foreign_month(tmp_path / "a", 2026, 2, [3, 1], 5, seed=1)
    second = write_foreign_month(tmp_path / "b", 2026, 2, [1, 3], 5, seed=1)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
