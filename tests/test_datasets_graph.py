"""PO, INV, GL and ``inv_days_of_cover`` (contract section 4), built through luigi.

Each test writes a few hand-made landing files into a temporary landing
root, builds the gold task it is about with luigi, and reads what the lake
published at the contract's paths. File names, headers and paths are written
out from the contract, not taken from the code under test.

The tiny files reject a large share of their rows on purpose, so the
``max_reject_ratio`` gate is lifted for these tests (luigi's own task
configuration, as an operator would set it).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Dict, List

import luigi.configuration
import pyarrow.parquet as pq
import pytest
from luigi.execution_summary import LuigiStatusCode

from etl_targets import GoldGL, GoldINV, GoldInvCover, GoldPO, SilverGL, SilverINV, SilverSO
from etl_targets.cli import main
from etl_targets.datasets.cover import inv_days_of_cover
from etl_targets.errors import ContractError

from support.lakes import roots

D = dt.date(2026, 3, 10)
PREFIX = {"po": "zhePO", "inv": "zheINV", "gl": "zheGL", "so": "zheSO"}
HEADERS = {
    "po": ["PO Number", "Line", "Order Date", "Vendor ID", "Vendor Name", "SKU", "Qty Ordered",
           "Qty Received", "Unit Cost", "Currency", "Status", "Expected Date", "Last Modified"],
    "inv": ["SKU", "Warehouse", "On Hand", "Allocated", "Unit Cost", "Currency", "Snapshot Time"],
    "gl": ["Journal ID", "Line", "Posting Date", "Account", "Account Name", "Debit", "Credit",
           "Currency", "Description", "Last Modified"],
    "so": ["SO Number", "Line", "Order Date", "Customer ID", "Customer Name", "Region", "SKU",
           "Qty", "Unit Price", "Currency", "Status", "Last Modified"],
}
GOOD = {
    "po": {"PO Number": "PO-1", "Line": "1", "Order Date": "3/1/2026", "Vendor ID": "V1",
           "Vendor Name": "Acme", "SKU": "SKU-1", "Qty Ordered": "10", "Qty Received": "4",
           "Unit Cost": "2.5000", "Currency": "usd", "Status": "open",
           "Expected Date": "03/20/2026", "Last Modified": "2026-03-10 09:00:00"},
    "inv": {"SKU": "SKU-1", "Warehouse": " wh-1 ", "On Hand": "10", "Allocated": "3",
            "Unit Cost": "1.5000", "Currency": "usd", "Snapshot Time": "2026-03-10 23:00:00"},
    "gl": {"Journal ID": "J-1", "Line": "1", "Posting Date": "3/10/2026", "Account": "1000",
           "Account Name": "Cash", "Debit": "100.00", "Credit": "", "Currency": "usd",
           "Description": "", "Last Modified": "2026-03-10 09:00:00"},
    "so": {"SO Number": "SO-1", "Line": "1", "Order Date": "03/10/2026", "Customer ID": "C1",
           "Customer Name": "", "Region": "West", "SKU": "SKU-1", "Qty": "1",
           "Unit Price": "1.00", "Currency": "usd", "Status": "shipped",
           "Last Modified": "2026-03-10 09:00:00"},
}
RATIO_SECTIONS = ("SilverPO", "SilverINV", "SilverGL", "SilverSO")


def landing_name(folder: str, day: dt.date) -> str:
    return f"{PREFIX[folder]}-{day.year}-{day.month}-{day.day}.csv"


def write(landing: Path, folder: str, day: dt.date, *rows: Dict[str, str]) -> Path:
    """A landing file of ``folder`` for ``day``: the header, then GOOD with each row's changes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADERS[folder])
    for changes in rows:
        fields = dict(GOOD[folder], **changes)
        writer.writerow([fields[h] for h in HEADERS[folder]])
    path = landing / folder / landing_name(folder, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def gold(lake: Path, table: str, day: dt.date = D) -> List[dict]:
    return pq.read_table(lake / "gold" / table / f"date={day.isoformat()}" / "data.parquet").to_pylist()


def silver(lake: Path, folder: str, day: dt.date = D) -> List[dict]:
    return pq.read_table(lake / "silver" / folder / f"date={day.isoformat()}" / "data.parquet").to_pylist()


def rejects(lake: Path, folder: str, day: dt.date = D) -> List[dict]:
    return silver(lake, f"{folder}_rejects", day)


@pytest.fixture(autouse=True)
def tolerant_silver():
    """``[SilverX] max_reject_ratio = 1`` for the duration of a test."""
    config = luigi.configuration.get_config()
    added = [s for s in RATIO_SECTIONS if not config.has_section(s)]
    for section in RATIO_SECTIONS:
        if section in added:
            config.add_section(section)
        config.set(section, "max_reject_ratio", "1")
    yield
    for section in added:
        config.remove_section(section)


@pytest.fixture
def build(tmp_lake, tmp_landing, luigi_build):
    """``build(TaskClass, day=D)``: builds one task in the test's lake; asserts success."""
    def run(*classes, day: dt.date = D, succeed: bool = True):
        done = luigi_build([cls(date=day, **roots(tmp_lake, tmp_landing)) for cls in classes])
        if succeed:
            assert done.status == LuigiStatusCode.SUCCESS, done.result.summary_text
        return done
    return run


# --- PO ---------------------------------------------------------------------------


def test_po_line_received_beyond_ordered_is_rejected_naming_qty_received(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D, {}, {"Line": "2", "Qty Ordered": "5", "Qty Received": "6"})
    build(GoldPO)
    [reject] = rejects(tmp_lake, "po")
    assert (reject["line"], reject["row_number"]) == ("2", 2)
    assert reject["reject_reason"].startswith("Qty Received:")
    assert [r["line"] for r in silver(tmp_lake, "po")] == [1]


def test_po_fully_received_line_is_valid(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D, {"Qty Ordered": "5", "Qty Received": "5", "Status": "received"})
    build(GoldPO)
    assert rejects(tmp_lake, "po") == []
    assert silver(tmp_lake, "po")[0]["open_qty"] == 0


def test_cost_with_five_decimals_is_rejected_never_rounded(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D, {"Unit Cost": "1.23456"})
    write(tmp_landing, "inv", D, {"Unit Cost": "1.23456"})
    build(GoldPO, GoldINV)
    for folder in ("po", "inv"):
        [reject] = rejects(tmp_lake, folder)
        assert reject["reject_reason"].startswith("Unit Cost:")
        assert reject["unit_cost"] == "1.23456"


def test_cost_12_5000_is_accepted_as_12_5(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D, {"Unit Cost": "12.5000"})
    write(tmp_landing, "inv", D, {"Unit Cost": "8,287.0400"})  # quoted by the CSV writer
    build(GoldPO, GoldINV)
    assert silver(tmp_lake, "po")[0]["unit_cost"] == Decimal("12.5")
    assert silver(tmp_lake, "inv")[0]["unit_cost"] == Decimal("8287.04")


def test_po_open_value_is_open_qty_times_unit_cost_exactly(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D, {"Qty Ordered": "7", "Qty Received": "2", "Unit Cost": "0.3333"})
    build(GoldPO)
    row = silver(tmp_lake, "po")[0]
    assert (row["open_qty"], row["open_value"]) == (5, Decimal("1.6665"))


def test_po_open_by_vendor_keeps_open_and_partial_and_sums_overdue_value(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D,
          {"Line": "1", "Expected Date": "03/09/2026"},                     # overdue: 6 x 2.5
          {"Line": "2", "Status": "partial", "Expected Date": "03/10/2026"},  # due today
          {"Line": "3", "Expected Date": ""},                                 # no date: never overdue
          {"Line": "4", "Status": "closed"},
          {"Line": "5", "Vendor ID": "V2", "Status": "cancelled"})
    build(GoldPO)
    assert gold(tmp_lake, "po_open_by_vendor") == [{
        "vendor_id": "V1", "currency": "USD", "open_lines": 3, "open_qty": 18,
        "open_value": Decimal("45.0000"), "overdue_value": Decimal("15.0000")}]


def test_po_vendor_with_nothing_overdue_has_overdue_value_zero(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D, {"Expected Date": "12/31/2026"})
    build(GoldPO)
    assert gold(tmp_lake, "po_open_by_vendor")[0]["overdue_value"] == Decimal("0")


def test_po_duplicate_lines_keep_the_latest_last_modified(tmp_lake, tmp_landing, build):
    write(tmp_landing, "po", D, {"Qty Received": "1", "Last Modified": "2026-03-10 12:00:00"},
          {"Qty Received": "2", "Last Modified": "2026-03-10 08:00:00"},
          {"Qty Received": "3", "Last Modified": "2026-03-10 12:00:00"})
    build(GoldPO)
    assert [r["qty_received"] for r in silver(tmp_lake, "po")] == [3]  # tie: last in file


# --- INV --------------------------------------------------------------------------


def test_inv_value_by_warehouse_sums_available_never_below_zero(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D,
          {"SKU": "A", "On Hand": "10", "Allocated": "3", "Unit Cost": "1.5000"},
          {"SKU": "B", "On Hand": "2", "Allocated": "5", "Unit Cost": "0.1250"},
          {"SKU": "C", "Warehouse": "WH-2", "On Hand": "1", "Allocated": "0"})
    build(GoldINV)
    assert gold(tmp_lake, "inv_value_by_warehouse") == [
        {"warehouse": "WH-1", "currency": "USD", "skus": 2, "on_hand": 12, "available": 7,
         "value": Decimal("15.2500")},
        {"warehouse": "WH-2", "currency": "USD", "skus": 1, "on_hand": 1, "available": 1,
         "value": Decimal("1.5000")}]


def test_inv_duplicate_sku_and_warehouse_keeps_the_latest_snapshot(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D, {"On Hand": "9", "Snapshot Time": "2026-03-10 23:59:59"},
          {"On Hand": "1", "Warehouse": "wh-1", "Snapshot Time": "2026-03-10 06:00:00"})
    build(GoldINV)
    assert [(r["warehouse"], r["on_hand"]) for r in silver(tmp_lake, "inv")] == [("WH-1", 9)]


def test_inv_warehouse_spellings_that_case_fold_alike_are_one_warehouse(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D,
          {"SKU": "A", "Warehouse": " straße ", "On Hand": "1", "Snapshot Time": "2026-03-10 06:00:00"},
          {"SKU": "A", "Warehouse": "STRASSE", "On Hand": "2", "Snapshot Time": "2026-03-10 23:00:00"},
          {"SKU": "B", "Warehouse": "STRA\u1e9eE", "On Hand": "4"})
    build(GoldINV)
    assert [(r["sku"], r["warehouse"], r["on_hand"]) for r in silver(tmp_lake, "inv")] == [
        ("A", "STRASSE", 2), ("B", "STRASSE", 4)]
    assert [(r["warehouse"], r["skus"]) for r in gold(tmp_lake, "inv_value_by_warehouse")] == [
        ("STRASSE", 2)]


# --- GL ---------------------------------------------------------------------------


def balanced(journal: str, amount: str = "100.00", **changes) -> List[Dict[str, str]]:
    return [dict({"Journal ID": journal, "Line": "1", "Debit": amount, "Credit": ""}, **changes),
            dict({"Journal ID": journal, "Line": "2", "Account": "4000", "Debit": "",
                  "Credit": amount}, **changes)]


def test_gl_line_with_both_debit_and_credit_is_rejected(tmp_lake, tmp_landing, build):
    write(tmp_landing, "gl", D, *balanced("J-1"),
          {"Journal ID": "J-2", "Debit": "5.00", "Credit": "5.00"})
    build(SilverGL)  # the trial balance is month to date
    [reject] = rejects(tmp_lake, "gl")
    assert (reject["journal_id"], reject["row_number"]) == ("J-2", 3)
    assert "Debit" in reject["reject_reason"] and "Credit" in reject["reject_reason"]


def test_gl_line_with_neither_debit_nor_credit_is_rejected(tmp_lake, tmp_landing, build):
    write(tmp_landing, "gl", D, *balanced("J-1"), {"Journal ID": "J-2", "Debit": "0", "Credit": ""})
    build(SilverGL)  # the trial balance is month to date
    assert [r["journal_id"] for r in rejects(tmp_lake, "gl")] == ["J-2"]


def test_gl_empty_debit_or_credit_means_zero(tmp_lake, tmp_landing, build):
    write(tmp_landing, "gl", D, *balanced("J-1"))
    build(SilverGL)  # the trial balance is month to date
    assert [(r["debit"], r["credit"]) for r in silver(tmp_lake, "gl")] == [
        (Decimal("100.00"), Decimal("0.00")), (Decimal("0.00"), Decimal("100.00"))]


def test_unbalanced_journal_is_rejected_whole_as_journal_unbalanced_with_its_row_numbers(
        tmp_lake, tmp_landing, build):
    write(tmp_landing, "gl", D,
          *balanced("J-1"),
          {"Journal ID": "J-2", "Line": "1", "Debit": "50.00", "Last Modified": "2026-03-10 08:00:00"},
          {"Journal ID": "J-2", "Line": "2", "Debit": "", "Credit": "40.00"},
          {"Journal ID": "J-2", "Line": "3", "Debit": "", "Credit": "10.00", "Currency": "eur"},
          {"Journal ID": "J-2", "Line": "1", "Debit": "60.00", "Last Modified": "2026-03-10 07:00:00"})
    build(SilverGL)  # the trial balance is month to date
    found = rejects(tmp_lake, "gl")
    assert [(r["line"], r["row_number"], r["reject_reason"]) for r in found] == [
        ("1", 3, "journal unbalanced"), ("2", 4, "journal unbalanced"),
        ("3", 5, "journal unbalanced")]  # row 6 lost the dedup to row 3: dropped, not rejected
    assert found[0]["debit"] == "50.00"  # the raw text
    assert {r["journal_id"] for r in silver(tmp_lake, "gl")} == {"J-1"}


def test_gl_journal_balances_per_currency(tmp_lake, tmp_landing, build):
    write(tmp_landing, "gl", D, *balanced("J-1"),
          {"Journal ID": "J-1", "Line": "3", "Debit": "7.00", "Currency": "eur"},
          {"Journal ID": "J-1", "Line": "4", "Debit": "", "Credit": "7.00", "Currency": "eur"})
    build(SilverGL)  # the trial balance is month to date
    assert rejects(tmp_lake, "gl") == []
    assert len(silver(tmp_lake, "gl")) == 4


def test_journal_resent_on_a_later_day_replaces_its_lines_in_the_mtd_trial_balance(
        tmp_lake, tmp_landing, build):
    first, later = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    write(tmp_landing, "gl", first, *balanced("J-1", "100.00", **{"Last Modified": "2026-03-01 09:00:00"}))
    write(tmp_landing, "gl", later,
          *balanced("J-1", "80.00", **{"Last Modified": "2026-03-02 09:00:00"}),
          *balanced("J-2", "5.00"))
    build(GoldGL, day=first)
    assert [(r["account"], r["debit"], r["credit"]) for r in gold(tmp_lake, "gl_trial_balance", first)] == [
        ("1000", Decimal("100.00"), Decimal("0.00")), ("4000", Decimal("0.00"), Decimal("100.00"))]
    build(GoldGL, day=later)
    assert gold(tmp_lake, "gl_trial_balance", later) == [
        {"account": "1000", "currency": "USD", "debit": Decimal("85.00"),
         "credit": Decimal("0.00"), "net": Decimal("85.00")},
        {"account": "4000", "currency": "USD", "debit": Decimal("0.00"),
         "credit": Decimal("85.00"), "net": Decimal("-85.00")}]


def test_trial_balance_tie_on_last_modified_goes_to_the_later_date(tmp_lake, tmp_landing, build):
    first, later = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    write(tmp_landing, "gl", first, *balanced("J-1", "100.00"))
    write(tmp_landing, "gl", later, *balanced("J-1", "30.00"))  # same Last Modified
    build(GoldGL, day=later)
    assert gold(tmp_lake, "gl_trial_balance", later)[0]["debit"] == Decimal("30.00")


# --- inv_days_of_cover -------------------------------------------------------------

WEEK = [D - dt.timedelta(days=back) for back in range(6, -1, -1)]


def land_week(landing: Path, sales: Dict[dt.date, List[Dict[str, str]]]) -> None:
    """SO files for D-6..D (empty days are header-only files)."""
    for day in WEEK:
        write(landing, "so", day, *sales.get(day, []))


def cover(lake: Path) -> Dict[str, tuple]:
    return {r["sku"]: (r["on_hand"], r["sold_7d"], r["avg_daily_qty"], r["days_of_cover"])
            for r in gold(lake, "inv_days_of_cover")}


def test_cover_of_d_requires_inv_silver_of_d_and_so_silver_of_the_seven_days_to_d(tmp_lake, tmp_landing):
    task = GoldInvCover(date=D, **roots(tmp_lake, tmp_landing))
    wanted = sorted((type(t).__name__, t.date) for t in task.deps())
    assert wanted == sorted([("SilverINV", D)] + [("SilverSO", day) for day in WEEK])
    assert WEEK[0] == dt.date(2026, 3, 4)


def test_cover_counts_sales_of_seven_days_deduplicated_and_not_cancelled(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D, {"SKU": "A", "On Hand": "10"}, {"SKU": "A", "Warehouse": "WH-2",
                                                                 "On Hand": "5"})
    land_week(tmp_landing, {
        WEEK[0]: [{"SO Number": "SO-1", "SKU": "A", "Qty": "4", "Last Modified": "2026-03-04 09:00:00"}],
        # SO-1 re-sent later: replaces the first line (4 -> 2)
        WEEK[3]: [{"SO Number": "SO-1", "SKU": "A", "Qty": "2", "Last Modified": "2026-03-07 09:00:00"},
                  {"SO Number": "SO-2", "SKU": "A", "Qty": "9", "Status": "cancelled"}],
        D: [{"SO Number": "SO-3", "SKU": "A", "Qty": "1"}],
    })
    build(GoldInvCover)
    assert cover(tmp_lake) == {"A": (15, 3, Decimal("0.43"), Decimal("35.00"))}


def test_sku_without_sales_has_sold_7d_zero_and_null_days_of_cover(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D, {"SKU": "A", "On Hand": "1"}, {"SKU": "B", "On Hand": "4"})
    land_week(tmp_landing, {D: [{"SKU": "A", "Qty": "56"}, {"SO Number": "SO-9", "SKU": "Z"}]})
    build(GoldInvCover)
    assert cover(tmp_lake) == {
        "A": (1, 56, Decimal("8.00"), Decimal("0.13")),  # 7/56 = 0.125: half away from zero
        "B": (4, 0, Decimal("0.00"), None)}            # SKU Z sold, but not in stock: no row


def test_cover_ignores_sales_older_than_six_days_before_d(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D, {"SKU": "A", "On Hand": "3"})
    land_week(tmp_landing, {})
    write(tmp_landing, "so", D - dt.timedelta(days=7), {"SKU": "A", "Qty": "100"})
    build(GoldInvCover)
    assert cover(tmp_lake) == {"A": (3, 0, Decimal("0.00"), None)}


def test_cover_builds_only_what_is_missing_of_both_datasets(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D, {"SKU": "A"})
    land_week(tmp_landing, {})
    build(SilverSO, day=WEEK[2])
    build(SilverINV)
    done = build(GoldInvCover)
    assert done.ran_names() == sorted(
        ["GoldInvCover(2026-03-10)"] + [f"BronzeSO({d})" for d in WEEK if d != WEEK[2]]
        + [f"SilverSO({d})" for d in WEEK if d != WEEK[2]])


@pytest.mark.parametrize("on_hand, too_large", [
    ("100000000000000000", "days_of_cover of sku A is 700000000000000000.00"),  # beyond decimal(18, 2)
    ("9223372036854775807", "on_hand of sku A is 18446744073709551614"),      # summed beyond int64
])
def test_cover_too_large_for_its_column_fails_naming_date_and_sku(tmp_lake, tmp_landing, build,
                                                                   on_hand, too_large):
    free = {"SKU": "A", "On Hand": on_hand, "Unit Cost": "0"}  # stock_value 0 fits
    write(tmp_landing, "inv", D, free, dict(free, Warehouse="WH-2"))
    land_week(tmp_landing, {D: [{"SKU": "A", "Qty": "2"}]})
    with pytest.raises(ContractError) as caught:
        inv_days_of_cover(pq.read_table(_silver_after(build, tmp_lake, SilverINV)),
                          pq.read_table(_silver_after(build, tmp_lake, SilverSO)), day=D)
    message = str(caught.value)
    assert message.startswith(f"gold inv_days_of_cover for {D}: ") and too_large in message
    assert "\n" not in message
    done = build(GoldInvCover, succeed=False)
    assert done.status != LuigiStatusCode.SUCCESS
    assert not (tmp_lake / "gold" / "inv_days_of_cover").exists()


def _silver_after(build, lake: Path, task) -> Path:
    build(task)
    folder = task.dataset.folder
    return lake / "silver" / folder / f"date={D.isoformat()}" / "data.parquet"


def test_cover_with_a_missing_so_day_fails_naming_that_landing_file(tmp_lake, tmp_landing, build):
    write(tmp_landing, "inv", D, {"SKU": "A"})
    land_week(tmp_landing, {})
    (tmp_landing / "so" / landing_name("so", WEEK[1])).unlink()
    done = build(GoldInvCover, succeed=False)
    assert done.status != LuigiStatusCode.SUCCESS
    assert [(t.task_family, t.date) for t in done.missing] == [("LandingSO", WEEK[1])]
    assert not (tmp_lake / "gold" / "inv_days_of_cover").exists()


# --- the CLI ----------------------------------------------------------------------


def test_cli_cover_builds_days_of_cover_only(tmp_lake, tmp_landing, capsys):
    write(tmp_landing, "inv", D, {"SKU": "A"})
    land_week(tmp_landing, {})
    assert main(["cover", "--date", D.isoformat()]) == 0
    assert sorted(p.name for p in (tmp_lake / "gold").iterdir()) == ["inv_days_of_cover"]


def test_cli_inv_builds_its_own_table_without_needing_sales(tmp_lake, tmp_landing, capsys):
    write(tmp_landing, "inv", D, {"SKU": "A"})
    assert main(["inv", "--date", D.isoformat()]) == 0
    assert sorted(p.name for p in (tmp_lake / "gold").iterdir()) == ["inv_value_by_warehouse"]


def test_cli_all_builds_every_gold_table_of_every_dataset(tmp_lake, tmp_landing, rates_api,
                                                          capsys):
    for folder in ("po", "inv"):
        write(tmp_landing, folder, D, {})
    write(tmp_landing, "gl", dt.date(2026, 3, 1), *balanced("J-0"))
    for day in [dt.date(2026, 3, n) for n in range(2, 11)]:
        write(tmp_landing, "gl", day, *balanced(f"J-{day.day}"))
        write(tmp_landing, "so", day, {})
    write(tmp_landing, "so", dt.date(2026, 3, 1), {})
    assert main(["all", "--date", D.isoformat()]) == 0
    assert sorted(p.name for p in (tmp_lake / "gold").iterdir()) == [
        "gl_trial_balance", "inv_days_of_cover", "inv_value_by_warehouse", "po_open_by_vendor",
        "so_daily_sales", "so_mtd_by_region", "so_revenue_usd"]


def test_cli_all_with_one_dataset_missing_exits_4_naming_its_file(tmp_lake, tmp_landing,
                                                                   rates_api, capsys):
    write(tmp_landing, "po", D, {})
    code = main(["all", "--date", D.isoformat()])
    output = capsys.readouterr()
    assert code == 4
    assert landing_name("inv", D) in output.out + output.err
    assert gold(tmp_lake, "po_open_by_vendor")  # what could be built was built


def test_cli_input_is_refused_for_all(capsys):
    assert main(["all", "--date", D.isoformat(), "--input", "x.csv"]) == 2
