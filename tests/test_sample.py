"""Specification of the SO sample generator, ``etl_targets.datasets.samples.so``.

The generator must write files the data contract accepts, with every kind
of messiness the contract allows, reproducibly. These tests check the files
with Python's csv module and the contract's rules, written out here rather
than imported, so they do not trust the code under test.
"""

from __future__ import annotations

import collections
import csv
import datetime
import random
import re

import pytest

from etl_targets.datasets.samples import so as sample

CONTRACT_HEADERS = (
    "SO Number", "Line", "Order Date", "Customer ID", "Customer Name", "Region",
    "SKU", "Qty", "Unit Price", "Currency", "Status", "Last Modified",
)
KEYS = tuple(h.casefold() for h in CONTRACT_HEADERS)
REQUIRED = tuple(k for k in KEYS if k not in ("customer name", "region"))
JAN = datetime.date(2026, 1, 1)


def read_records(path) -> tuple[list[str], list[dict]]:
    """Header (trimmed, case-folded) and data records keyed by it, blank lines skipped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(r)]
    header = [name.strip().casefold() for name in rows[0]]
    return header, [dict(zip(header, row)) for row in rows[1:]]


def invalid_reason(rec: dict) -> str | None:
    """The first contract rule 1 breaks, or None for a valid row."""
    for key in REQUIRED:
        if not rec[key].strip():
            return f"empty {key}"
    checks = {
        "line": lambda v: re.fullmatch(r"[0-9]+", v) and int(v) >= 1,
        "qty": lambda v: re.fullmatch(r"[0-9]+", v) and int(v) > 0,
        "unit price": lambda v: re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})*(\.[0-9]{1,2})?|[0-9]+(\.[0-9]{1,2})?", v),
        "region": lambda v: v.strip().casefold() in ("north", "south", "east", "west"),
        "status": lambda v: v.strip().upper() in ("OPEN", "SHIPPED", "INVOICED", "CANCELLED"),
        "currency": lambda v: re.fullmatch(r"[A-Za-z]{3}", v.strip()),
        "order date": lambda v: _parses(v, "%m/%d/%Y"),
        "last modified": lambda v: _parses(v, "%Y-%m-%d %H:%M:%S"),
    }
    for key, ok in checks.items():
        if not ok(rec[key]):
            return f"bad {key}"
    return None


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def key_of(rec: dict) -> tuple[str, str]:
    return rec["so number"], rec["line"]


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """January 2026 at 300 rows a day: the shape of the shipped sample."""
    out = tmp_path_factory.mktemp("month")
    paths = sample.generate(JAN, 31, 300, out, seed=7)
    return out, paths


@pytest.fixture(scope="module")
def day_2000(tmp_path_factory):
    """One 2,000-row day's valid and invalid records."""
    path = sample.write_so_day(datetime.date(2026, 1, 27), 2000,
                               tmp_path_factory.mktemp("day"), random.Random(11))
    _, records = read_records(path)
    valid = [r for r in records if invalid_reason(r) is None]
    return path, records, valid


def test_same_seed_writes_identical_bytes(tmp_path):
    first = sample.generate(JAN, 5, 400, tmp_path / "a", seed=42)
    second = sample.generate(JAN, 5, 400, tmp_path / "b", seed=42)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_different_seeds_write_different_bytes(tmp_path):
    first = sample.generate(JAN, 1, 100, tmp_path / "a", seed=1)
    second = sample.generate(JAN, 1, 100, tmp_path / "b", seed=2)
    assert first[0].read_bytes() != second[0].read_bytes()


def test_file_names_do_not_zero_pad_month_or_day(month):
    out, _ = month
    names = {p.name for p in (out / "so").iterdir()}
    assert names == {f"zheSO-2026-1-{d}.csv" for d in range(1, 32)}
    assert sample.so_file_name(datetime.date(2026, 10, 5)) == "zheSO-2026-10-5.csv"


def test_every_file_parses_and_has_the_twelve_contract_headers(month):
    for path in month[1]:
        header, records = read_records(path)
        assert set(KEYS) <= set(header), path.name
        assert all(len(r) == len(header) for r in records), path.name


def test_rows_is_the_number_of_data_rows(day_2000):
    _, records, _ = day_2000
    assert len(records) == 2000


def test_files_vary_bom_header_spelling_column_order_and_extra_columns(month):
    raws = [p.read_bytes() for p in month[1]]
    headers = [raw.decode("utf-8-sig").splitlines()[0].split(",") for raw in raws]
    assert 0 < sum(raw.startswith(b"\xef\xbb\xbf") for raw in raws) < len(raws)
    assert any(tuple(h) == CONTRACT_HEADERS for h in headers)
    assert any(any(n != n.strip() or n not in CONTRACT_HEADERS + ("Warehouse",) for n in h)
               for h in headers)
    folded = [[n.strip().casefold() for n in h] for h in headers]
    assert any(f[:12] != list(KEYS) for f in folded)
    assert any("warehouse" in f for f in folded)


def test_blank_lines_appear_and_are_not_rows(month):
    texts = [p.read_text(encoding="utf-8-sig") for p in month[1]]
    assert any("\n\n" in t or "\r\n\r\n" in t for t in texts)


def test_region_status_and_currency_vary_in_padding_and_case(day_2000):
    _, _, valid = day_2000
    for key in ("region", "status", "currency"):
        values = {r[key] for r in valid}
        assert any(v != v.strip() for v in values), key
        assert len({v.strip().casefold() for v in values}) < len({v.strip() for v in values}), key
    assert {r["currency"].strip().upper() for r in valid} == {"USD", "EUR"}


def test_customer_names_hold_commas_and_doubled_quotes(day_2000):
    path, records, _ = day_2000
    names = {r["customer name"] for r in records}
    assert any("," in n for n in names) and any('"' in n for n in names)
    assert '""' in path.read_text(encoding="utf-8-sig")
    assert "" in names  # Customer Name is the one field that may be empty


def test_unit_prices_include_thousands_separators_and_short_forms(day_2000):
    prices = {r["unit price"] for r in day_2000[2]}
    assert any(re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+\.[0-9]{2}", p) for p in prices)
    assert any(re.fullmatch(r"[0-9]+\.[0-9]", p) for p in prices)
    assert any(re.fullmatch(r"[0-9]+", p) for p in prices)


def test_a_2000_row_day_has_about_one_percent_invalid_rows_of_several_kinds(day_2000):
    _, records, valid = day_2000
    reasons = collections.Counter(invalid_reason(r) for r in records if r not in valid)
    assert 0.003 <= (len(records) - len(valid)) / len(records) <= 0.03
    assert len(reasons) >= 5, reasons


def test_a_2000_row_day_has_duplicate_lines_with_later_or_equal_last_modified(day_2000):
    _, _, valid = day_2000
    versions = collections.defaultdict(list)
    for rec in valid:
        versions[key_of(rec)].append(rec["last modified"])
    dups = [stamps for stamps in versions.values() if len(stamps) > 1]
    assert any(stamps[0] < stamps[-1] for stamps in dups), "newer version later in file"
    assert any(stamps[0] > stamps[-1] for stamps in dups), "newer version earlier in file"
    assert any(stamps[0] == stamps[-1] for stamps in dups), "exact ties: last in file wins"


def test_orders_reappear_on_later_days_with_a_newer_last_modified(month):
    first_seen, reappeared = {}, []
    for path in month[1]:
        for rec in read_records(path)[1]:
            if invalid_reason(rec) is None:
                earlier = first_seen.setdefault(key_of(rec), rec)
                if earlier["last modified"][:10] < rec["last modified"][:10]:
                    reappeared.append((earlier, rec))
    assert len(reappeared) >= 31
    assert all(new["last modified"] > old["last modified"] for old, new in reappeared)
    assert any(new["status"].strip().upper() == "CANCELLED" for _, new in reappeared)


def test_dates_sit_near_the_business_date(day_2000):
    for rec in day_2000[2]:
        assert rec["last modified"].startswith("2026-01-27 ")
        ordered = datetime.datetime.strptime(rec["order date"], "%m/%d/%Y").date()
        assert datetime.date(2025, 12, 1) <= ordered <= datetime.date(2026, 1, 27)


def test_main_writes_one_file_per_day_and_returns_zero(tmp_path, capsys):
    argv = ["--start", "2026-02-27", "--days", "3", "--rows", "10", "--out", str(tmp_path)]
    assert sample.main(argv) == 0
    names = sorted(p.name for p in (tmp_path / "so").iterdir())
    assert names == ["zheSO-2026-2-27.csv", "zheSO-2026-2-28.csv", "zheSO-2026-3-1.csv"]


@pytest.mark.parametrize("argv", [
    ["--start", "2026-01-01", "--days", "0", "--out", "x"],
    ["--start", "2026-01-01", "--rows", "-1", "--out", "x"],
    ["--start", "01/01/2026", "--out", "x"],
])
def test_main_rejects_bad_arguments_with_exit_code_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        sample.main(argv)
    assert exc.value.code == 2
