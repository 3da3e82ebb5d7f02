"""Specification of the PO, INV and GL sample data, and of their reference.

The generators (``etl_targets.datasets.samples.po``/``inv``/``gl``) must
write files the data contract accepts, with the messiness it allows,
reproducibly; the shipped January 2026 must be what the documented command
writes. The files are read here with Python's csv module and judged by the
independent reference (``tests/reference_datasets.py``), which gets its own
short tests on hand-written files at the end.
"""

from __future__ import annotations

import ast
import collections
import csv
import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from etl_targets.datasets.samples import gl, inv, po, so

# tests/ is on sys.path (see conftest.py).
import reference_so
from foreign_datasets import UNSOLD_SKUS, write_foreign_days
from reference_datasets import (
    GL, INV, PO, UNBALANCED, ReferenceContractError, gl_trial_balance, inv_days_of_cover,
    inv_value_by_warehouse, last_seven_days, parse_landing, po_open_by_vendor)
from support.paths import REPO, SAMPLE_LANDING

JAN = [dt.date(2026, 1, d) for d in range(1, 32)]
GENERATORS = {"po": po, "inv": inv, "gl": gl}
SPECS = {"po": PO, "inv": INV, "gl": GL}
#: The README's command for every shipped sample file.
REGENERATE = ["-m", "etl_targets.datasets.samples", "--start", "2026-01-01", "--days", "31"]


def records(path: Path) -> tuple[list[str], list[dict]]:
    """Header (trimmed, case-folded) and data records keyed by it, blank lines skipped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(v.strip() for v in r)]
    header = [name.strip().casefold() for name in rows[0]]
    return header, [dict(zip(header, row)) for row in rows[1:]]


def shipped(folder: str, day: dt.date) -> Path:
    return SAMPLE_LANDING / folder / SPECS[folder].landing_name(day)


def reference(folder: str, day: dt.date) -> tuple[list, list]:
    path = shipped(folder, day)
    return parse_landing(SPECS[folder], path.read_bytes(), path.name)


@pytest.fixture(scope="module")
def so_silver():
    """The shipped SO month, read by the SO reference."""
    return {day: reference_so.parse_landing(p.read_bytes(), p.name)[0]
            for day in JAN for p in [SAMPLE_LANDING / "so" / f"zheSO-2026-1-{day.day}.csv"]}


# --- the generators -----------------------------------------------------------------


@pytest.mark.parametrize("folder", GENERATORS)
def test_same_seed_writes_identical_bytes(tmp_path, folder):
    first = GENERATORS[folder].generate(JAN[0], 3, tmp_path / "a", seed=42)
    second = GENERATORS[folder].generate(JAN[0], 3, tmp_path / "b", seed=42)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.mark.parametrize("folder", GENERATORS)
def test_different_seeds_write_different_bytes(tmp_path, folder):
    first = GENERATORS[folder].generate(JAN[0], 1, tmp_path / "a", seed=1)
    second = GENERATORS[folder].generate(JAN[0], 1, tmp_path / "b", seed=2)
    assert first[0].read_bytes() != second[0].read_bytes()


def test_the_documented_command_reproduces_every_shipped_file(tmp_path):
    out = tmp_path / "landing"
    subprocess.run([sys.executable, *REGENERATE, "--out", str(out)], cwd=REPO, check=True,
                   capture_output=True)
    for folder in ("so", "po", "inv", "gl"):
        names = sorted(p.name for p in (SAMPLE_LANDING / folder).iterdir())
        assert names == sorted(p.name for p in (out / folder).iterdir()), folder
        for name in names:
            assert (out / folder / name).read_bytes() == \
                (SAMPLE_LANDING / folder / name).read_bytes(), name


def test_file_names_do_not_zero_pad_month_or_day():
    day = dt.date(2026, 10, 5)
    assert (po.po_file_name(day), inv.inv_file_name(day), gl.gl_file_name(day)) == (
        "zhePO-2026-10-5.csv", "zheINV-2026-10-5.csv", "zheGL-2026-10-5.csv")
    assert {p.name for p in (SAMPLE_LANDING / "gl").iterdir()} == \
        {f"zheGL-2026-1-{d}.csv" for d in range(1, 32)}


@pytest.mark.parametrize("folder", GENERATORS)
def test_every_shipped_file_parses_and_has_the_contract_headers(folder):
    wanted = {title.casefold() for title, _, _, _ in SPECS[folder].columns}
    for day in JAN:
        header, rows = records(shipped(folder, day))
        assert wanted <= set(header), day
        assert all(len(r) == len(header) for r in rows), day


@pytest.mark.parametrize("folder", GENERATORS)
def test_files_vary_bom_header_spelling_column_order_and_extra_columns(folder):
    raws = [shipped(folder, day).read_bytes() for day in JAN]
    headers = [raw.decode("utf-8-sig").splitlines()[0].split(",") for raw in raws]
    titles = [title for title, _, _, _ in SPECS[folder].columns]
    assert 0 < sum(raw.startswith(b"\xef\xbb\xbf") for raw in raws) < len(raws)
    assert any(h == titles for h in headers)
    assert any(any(n not in titles for n in h) for h in headers)
    assert any([n.strip().casefold() for n in h][:len(titles)] != [t.casefold() for t in titles]
               for h in headers)
    assert any(len(h) > len(titles) for h in headers)
    assert any(b"\n\n" in raw or b"\r\n\r\n" in raw for raw in raws)


@pytest.mark.parametrize("folder", GENERATORS)
def test_shipped_days_are_small_and_a_little_messy_but_under_the_reject_gate(folder):
    for day in JAN:
        silver, rejects = reference(folder, day)
        landed = len(records(shipped(folder, day))[1])
        assert 100 <= landed <= 400, day
        assert len(rejects) / landed < 0.04, day
    assert sum(bool(reference(folder, day)[1]) for day in JAN) >= 20


@pytest.mark.parametrize("folder, reasons", [
    ("po", ("qty_received > qty_ordered", "unit_cost has more than 4 decimal places")),
    ("inv", ("unit_cost has more than 4 decimal places", "empty required field: warehouse")),
    ("gl", (UNBALANCED, "debit and credit both zero", "debit and credit both non-zero")),
])
def test_the_month_holds_rejects_of_each_kind(folder, reasons):
    seen = collections.Counter(r["reject_reason"] for day in JAN for r in reference(folder, day)[1])
    assert all(seen[reason] for reason in reasons), seen
    assert len(seen) >= 8, seen


@pytest.mark.parametrize("folder, column", [("po", "unit cost"), ("inv", "unit cost"),
                                            ("gl", "debit")])
def test_decimals_come_with_separators_and_extra_trailing_zeros(folder, column):
    values = {r[column] for day in JAN[:10] for r in records(shipped(folder, day))[1]}
    assert any("," in v for v in values)
    assert any(len(v.partition(".")[2]) > (2 if folder == "gl" else 4) and v.endswith("0")
               for v in values)


def test_inv_and_po_skus_come_from_the_so_catalog():
    catalog = {sku for sku, _, _ in so._catalog()[1]}
    for folder in ("po", "inv"):
        skus = {r["sku"] for day in JAN for r in reference(folder, day)[0]}
        assert skus and skus <= catalog, folder


def test_some_stocked_skus_never_sell_in_the_month(so_silver):
    sold = {r["sku"] for rows in so_silver.values() for r in rows if r["status"] != "CANCELLED"}
    stocked = {r["sku"] for r in reference("inv", JAN[-1])[0]}
    assert 3 <= len(stocked - sold) <= 10
    assert len(stocked & sold) >= 80


def test_days_of_cover_ranges_from_a_few_days_to_a_few_weeks(so_silver):
    day = dt.date(2026, 1, 27)
    cover = inv_days_of_cover(reference("inv", day)[0],
                              {d: so_silver[d] for d in last_seven_days(day)})
    values = sorted(r["days_of_cover"] for r in cover if r["days_of_cover"] is not None)
    assert any(r["days_of_cover"] is None for r in cover)
    assert Decimal(3) <= values[len(values) // 2] <= Decimal(30)
    assert values[len(values) // 4] >= Decimal(1) and values[3 * len(values) // 4] <= Decimal(60)


def test_po_lines_stay_in_the_snapshot_while_they_are_received():
    first, later = (reference("po", JAN[k])[0] for k in (0, 5))
    before = {(r["po_number"], r["line"]): r for r in first}
    carried = [r for r in later if (r["po_number"], r["line"]) in before]
    assert len(carried) >= 50
    assert any(r["qty_received"] > before[r["po_number"], r["line"]]["qty_received"]
               for r in carried)
    assert any(r["order_date"] < JAN[0] for r in first)


def test_po_snapshots_hold_overdue_and_undated_open_lines():
    gold = po_open_by_vendor(reference("po", JAN[14])[0], JAN[14])
    silver = reference("po", JAN[14])[0]
    assert sum(r["overdue_value"] > 0 for r in gold) >= 3
    assert any(r["expected_date"] is None for r in silver)
    assert {r["status"] for r in silver} == set(po.STATUSES)


def test_inv_has_allocations_above_on_hand_and_several_warehouses():
    silver = reference("inv", JAN[9])[0]
    assert any(r["allocated"] > r["on_hand"] for r in silver)
    assert {r["warehouse"] for r in silver} == {code for code, _ in inv.WAREHOUSES}
    assert {r["currency"] for r in inv_value_by_warehouse(silver)} == {"USD", "EUR"}


def test_gl_journals_are_resent_later_in_the_month_and_the_trial_balance_nets_to_zero():
    first_seen, resent = {}, set()
    for day in JAN:
        for row in reference("gl", day)[0]:
            if first_seen.setdefault(row["journal_id"], day) < day:
                resent.add(row["journal_id"])
    assert len(resent) >= 30
    trial = gl_trial_balance({day: reference("gl", day)[0] for day in JAN})
    nets = collections.defaultdict(Decimal)
    for row in trial:
        nets[row["currency"]] += row["net"]
    assert dict(nets) == {"USD": 0, "EUR": 0}


@pytest.mark.parametrize("folder, key, latest", [
    ("po", ("po number", "line"), "last modified"), ("inv", ("sku", "warehouse"), "snapshot time"),
    ("gl", ("journal id", "line"), "last modified")])
def test_duplicates_come_newer_first_newer_last_and_tied(folder, key, latest):
    orders = set()
    for day in JAN:
        versions = collections.defaultdict(list)
        for rec in records(shipped(folder, day))[1]:
            versions[tuple(rec[k].strip().upper() for k in key)].append(rec[latest])
        for stamps in (v for v in versions.values() if len(v) == 2):
            orders.add((stamps[0] > stamps[1]) - (stamps[0] < stamps[1]))
    assert orders == {-1, 0, 1}


@pytest.mark.parametrize("module", ["po", "inv", "gl", "landing", "__main__"])
def test_generators_import_only_the_standard_library_and_each_other(module):
    path = Path(so.__file__).with_name(f"{module}.py")
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            assert not name.startswith("etl_targets") or \
                name.startswith("etl_targets.datasets.samples"), name


def test_main_writes_one_file_per_day_and_returns_zero(tmp_path, capsys):
    argv = ["--start", "2026-02-27", "--days", "3", "--out", str(tmp_path)]
    assert gl.main(argv) == 0 and inv.main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "gl").iterdir()) == [
        "zheGL-2026-2-27.csv", "zheGL-2026-2-28.csv", "zheGL-2026-3-1.csv"]


def test_inv_reads_the_so_files_it_is_given_and_names_a_missing_one(tmp_path, capsys):
    argv = ["--start", "2026-01-01", "--out", str(tmp_path), "--sales", str(tmp_path)]
    assert inv.main(argv) == 1
    assert "zheSO-2026-1-1.csv" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["--start", "2026-01-01", "--days", "0", "--out", "x"],
    ["--start", "01/01/2026", "--out", "x"],
    ["--start", "2026-01-01"],
])
def test_main_rejects_bad_arguments_with_exit_code_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        po.main(argv)
    assert exc.value.code == 2


# --- the reference, on hand-written files --------------------------------------------


def parse(spec, header: str, *rows: str):
    """Parses an LF-terminated file of ``rows`` under ``header``."""
    return parse_landing(spec, "\n".join((header, *rows)) + "\n", "f.csv")


PO_HEADER = ("PO Number,Line,Order Date,Vendor ID,Vendor Name,SKU,Qty Ordered,Qty Received,"
             "Unit Cost,Currency,Status,Expected Date,Last Modified")
GL_HEADER = "Journal ID,Line,Posting Date,Account,Account Name,Debit,Credit,Currency,Description,Last Modified"
INV_HEADER = "SKU,Warehouse,On Hand,Allocated,Unit Cost,Currency,Snapshot Time"


def po_row(received="2", cost="12.5000", expected="1/20/2026", status="partial"):
    return (f'P1,1,01/02/2026,V1,"Acme, Inc.",SKU-1,"1,200",{received},{cost},usd,{status},'
            f"{expected},2026-01-27 10:00:00")


def gl_line(journal, line, debit, credit, currency="USD", stamp="2026-01-27 10:00:00"):
    return f"{journal},{line},1/27/2026,1000,,{debit},{credit},{currency},,{stamp}"


def test_po_silver_has_exact_open_quantity_and_value():
    silver, rejects = parse(PO, PO_HEADER, po_row(cost='"1,234.56780"', expected=""))
    assert rejects == []
    assert (silver[0]["qty_ordered"], silver[0]["open_qty"], silver[0]["unit_cost"],
            silver[0]["open_value"], silver[0]["expected_date"], silver[0]["status"]) == (
        1200, 1198, Decimal("1234.5678"), Decimal("1479012.2244"), None, "PARTIAL")


@pytest.mark.parametrize("row, reason", [
    (po_row(received="1201"), "qty_received > qty_ordered"),
    (po_row(cost="1.23456"), "unit_cost has more than 4 decimal places"),
    (po_row(status="SHIPPED"), "status not canonical"),
    (po_row(expected="2/30/2026"), "unparseable expected_date"),
])
def test_po_rows_breaking_a_rule_are_rejected(row, reason):
    silver, rejects = parse(PO, PO_HEADER, row)
    assert silver == [] and [r["reject_reason"] for r in rejects] == [reason]


def test_po_open_by_vendor_counts_only_open_lines_and_overdue_by_expected_date():
    silver, _ = parse(PO, PO_HEADER, po_row(), po_row(status="RECEIVED").replace("P1,", "P2,"))
    assert po_open_by_vendor(silver, dt.date(2026, 1, 20)) == [{
        "vendor_id": "V1", "currency": "USD", "open_lines": 1, "open_qty": 1198,
        "open_value": Decimal("14975.0000"), "overdue_value": Decimal("0.0000")}]
    assert po_open_by_vendor(silver, dt.date(2026, 1, 21))[0]["overdue_value"] == Decimal("14975")


def test_inv_rejected_recount_never_replaces_a_valid_one_and_available_clamps_at_zero():
    silver, rejects = parse(INV, INV_HEADER, "SKU-1, wh-1 ,5,9,2.5,usd,2026-01-27 23:00:00",
                            "SKU-1,WH-1,-1,0,2.5,usd,2026-01-27 23:30:00",
                            "SKU-1,WH-2,4,1,2.5,usd,2026-01-27 23:00:00")
    assert [r["row_number"] for r in rejects] == [2]
    assert inv_value_by_warehouse(silver) == [
        {"warehouse": "WH-1", "currency": "USD", "skus": 1, "on_hand": 5, "available": 0,
         "value": Decimal("12.5000")},
        {"warehouse": "WH-2", "currency": "USD", "skus": 1, "on_hand": 4, "available": 3,
         "value": Decimal("10.0000")}]


def test_gl_empty_debit_or_credit_means_zero():
    silver, rejects = parse(GL, GL_HEADER, gl_line("J1", 1, '"1,234.5000"', ""),
                            gl_line("J1", 2, " ", "1234.5"))
    assert rejects == [] and [(r["debit"], r["credit"]) for r in silver] == [
        (Decimal("1234.50"), Decimal("0.00")), (Decimal("0.00"), Decimal("1234.50"))]


@pytest.mark.parametrize("debit, credit, reason", [
    ("5.00", "5.00", "debit and credit both non-zero"), ("0", "", "debit and credit both zero")])
def test_gl_line_with_both_or_neither_amount_is_rejected(debit, credit, reason):
    _, rejects = parse(GL, GL_HEADER, gl_line("J1", 1, "5", ""), gl_line("J1", 2, "", "5"),
                       gl_line("J1", 3, debit, credit))
    assert [(r["row_number"], r["reject_reason"]) for r in rejects] == [(3, reason)]


def test_gl_journal_unbalanced_in_one_currency_rejects_all_its_lines():
    silver, rejects = parse(GL, GL_HEADER, gl_line("J1", 1, "5", ""), gl_line("J1", 2, "", "5"),
                            gl_line("J1", 3, "7", "", "EUR"), gl_line("J1", 4, "", "6.99", "EUR"),
                            gl_line("J2", 1, "1", ""), gl_line("J2", 2, "", "1"))
    assert [r["journal_id"] for r in silver] == ["J2", "J2"]
    assert [(r["row_number"], r["reject_reason"]) for r in rejects] == [
        (n, UNBALANCED) for n in (1, 2, 3, 4)]


def test_gl_balance_is_judged_after_dedup_and_without_rejected_lines():
    stale = gl_line("J1", 1, "9", "", stamp="2026-01-27 09:00:00")
    silver, rejects = parse(GL, GL_HEADER, gl_line("J1", 1, "5", ""), stale,
                            gl_line("J1", 2, "", "5"), gl_line("J2", 1, "-5", ""),
                            gl_line("J2", 2, "", "5"))
    assert [r["journal_id"] for r in silver] == ["J1", "J1"]
    assert [r["reject_reason"] for r in rejects] == ["debit < 0", UNBALANCED]


def test_trial_balance_dedups_across_days_and_the_later_date_wins_a_tie():
    one, _ = parse(GL, GL_HEADER, gl_line("J1", 1, "5", ""), gl_line("J1", 2, "", "5"))
    two, _ = parse(GL, GL_HEADER, gl_line("J1", 1, "8", ""), gl_line("J1", 2, "", "8"))
    assert gl_trial_balance({JAN[1]: two, JAN[0]: one}) == [
        {"account": "1000", "currency": "USD", "debit": Decimal("8.00"),
         "credit": Decimal("8.00"), "net": Decimal("0.00")}]


def test_days_of_cover_rounds_half_up_and_is_null_without_sales():
    stock = [{"sku": "A", "on_hand": 1}, {"sku": "A", "on_hand": 2}, {"sku": "B", "on_hand": 4}]
    sale = {"so_number": "S1", "line": 1, "sku": "A", "qty": 8, "status": "OPEN",
            "last_modified": dt.datetime(2026, 1, 27, 9)}
    cancelled = dict(sale, line=2, sku="B", status="CANCELLED")
    assert inv_days_of_cover(stock, {JAN[26]: [sale, cancelled]}) == [
        {"sku": "A", "on_hand": 3, "sold_7d": 8, "avg_daily_qty": Decimal("1.14"),
         "days_of_cover": Decimal("2.63")},  # 21 / 8 = 2.625
        {"sku": "B", "on_hand": 4, "sold_7d": 0, "avg_daily_qty": Decimal("0.00"),
         "days_of_cover": None}]


@pytest.mark.parametrize("text, problem", [
    (PO_HEADER + ",line \n", "duplicate column"),
    (PO_HEADER.replace(",Expected Date", "") + "\n", "missing column(s): Expected Date"),
    (PO_HEADER + "\n" + po_row() + ",extra\n", "fields"),
])
def test_file_level_problems_fail_the_whole_file(text, problem):
    with pytest.raises(ReferenceContractError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_landing(PO, text, "zhePO-2026-1-27.csv")


def test_foreign_days_are_deterministic_and_hold_the_planted_edge_cases(tmp_path):
    days = [dt.date(2026, 3, d) for d in (1, 2)]
    first = write_foreign_days(tmp_path / "a", days, seed=3)
    second = write_foreign_days(tmp_path / "b", days, seed=3)
    assert all(p.read_bytes() == q.read_bytes() for f in first for p, q in zip(first[f], second[f]))
    reasons = {f: {r["reject_reason"] for p in first[f]
                   for r in parse_landing(SPECS[f], p.read_bytes(), p.name)[1]} for f in first}
    assert {"qty_received > qty_ordered", "unit_cost has more than 4 decimal places"} <= reasons["po"]
    assert {UNBALANCED, "debit and credit both zero"} <= reasons["gl"]
    stocked = {r["sku"] for r in parse_landing(INV, first["inv"][0].read_bytes(), "f")[0]}
    assert set(UNSOLD_SKUS) <= stocked
