"""The contract's SO row rules (section 2), one behaviour per test.

Each test feeds a tiny hand-written landing file to the real
``read_silver`` and checks one sentence of ``data-contract.md``: what is
rejected and why, what the rejects table keeps, how duplicates are settled,
how values are typed, which spellings of a file are accepted, and which
file-level problems fail the whole date.

Reject reasons are checked for the header they name ("<Header>: <rule>",
joined by "; "), not for their exact wording.
"""

import datetime as dt
import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from etl_targets import formats
from etl_targets.datasets.silver import read_silver
from etl_targets.datasets.so import SO
from etl_targets.errors import ContractError

SOURCE = "zheSO-2026-1-27.csv"
HEADERS = (
    "SO Number", "Line", "Order Date", "Customer ID", "Customer Name", "Region",
    "SKU", "Qty", "Unit Price", "Currency", "Status", "Last Modified",
)
NAMES = (
    "so_number", "line", "order_date", "customer_id", "customer_name", "region",
    "sku", "qty", "unit_price", "currency", "status", "last_modified",
)
HEADER_OF = dict(zip(NAMES, HEADERS))
HEADER = ",".join(HEADERS)
GOOD = {
    "so_number": "SO-1", "line": "1", "order_date": "01/27/2026", "customer_id": "C1",
    "customer_name": "Acme", "region": "West", "sku": "SKU-1", "qty": "2",
    "unit_price": "19.99", "currency": "usd", "status": "shipped",
    "last_modified": "2026-01-27 13:45:10",
}


def row(**changes: str) -> str:
    """One CSV record: GOOD with fields replaced by silver name, written raw.

    Values are pasted as given, so a test that needs quoting writes the
    quotes itself and the file under test is exactly what the test shows.
    """
    fields = dict(GOOD, **changes)
    return ",".join(fields[name] for name in NAMES)


def landing(*rows: str, header: str = HEADER, newline: str = "\n") -> bytes:
    """A landing file: header, records, each line ended by ``newline``."""
    return "".join(line + newline for line in (header, *rows)).encode("utf-8")


def read(*rows: str, header: str = HEADER):
    """Reads records under a header as the landing file of 2026-01-27."""
    return read_bytes(landing(*rows, header=header))


def read_bytes(data: bytes):
    return read_silver(SO, io.BytesIO(data), SOURCE)


def silver_rows(result):
    return result.silver.to_pylist()


def column(result, name):
    return result.silver.column(name).to_pylist()


def reasons(result):
    return result.rejects.column("reject_reason").to_pylist()


def assert_only_rejected_for(result, header):
    """The file's single record is in rejects, naming ``header``, not in silver."""
    assert result.silver.num_rows == 0
    assert result.rejects.num_rows == 1
    assert header in reasons(result)[0]


# --- a valid row, typed --------------------------------------------------------


def test_valid_row_becomes_typed_silver():
    result = read(row())
    assert result.rejects.num_rows == 0
    assert silver_rows(result) == [{
        "so_number": "SO-1", "line": 1, "order_date": dt.date(2026, 1, 27),
        "customer_id": "C1", "customer_name": "Acme", "region": "West",
        "sku": "SKU-1", "qty": 2, "unit_price": Decimal("19.99"), "currency": "USD",
        "status": "SHIPPED", "last_modified": dt.datetime(2026, 1, 27, 13, 45, 10),
        "line_amount": Decimal("39.98"),
    }]


def test_file_with_exactly_one_valid_row_reaches_silver():
    result = read(row(), row(so_number="SO-2", qty="0"))
    assert column(result, "so_number") == ["SO-1"]


def test_silver_schema_is_exactly_the_contract_types():
    result = read(row(), row(so_number="SO-2"))
    assert result.silver.schema == pa.schema([
        ("so_number", pa.string()),
        ("line", pa.int32()),
        ("order_date", pa.date32()),
        ("customer_id", pa.string()),
        ("customer_name", pa.string()),
        ("region", pa.string()),
        ("sku", pa.string()),
        ("qty", pa.int64()),
        ("unit_price", pa.decimal128(18, 2)),
        ("currency", pa.string()),
        ("status", pa.string()),
        ("last_modified", pa.timestamp("ms")),
        ("line_amount", pa.decimal128(18, 2)),
    ])


def test_last_modified_is_kept_to_the_second():
    result = read(row(last_modified="2026-01-27 23:59:59"), row(so_number="SO-2"))
    assert column(result, "last_modified")[0] == dt.datetime(2026, 1, 27, 23, 59, 59)


def test_order_date_accepts_one_digit_month_and_day():
    result = read(row(order_date="1/5/2026"))
    assert column(result, "order_date") == [dt.date(2026, 1, 5)]


def test_leap_day_is_a_real_date():
    result = read(row(order_date="02/29/2024"))
    assert column(result, "order_date") == [dt.date(2024, 2, 29)]


def test_line_and_qty_accept_a_plus_sign_and_leading_zeros():
    result = read(row(line="+3", qty="007"))
    assert (column(result, "line"), column(result, "qty")) == ([3], [7])


@pytest.mark.parametrize("digits", ["\uff11\uff12", "\u00b2", "\u0663"], ids=["fullwidth", "superscript", "arabic-indic"])
def test_non_ascii_digits_in_line_or_qty_reject_the_row_not_the_file(digits):
    result = read(row(qty=digits), row(so_number="SO-2", line=digits), row(so_number="SO-3"))
    assert column(result, "so_number") == ["SO-3"]
    assert [r.split(":")[0] for r in reasons(result)] == ["Qty", "Line"]


def test_zero_unit_price_is_allowed():
    result = read(row(unit_price="0.00"))
    assert column(result, "unit_price") == [Decimal("0.00")]
    assert column(result, "line_amount") == [Decimal("0.00")]


def test_whole_unit_price_gets_two_decimal_places():
    result = read(row(unit_price="7"))
    assert column(result, "unit_price") == [Decimal("7.00")]


# --- canonical values ---------------------------------------------------------


def numbered(field: str, spellings):
    """One record per spelling, each its own order so none is a duplicate."""
    return [row(so_number=f"SO-{i}", **{field: text}) for i, text in enumerate(spellings)]


def test_region_is_matched_trimmed_and_case_folded_and_stored_canonical():
    result = read(*numbered("region", [" west ", "WEST", "West", "wEsT", "north", " EAST", "South "]))
    assert result.rejects.num_rows == 0
    assert sorted(column(result, "region")) == sorted(
        ["West", "West", "West", "West", "North", "East", "South"])


def test_status_is_matched_trimmed_and_case_folded_and_stored_canonical():
    result = read(*numbered("status", [" shipped ", "Open", "invoiced", "Cancelled", "CANCELLED"]))
    assert result.rejects.num_rows == 0
    assert sorted(column(result, "status")) == sorted(
        ["SHIPPED", "OPEN", "INVOICED", "CANCELLED", "CANCELLED"])


def test_region_and_status_are_matched_with_full_unicode_case_folding():
    # "\u017f" (long s) case-folds to "s": "\u017fouth" is South, as str.casefold says.
    result = read(row(region="\u017fouth", status="\u017fhipped"))
    assert result.rejects.num_rows == 0
    assert (column(result, "region"), column(result, "status")) == (["South"], ["SHIPPED"])


def test_currency_is_trimmed_and_stored_upper_case():
    result = read(*numbered("currency", ["usd", " eur ", "Gbp", "USD"]))
    assert result.rejects.num_rows == 0
    assert sorted(column(result, "currency")) == ["EUR", "GBP", "USD", "USD"]


def test_customer_name_may_be_empty_and_is_null_in_silver():
    result = read(row(customer_name="   "))
    assert result.rejects.num_rows == 0
    assert column(result, "customer_name") == [None]


def test_customer_name_is_trimmed():
    result = read(row(customer_name='"  Nordwind GmbH  "'))
    assert column(result, "customer_name") == ["Nordwind GmbH"]


# --- rule 1: what is rejected -------------------------------------------------

REQUIRED = ("SO Number", "Line", "Order Date", "Customer ID", "SKU", "Qty",
            "Unit Price", "Currency", "Status", "Last Modified")
NAME_OF = {header: name for name, header in HEADER_OF.items()}


@pytest.mark.parametrize("header", REQUIRED)
@pytest.mark.parametrize("blank", ["", "   "], ids=["empty", "spaces"])
def test_empty_required_field_is_rejected_with_reason_naming_it(header, blank):
    assert_only_rejected_for(read(row(**{NAME_OF[header]: blank})), header)


def test_empty_region_is_rejected_as_not_canonical():
    assert_only_rejected_for(read(row(region="")), "Region")


@pytest.mark.parametrize(("header", "text"), [
    ("Line", "1.5"),
    ("Line", "one"),
    ("Line", '"1,2"'),
    ("Order Date", "2026-01-27"),
    ("Order Date", "27.01.2026"),
    ("Order Date", "01/27/26"),
    ("Qty", "2.0"),
    ("Qty", "two"),
    ("Qty", '"12,00"'),
    ("Qty", "1e3"),
    ("Unit Price", "abc"),
    ("Unit Price", "1e3"),
    ("Unit Price", '"12,34.00"'),
    ("Unit Price", ".50"),
    ("Unit Price", "$19.99"),
    ("Last Modified", "2026-01-27T13:45:10"),
    ("Last Modified", "2026-01-27 13:45"),
    ("Last Modified", "01/27/2026 13:45:10"),
])
def test_value_that_does_not_parse_to_its_type_is_rejected(header, text):
    assert_only_rejected_for(read(row(**{NAME_OF[header]: text})), header)


@pytest.mark.parametrize("text", ["02/30/2026", "02/29/2025", "13/01/2026", "00/10/2026", "04/31/2026"])
def test_impossible_order_date_is_rejected_not_rolled_over(text):
    assert_only_rejected_for(read(row(order_date=text)), "Order Date")


@pytest.mark.parametrize("text", ["2026-01-27 24:00:00", "2026-01-27 23:59:60", "2026-02-30 10:00:00"])
def test_impossible_last_modified_is_rejected(text):
    assert_only_rejected_for(read(row(last_modified=text)), "Last Modified")


@pytest.mark.parametrize("text", ["0", "-3"])
def test_line_below_one_is_rejected_with_reason_naming_line(text):
    assert_only_rejected_for(read(row(line=text)), "Line")


def test_line_beyond_int32_is_rejected():
    assert_only_rejected_for(read(row(line="2147483648")), "Line")


def test_qty_zero_is_rejected_with_reason_naming_qty():
    assert_only_rejected_for(read(row(qty="0")), "Qty")


def test_negative_qty_is_rejected_with_reason_naming_qty():
    assert_only_rejected_for(read(row(qty="-2")), "Qty")


def test_negative_unit_price_is_rejected_with_reason_naming_unit_price():
    assert_only_rejected_for(read(row(unit_price="-0.01")), "Unit Price")


def test_unit_price_with_more_than_two_decimals_is_rejected():
    assert_only_rejected_for(read(row(unit_price="1.234")), "Unit Price")


def test_unit_price_with_trailing_zero_beyond_cents_is_exact_and_accepted():
    result = read(row(unit_price="19.990"))
    assert result.rejects.num_rows == 0
    assert column(result, "unit_price") == [Decimal("19.99")]


def test_unit_price_beyond_decimal_18_2_is_rejected():
    assert_only_rejected_for(read(row(unit_price="10000000000000000.00")), "Unit Price")


@pytest.mark.parametrize("text, value", [
    ("1." + "0" * 40, Decimal("1.00")),             # zeros past the cents, however many
    ("0" * 45 + "19.99", Decimal("19.99")),         # leading zeros count for nothing
    ('"1,234.50' + "0" * 40 + '"', Decimal("1234.50")),
])
def test_unit_price_with_many_idle_zeros_is_its_value(text, value):
    result = read(row(unit_price=text))
    assert result.rejects.num_rows == 0
    assert column(result, "unit_price") == [value]


def test_unit_price_with_a_digit_after_many_zeros_is_rejected_not_rounded():
    assert_only_rejected_for(read(row(unit_price="1." + "0" * 40 + "1")), "Unit Price")


@pytest.mark.parametrize("text, value", [
    ("1000000000000000000", 10 ** 18),                 # nineteen digits
    ("9223372036854775807", 2 ** 63 - 1),              # the int64 maximum
    ('"9,223,372,036,854,775,807"', 2 ** 63 - 1),
    ("0000000000000000007", 7),                        # leading zeros do not count
])
def test_qty_takes_every_value_int64_holds(text, value):
    result = read(row(qty=text, unit_price="0"))
    assert result.rejects.num_rows == 0
    assert column(result, "qty") == [value]


@pytest.mark.parametrize("text", ["9223372036854775808", "99999999999999999999"])
def test_qty_beyond_int64_is_rejected(text):
    assert_only_rejected_for(read(row(qty=text)), "Qty")


@pytest.mark.parametrize("changes, header", [
    ({"order_date": "01/05/0000"}, "Order Date"),
    ({"last_modified": "0000-01-01 00:00:00"}, "Last Modified"),
])
def test_year_zero_is_not_a_real_date(changes, header):
    assert_only_rejected_for(read(row(**changes)), header)


def test_year_one_is_a_real_date():
    result = read(row(order_date="1/1/0001", last_modified="0001-01-01 00:00:00"))
    assert column(result, "order_date") == [dt.date(1, 1, 1)]


@pytest.mark.parametrize("text", ["Central", "W", "Westt", "Nord"])
def test_region_not_canonical_is_rejected(text):
    assert_only_rejected_for(read(row(region=text)), "Region")


@pytest.mark.parametrize("text", ["PENDING", "SHIP", "closed"])
def test_status_not_canonical_is_rejected(text):
    assert_only_rejected_for(read(row(status=text)), "Status")


@pytest.mark.parametrize("text", ["US", "USDX", "U5D", "ÜSD", "U D"])
def test_currency_not_three_letters_is_rejected(text):
    assert_only_rejected_for(read(row(currency=text)), "Currency")


def test_every_broken_field_of_a_row_is_named_in_its_reason():
    result = read(row(sku=" ", qty="0", unit_price="-1", currency="US"))
    [reason] = reasons(result)
    for header in ("SKU", "Qty", "Unit Price", "Currency"):
        assert header in reason
    for header in ("SO Number", "Customer ID", "Region", "Status"):
        assert header not in reason


def test_line_amount_beyond_decimal_18_2_is_never_a_silent_or_raw_failure():
    """2000 x 9,999,999,999,999.99 does not fit decimal128(18, 2).

    The contract allows a quarantine row or a clear error naming the file;
    a wrapped-around amount or a bare pyarrow exception is neither.
    """
    try:
        result = read(row(so_number="SO-0"), row(so_number="SO-00"),
                      row(qty="2000", unit_price="9999999999999.99"))
    except ContractError as error:
        assert SOURCE in str(error)
    else:
        assert column(result, "so_number") == ["SO-0", "SO-00"]
        assert result.rejects.column("so_number").to_pylist() == ["SO-1"]


# --- rule 2: the rejects table ------------------------------------------------


def test_rejects_table_has_every_contract_field_as_text_plus_source_row_and_reason():
    result = read(row(qty="0"))
    assert result.rejects.schema == pa.schema(
        [(name, pa.string()) for name in NAMES]
        + [("source_file", pa.string()), ("row_number", pa.int64()),
           ("reject_reason", pa.string())])


def test_rejects_keep_every_original_field_as_raw_text():
    raw = dict(GOOD, qty=" 0 ", region=" west ", customer_name="  Acme, Inc. ",
               unit_price="1,234.50", line="+01")
    quoted = dict(raw, customer_name='"  Acme, Inc. "', unit_price='"1,234.50"')
    result = read(row(**quoted))
    [reject] = result.rejects.to_pylist()
    assert {name: reject[name] for name in NAMES} == raw


def test_reject_records_source_file_and_one_based_row_number():
    result = read(row(so_number="SO-A"), row(so_number="SO-B"), row(qty="0"))
    [reject] = result.rejects.to_pylist()
    assert reject["source_file"] == SOURCE
    assert reject["row_number"] == 3


def test_blank_lines_do_not_count_towards_row_number():
    data = landing("", row(so_number="SO-A"), "", "", row(qty="0"), "", row(line="0"))
    result = read_bytes(data)
    assert result.rejects.column("row_number").to_pylist() == [2, 3]


def test_row_numbers_stay_right_across_read_blocks(monkeypatch):
    monkeypatch.setattr(formats, "CSV_BLOCK_SIZE", 1024)
    rows = [row(so_number=f"SO-{i}", qty="0" if i % 17 == 0 else "2") for i in range(1, 120)]
    result = read(*rows)
    assert result.rejects.column("row_number").to_pylist() == [17, 34, 51, 68, 85, 102, 119]
    assert result.silver.num_rows == 119 - 7


def test_rejected_row_never_reaches_silver():
    result = read(row(so_number="SO-A"), row(so_number="SO-B", qty="0"), row(so_number="SO-C"))
    assert sorted(column(result, "so_number")) == ["SO-A", "SO-C"]
    assert result.rejects.column("so_number").to_pylist() == ["SO-B"]


def test_rejected_row_does_not_take_part_in_dedup():
    later_but_broken = row(qty="0", last_modified="2026-01-27 23:00:00")
    result = read(row(qty="5"), later_but_broken)
    assert column(result, "qty") == [5]


def test_rejected_duplicate_does_not_hide_an_earlier_valid_row_that_comes_after_it():
    later_but_broken = row(unit_price="-1", last_modified="2026-01-27 23:00:00")
    result = read(later_but_broken, row(qty="5"), row(so_number="SO-2"))
    assert sorted(zip(column(result, "so_number"), column(result, "qty"))) == [
        ("SO-1", 5), ("SO-2", 2)]


def test_rejects_table_is_empty_when_every_row_is_valid():
    result = read(row(), row(so_number="SO-2"))
    assert result.rejects.num_rows == 0
    assert result.rejects.schema == SO.rejects_schema


def test_landed_rows_count_valid_and_rejected_records_before_dedup():
    result = read(row(), row(), row(qty="0"), row(so_number="SO-2"))
    assert result.landed_rows == 4
    assert result.silver.num_rows == 2


# --- rule 3: duplicates -------------------------------------------------------


def test_duplicate_lines_keep_latest_last_modified():
    newer_first = row(qty="5", last_modified="2026-01-27 14:00:00")
    result = read(newer_first, row(qty="9"))
    assert column(result, "qty") == [5]


def test_duplicate_lines_keep_latest_last_modified_when_it_comes_last():
    result = read(row(qty="9"), row(qty="5", last_modified="2026-01-27 14:00:00"))
    assert column(result, "qty") == [5]


def test_exact_tie_keeps_last_row_in_file():
    result = read(row(qty="9"), row(qty="5"), row(qty="7"))
    assert column(result, "qty") == [7]


def test_last_modified_one_second_later_wins():
    result = read(row(qty="9", last_modified="2026-01-27 13:45:11"), row(qty="5"))
    assert column(result, "qty") == [9]


def test_other_lines_of_the_same_order_are_not_duplicates():
    result = read(row(line="1"), row(line="2"), row(so_number="SO-2", line="1"))
    assert sorted(zip(column(result, "so_number"), column(result, "line"))) == [
        ("SO-1", 1), ("SO-1", 2), ("SO-2", 1)]


def test_line_is_compared_as_a_number_when_deduplicating():
    result = read(row(line="1", qty="9"), row(line="+01", qty="5"))
    assert (column(result, "line"), column(result, "qty")) == ([1], [5])


# --- exact money --------------------------------------------------------------


@pytest.mark.parametrize(("qty", "price", "amount"), [
    ("3", "0.10", "0.30"),
    ("7", "19.99", "139.93"),
    ('"1,200"', '"1,234.50"', "1481400.00"),
    ("999999", "0.01", "9999.99"),
    ("1", "99999999999999.99", "99999999999999.99"),
])
def test_line_amount_is_qty_times_unit_price_exactly(qty, price, amount):
    result = read(row(qty=qty, unit_price=price), row(so_number="SO-2"))
    assert column(result, "line_amount")[0] == Decimal(amount)


def test_sum_of_many_ten_cent_lines_is_exact():
    result = read(*[row(line=str(n), unit_price="0.10", qty="1") for n in range(1, 1001)])
    assert result.silver.column("line_amount").type == pa.decimal128(18, 2)
    assert pc.sum(result.silver.column("line_amount")).as_py() == Decimal("100.00")


# --- how a landing file may be spelled ----------------------------------------


def test_byte_order_mark_is_ignored():
    result = read_bytes(b"\xef\xbb\xbf" + landing(row(), row(so_number="SO-2")))
    assert sorted(column(result, "so_number")) == ["SO-1", "SO-2"]
    assert result.extra_columns == []


def test_quoted_commas_and_doubled_quotes_are_read():
    result = read(row(customer_name='"Acme, ""Best"" Inc."'))
    assert column(result, "customer_name") == ['Acme, "Best" Inc.']


def test_quoted_line_break_inside_a_value_is_kept():
    result = read(row(customer_name='"Nordic Trading\nAB"'), row(so_number="SO-2", qty="0"))
    assert column(result, "customer_name") == ["Nordic Trading\nAB"]
    assert result.rejects.column("row_number").to_pylist() == [2]


def test_thousands_separators_in_qty_and_unit_price():
    result = read(row(qty='"1,200"', unit_price='"1,234.50"'))
    assert column(result, "qty") == [1200]
    assert column(result, "unit_price") == [Decimal("1234.50")]


def test_crlf_line_endings_are_read():
    data = landing(row(), row(so_number="SO-2", currency="us"), newline="\r\n")
    result = read_bytes(data)
    assert column(result, "last_modified") == [dt.datetime(2026, 1, 27, 13, 45, 10)]
    assert result.rejects.column("last_modified").to_pylist() == ["2026-01-27 13:45:10"]


def test_last_record_without_a_line_ending_is_read():
    result = read_bytes(landing(row(so_number="SO-2")) + row().encode())
    assert sorted(column(result, "so_number")) == ["SO-1", "SO-2"]


def test_columns_may_come_in_any_order():
    order = list(reversed(NAMES))
    header = ",".join(HEADER_OF[name] for name in order)
    record = ",".join(GOOD[name] for name in order)
    assert silver_rows(read(record, header=header)) == silver_rows(read(row()))


def test_headers_match_after_trimming_and_case_folding():
    header = ",".join(f"  {h.upper()} " if i % 2 else h.lower() for i, h in enumerate(HEADERS))
    result = read(row(), row(so_number="SO-2"), header=header)
    assert sorted(column(result, "so_number")) == ["SO-1", "SO-2"]


def test_extra_columns_are_dropped_and_reported():
    header = "Warehouse," + HEADER + ", Note "
    result = read('"WH-2, Bay 7",' + row() + ",x", '"",' + row(so_number="SO-2") + ",y",
                  header=header)
    assert result.silver.schema.names == SO.silver_schema.names
    assert result.rejects.schema.names == SO.rejects_schema.names
    assert [e.strip() for e in result.extra_columns] == ["Warehouse", "Note"]
    assert sorted(column(result, "so_number")) == ["SO-1", "SO-2"]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_quoted_header_name_may_hold_a_line_break(newline):
    header = HEADER + ',"Buyer' + newline + 'Comment"'
    data = landing(row() + ',"hello' + newline + 'there"', row(so_number="SO-2") + ",x",
                   header=header, newline=newline)
    result = read_bytes(b"\xef\xbb\xbf" + data)
    assert [e.replace("\r", "") for e in result.extra_columns] == ["Buyer\nComment"]
    assert column(result, "so_number") == ["SO-1", "SO-2"]
    assert result.rejects.num_rows == 0


def test_blank_lines_are_ignored():
    data = b"\n\n" + landing("", row(), "", row(so_number="SO-2"), "", "")
    result = read_bytes(data)
    assert (result.silver.num_rows, result.rejects.num_rows, result.landed_rows) == (2, 0, 2)


def test_whitespace_only_line_is_ignored_as_blank():
    result = read_bytes(landing(row(), "   ", row(so_number="SO-2"), "\t"))
    assert (result.silver.num_rows, result.rejects.num_rows) == (2, 0)


def test_header_only_file_gives_zero_rows():
    result = read()
    assert (result.silver.num_rows, result.rejects.num_rows, result.landed_rows) == (0, 0, 0)
    assert result.silver.schema == SO.silver_schema
    assert result.rejects.schema == SO.rejects_schema


def test_header_without_line_ending_gives_zero_rows():
    result = read_bytes(HEADER.encode())
    assert (result.silver.num_rows, result.rejects.num_rows) == (0, 0)


# --- rule 4: file-level errors ------------------------------------------------


def contract_error(data: bytes) -> str:
    """The one-line ContractError message ``read_silver`` raises for ``data``."""
    with pytest.raises(ContractError) as caught:
        read_bytes(data)
    message = str(caught.value)
    assert SOURCE in message
    assert "\n" not in message
    return message


@pytest.mark.parametrize("header", HEADERS)
def test_missing_column_fails_the_file_naming_it(header):
    without = ",".join(h for h in HEADERS if h != header)
    assert header in contract_error(landing(header=without))


def test_missing_column_fails_the_file_even_with_an_extra_column_in_its_place():
    header = HEADER.replace("Qty", "Quantity")
    assert "Qty" in contract_error(landing(header=header))


def test_column_named_twice_fails_the_file():
    contract_error(landing(row() + ",3", header=HEADER + ", qty "))


def test_invalid_utf8_in_header_fails_the_file():
    data = landing(row())
    assert "UTF-8" in contract_error(data.replace(b"Customer Name", b"Customer N\xe4me"))


def test_invalid_utf8_in_a_data_row_fails_the_file():
    data = landing(row(), row(so_number="SO-2", customer_name="Caf\u00e9"))
    assert "UTF-8" in contract_error(data.replace("\u00e9".encode(), b"\xe9"))


def test_invalid_utf8_in_a_dropped_extra_column_still_fails_the_file():
    data = landing(row() + ",ok", row(so_number="SO-2") + ",caf\u00e9", header=HEADER + ",Note")
    assert "UTF-8" in contract_error(data.replace("\u00e9".encode(), b"\xe9"))


def test_empty_file_has_no_header_and_fails():
    contract_error(b"")


def test_file_of_only_a_byte_order_mark_and_blank_lines_has_no_header_and_fails():
    contract_error(b"\xef\xbb\xbf\r\n\n\r\n")


def test_contract_error_carries_the_file_name():
    with pytest.raises(ContractError) as caught:
        read_bytes(b"")
    assert caught.value.source == SOURCE
