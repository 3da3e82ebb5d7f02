"""The luigi graph on a local lake: what it publishes, when it reruns, how it fails.

Paths are written out from the data contract (section 3) rather than taken
from ``etl_targets.lake.layout``, so a layout change that breaks the contract
fails here. Which tasks ran is read from luigi's own task events (see the
``luigi_build`` fixture), and "nothing was rewritten" from inodes and
modification times.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from luigi.execution_summary import LuigiStatusCode

from etl_targets import GoldSO, GoldSOMTD, SilverSO

from support.cli import luigi_argv, run_command
from support.lakes import contract_paths, roots
from support.landing import drop_column
from support.landing import landing_name as erp_name
from support.paths import REPO

QUICK_START = dt.date(2026, 1, 27)

SILVER_COLUMNS = {"so_number", "line", "order_date", "customer_id", "customer_name", "region",
                  "sku", "qty", "unit_price", "currency", "status", "last_modified",
                  "line_amount"}


def days(first: int, last: int, month: int = 1):
    return [dt.date(2026, month, d) for d in range(first, last + 1)]


def data_files(lake: Path) -> set:
    """Every file in the lake outside ``_ops/`` (run bookkeeping), hidden ones included."""
    return {p.relative_to(lake).as_posix() for p in lake.rglob("*")
            if p.is_file() and not p.relative_to(lake).as_posix().startswith("_ops/")}


def files_under(folder: Path) -> set:
    """Every file below ``folder`` (none when it does not exist), hidden ones included."""
    return {p for p in folder.rglob("*") if p.is_file()}


def count_records(path: Path) -> int:
    """Data records of a landing file by Python's csv module: header and blank lines excluded."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.reader(handle) if r and not (len(r) == 1 and not r[0].strip())]
    return len(rows) - 1


# --------------------------------------------------------------------------
# the quick-start day
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_start(tmp_path_factory, luigi_build, sample_landing):
    """``GoldSO --date 2026-01-27`` built once from the sample landing: (lake, build)."""
    lake = tmp_path_factory.mktemp("quick-start") / "lake"
    run = luigi_build([GoldSO(date=QUICK_START, **roots(lake, sample_landing))])
    assert run.status == LuigiStatusCode.SUCCESS, run.result.summary_text
    return lake, run


def test_quick_start_day_runs_bronze_silver_and_gold_once_each(quick_start):
    _, run = quick_start
    assert run.ran_names() == ["BronzeSO(2026-01-27)", "GoldSO(2026-01-27)", "SilverSO(2026-01-27)"]


def test_quick_start_day_publishes_exactly_the_contract_paths(quick_start):
    lake, _ = quick_start
    paths = contract_paths(QUICK_START)
    expected = {paths[k] for k in ("bronze", "manifest", "silver", "rejects", "daily")}
    assert data_files(lake) == expected


def test_bronze_file_is_the_landing_file_byte_for_byte(quick_start, sample_landing):
    lake, _ = quick_start
    landed = (sample_landing / "so" / erp_name(QUICK_START)).read_bytes()
    assert (lake / contract_paths(QUICK_START)["bronze"]).read_bytes() == landed


def test_bronze_manifest_records_source_checksum_size_and_rows(quick_start, sample_landing):
    lake, _ = quick_start
    source = sample_landing / "so" / erp_name(QUICK_START)
    manifest = json.loads((lake / contract_paths(QUICK_START)["manifest"]).read_text())
    assert manifest["source_name"] == erp_name(QUICK_START)
    assert manifest["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert manifest["bytes"] == source.stat().st_size
    assert manifest["rows"] == count_records(source)


def test_bronze_manifest_records_an_aware_ingestion_time(quick_start):
    lake, _ = quick_start
    manifest = json.loads((lake / contract_paths(QUICK_START)["manifest"]).read_text())
    ingested = dt.datetime.fromisoformat(manifest["ingested_at"])
    assert ingested.tzinfo is not None
    assert abs(dt.datetime.now(dt.timezone.utc) - ingested) < dt.timedelta(hours=1)


def test_silver_has_the_contract_columns(quick_start):
    lake, _ = quick_start
    silver = pq.read_table(lake / contract_paths(QUICK_START)["silver"])
    assert set(silver.column_names) == SILVER_COLUMNS
    assert silver.num_rows > 0


def test_rejects_are_published_with_a_reason_column(quick_start):
    lake, _ = quick_start
    rejects = pq.read_table(lake / contract_paths(QUICK_START)["rejects"])
    assert "reject_reason" in rejects.column_names


def test_daily_sales_has_the_contract_columns_and_exact_revenue_type(quick_start):
    lake, _ = quick_start
    gold = pq.read_table(lake / contract_paths(QUICK_START)["daily"])
    assert gold.column_names[:3] == ["region", "sku", "currency"]
    assert set(gold.column_names) == {"region", "sku", "currency", "orders", "lines", "qty",
                                      "revenue"}
    assert gold.schema.field("revenue").type == pa.decimal128(18, 2)


def test_published_days_read_as_one_hive_partitioned_dataset(tmp_lake, sample_landing,
                                                             luigi_build):
    run = luigi_build([GoldSO(date=d, **roots(tmp_lake, sample_landing)) for d in days(26, 27)])
    assert run.status == LuigiStatusCode.SUCCESS
    frame = pd.read_parquet(tmp_lake / "gold" / "so_daily_sales")
    assert sorted(frame["date"].astype(str).unique()) == ["2026-01-26", "2026-01-27"]


# --------------------------------------------------------------------------
# reruns
# --------------------------------------------------------------------------

@pytest.fixture
def built_twice(tmp_lake, sample_landing, luigi_build, lake_snapshot):
    """The quick-start day built, snapshotted, then built again: (before, after, 2nd run)."""
    tasks = [GoldSO(date=QUICK_START, **roots(tmp_lake, sample_landing)),
             GoldSOMTD(date=dt.date(2026, 1, 3), **roots(tmp_lake, sample_landing))]
    assert luigi_build(tasks).status == LuigiStatusCode.SUCCESS
    before = lake_snapshot(tmp_lake)
    again = luigi_build(tasks)
    return before, lake_snapshot(tmp_lake), again


def test_second_identical_run_rewrites_nothing(built_twice):
    before, after, _ = built_twice
    assert after == before


def test_second_identical_run_runs_no_task(built_twice):
    _, _, again = built_twice
    assert again.ran == []
    assert again.status == LuigiStatusCode.SUCCESS


def test_second_identical_run_reports_the_requested_tasks_already_complete(built_twice):
    _, _, again = built_twice
    assert again.complete_names() == ["GoldSO(2026-01-27)", "GoldSOMTD(2026-01-03)"]
    assert "Did not run any tasks" in again.result.summary_text


@pytest.fixture
def month_to_date_after_twenty_silvers(tmp_lake, sample_landing, luigi_build, lake_snapshot):
    """Silver of Jan 1-20 built first, then GoldSOMTD of Jan 27: (silver before, after, run)."""
    first = luigi_build([SilverSO(date=d, **roots(tmp_lake, sample_landing)) for d in days(1, 20)])
    assert first.status == LuigiStatusCode.SUCCESS
    before = lake_snapshot(tmp_lake / "silver")
    run = luigi_build([GoldSOMTD(date=QUICK_START, **roots(tmp_lake, sample_landing))])
    assert run.status == LuigiStatusCode.SUCCESS, run.result.summary_text
    return before, lake_snapshot(tmp_lake / "silver"), run


def test_month_to_date_builds_only_the_missing_silver_days(month_to_date_after_twenty_silvers):
    _, _, run = month_to_date_after_twenty_silvers
    assert run.ran_names("SilverSO") == [f"SilverSO({d.isoformat()})" for d in days(21, 27)]
    assert run.ran_names("GoldSOMTD") == ["GoldSOMTD(2026-01-27)"]


def test_month_to_date_leaves_existing_silver_days_untouched(month_to_date_after_twenty_silvers):
    before, after, _ = month_to_date_after_twenty_silvers
    assert {path: after[path] for path in before} == before


def test_month_to_date_publishes_its_table_at_the_contract_path(tmp_lake, sample_landing,
                                                                luigi_build):
    luigi_build([GoldSOMTD(date=dt.date(2026, 1, 2), **roots(tmp_lake, sample_landing))])
    assert (tmp_lake / contract_paths(dt.date(2026, 1, 2))["mtd"]).is_file()


@pytest.fixture
def rebuilt_after_deletion(tmp_lake, sample_landing, luigi_build, lake_snapshot):
    """Jan 26-27 built; silver, rejects and daily gold of the 27th deleted; rebuilt."""
    tasks = [GoldSO(date=d, **roots(tmp_lake, sample_landing)) for d in days(26, 27)]
    assert luigi_build(tasks).status == LuigiStatusCode.SUCCESS
    paths = contract_paths(QUICK_START)
    for key in ("silver", "rejects", "daily"):
        (tmp_lake / paths[key]).unlink()
    before = lake_snapshot(tmp_lake)
    run = luigi_build(tasks)
    assert run.status == LuigiStatusCode.SUCCESS, run.result.summary_text
    return before, lake_snapshot(tmp_lake), run


def test_deleted_outputs_are_rebuilt_and_nothing_else_runs(rebuilt_after_deletion):
    _, _, run = rebuilt_after_deletion
    assert run.ran_names() == ["GoldSO(2026-01-27)", "SilverSO(2026-01-27)"]


def test_deleted_outputs_are_published_again(rebuilt_after_deletion, tmp_lake):
    _, after, _ = rebuilt_after_deletion
    paths = contract_paths(QUICK_START)
    assert {paths["silver"], paths["rejects"], paths["daily"]} <= set(after)


def test_rebuild_after_deletion_rewrites_no_existing_file(rebuilt_after_deletion):
    before, after, _ = rebuilt_after_deletion
    assert {path: after[path] for path in before} == before


# --------------------------------------------------------------------------
# failures
# --------------------------------------------------------------------------

@pytest.fixture
def landing_without_qty(tmp_landing, sample_landing):
    """A landing root whose Jan 27 file lacks the required ``Qty`` column."""
    drop_column(sample_landing / "so" / erp_name(QUICK_START),
                tmp_landing / "so" / erp_name(QUICK_START), "Qty")
    return tmp_landing


@pytest.fixture
def build_without_qty(tmp_lake, landing_without_qty, luigi_build):
    return luigi_build([GoldSO(date=QUICK_START, **roots(tmp_lake, landing_without_qty))])


def test_landing_file_missing_a_required_column_fails_the_build(build_without_qty):
    assert build_without_qty.status == LuigiStatusCode.FAILED
    assert [t.task_family for t, _ in build_without_qty.failed] == ["SilverSO"]


def test_landing_file_missing_a_required_column_publishes_nothing_downstream(
        build_without_qty, tmp_lake):
    assert files_under(tmp_lake / "silver") == set()
    assert files_under(tmp_lake / "gold") == set()


def test_missing_column_error_names_the_file_and_the_column(build_without_qty):
    (_, error), = build_without_qty.failed
    message = str(error)
    assert erp_name(QUICK_START) in message
    assert "qty" in message.casefold()
    assert "\n" not in message.strip()


@pytest.fixture
def landing_without_jan_3(tmp_landing, landing_copier):
    landing_copier(tmp_landing, *[d for d in days(1, 5) if d.day != 3])
    return tmp_landing


@pytest.fixture
def build_without_jan_3(tmp_lake, landing_without_jan_3, luigi_build):
    task = GoldSOMTD(date=dt.date(2026, 1, 5), **roots(tmp_lake, landing_without_jan_3))
    return luigi_build([task])


def test_missing_landing_day_inside_the_month_stops_month_to_date(build_without_jan_3, tmp_lake):
    assert build_without_jan_3.status != LuigiStatusCode.SUCCESS
    assert "GoldSOMTD(2026-01-05)" not in build_without_jan_3.ran_names()
    assert not (tmp_lake / contract_paths(dt.date(2026, 1, 5))["mtd"]).exists()


def test_missing_landing_day_inside_the_month_is_the_only_missing_input(build_without_jan_3):
    assert build_without_jan_3.names(build_without_jan_3.missing) == ["LandingSO(2026-01-03)"]


def test_missing_landing_day_inside_the_month_is_reported_by_file_name(build_without_jan_3,
                                                                      caplog):
    logged = [r.getMessage() for r in caplog.get_records("setup") + caplog.get_records("call")]
    report = "\n".join(logged) + build_without_jan_3.result.summary_text
    assert erp_name(dt.date(2026, 1, 3)) in report


# --------------------------------------------------------------------------
# the `luigi` command
# --------------------------------------------------------------------------

def run_luigi_command(*arguments: str) -> subprocess.CompletedProcess:
    """``luigi --module etl_targets ... --local-scheduler`` from the repository root.

    The roots come from ETL_LAKE_ROOT / ETL_LANDING_ROOT, which the autouse
    fixture points at this test's temporary folder.
    """
    return run_command(luigi_argv(*arguments, "--local-scheduler"), cwd=REPO)


def test_luigi_command_exits_zero_when_the_graph_succeeds(tmp_landing, tmp_lake, landing_copier):
    landing_copier(tmp_landing, QUICK_START)
    done = run_luigi_command("GoldSO", "--date", QUICK_START.isoformat())
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_lake / contract_paths(QUICK_START)["daily"]).is_file()


def test_luigi_command_exits_non_zero_when_a_task_fails(landing_without_qty, tmp_lake):
    done = run_luigi_command("GoldSO", "--date", QUICK_START.isoformat())
    assert done.returncode != 0
    assert not (tmp_lake / contract_paths(QUICK_START)["daily"]).exists()


def test_luigi_command_exits_non_zero_when_a_landing_file_is_missing(landing_without_jan_3):
    done = run_luigi_command("GoldSOMTD", "--date", "2026-01-05")
    assert done.returncode != 0


# --------------------------------------------------------------------------
# Secrets in URLs stay out of luigi's logs, task ids and luigid
# --------------------------------------------------------------------------

def test_task_ids_logs_and_scheduler_params_never_carry_a_secret_in_a_url():
    task = GoldSO(date=QUICK_START, lake_root="s3://KEYID:s3cr3t@lake/erp",
                  landing_root="s3://drop/erp",
                  source="https://drop.example/x.csv?X-Amz-Credential=KEYID&X-Amz-Signature=s1gn")
    shown = [repr(task), str(task), task.task_id,
             json.dumps(task.to_str_params(only_significant=False))]
    for text in shown:
        assert "s3cr3t" not in text and "s1gn" not in text and "KEYID" not in text, text
    assert task.lake_root == "s3://KEYID:s3cr3t@lake/erp"  # the task itself keeps the real URL
