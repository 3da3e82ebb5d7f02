"""``--refresh`` rebuilds exactly what a corrected landing file made out of date.

The acceptance scenario: a finished month, one landing file replaced by a
corrected version, then ``etl-targets so --start <1st> --end <last> --refresh``.
Exactly that date's bronze, silver, rejects and daily gold, and the
month-to-date gold of that date and every later date, are rebuilt; every
other file keeps its bytes and mtime (local) or ETag (S3); the new gold
equals an independent computation on the new data. An ``--input`` whose
bytes differ from the date's bronze refreshes that date; the same bytes
are "already complete", and the run record never claims an input it did
not use.

Refreshing one date is make-like: it refreshes every out-of-date output that
date's tables are built from, so a corrected re-drop of an earlier day of the
month is landed again and the month-to-date table of the asked date is
rebuilt from it, and ``status`` then reports the month up to date.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reference_so import daily_sales, mtd_by_region, parse_landing
from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing, correct, landing_name
from support.lakes import data_files, partition, run_records

DAYS = [dt.date(2026, 1, d) for d in range(1, 11)]
CHANGED = dt.date(2026, 1, 6)
ASKED, EARLIER = dt.date(2026, 1, 5), dt.date(2026, 1, 4)  # one date, an earlier day of its month


def run(root: Path, *args: str) -> Run:
    env = cli_environment(root / "lake", root / "landing", root / "logs")
    return Run.of(run_command(etl_argv(*args), cwd=root, env=env, timeout=300))


@pytest.fixture(scope="module")
def built_month(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("month")
    (root / "landing" / "so").mkdir(parents=True)
    copy_landing(root / "landing", *DAYS)
    done = run(root, "so", "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat())
    assert done.code == 0, str(done)
    return root


def correct_then_refresh(built_month: Path, root: Path, changed: dt.date, *dates: str):
    """A copy of the built month, ``changed`` re-dropped corrected, then ``so <dates> --refresh``.

    Returns:
        the root, the lake's files before and after, and the refresh run.
    """
    shutil.copytree(built_month, root, dirs_exist_ok=True, copy_function=shutil.copy2)
    before = data_files(root / "lake")
    correct(root / "landing" / "so" / landing_name(changed))
    done = run(root, "so", *dates, "--refresh")
    assert done.code == 0, str(done)
    return root, before, data_files(root / "lake"), done


@pytest.fixture(scope="module")
def refreshed(built_month, tmp_path_factory):
    return correct_then_refresh(built_month, tmp_path_factory.mktemp("refreshed"), CHANGED,
                                "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat())


@pytest.fixture(scope="module")
def refreshed_one_date(built_month, tmp_path_factory):
    """The built month, the 4th re-dropped corrected, then ``so --date 2026-01-05 --refresh``."""
    return correct_then_refresh(built_month, tmp_path_factory.mktemp("refreshed-one-date"),
                                EARLIER, "--date", ASKED.isoformat())


def expected_rebuilt(changed: dt.date = CHANGED) -> set:
    """The changed date's own files, and the month-to-date gold of it and every later date."""
    day = partition(changed)
    own = {f"bronze/so/{day}/{landing_name(changed)}", f"bronze/so/{day}/_manifest.json",
           f"silver/so/{day}/data.parquet", f"silver/so_rejects/{day}/data.parquet",
           f"gold/so_daily_sales/{day}/data.parquet"}
    later = {f"gold/so_mtd_by_region/{partition(d)}/data.parquet" for d in DAYS if d >= changed}
    return own | later


def test_refresh_rebuilds_exactly_the_changed_date_and_later_month_to_date(refreshed):
    _, before, after, _ = refreshed
    changed = {path for path in before if after.get(path) != before[path]}
    assert changed == expected_rebuilt()


def test_refresh_keeps_every_other_file_byte_and_mtime_identical(refreshed):
    _, before, after, _ = refreshed
    for path in set(before) - expected_rebuilt():
        assert after[path] == before[path], path


def test_refreshed_gold_matches_an_independent_computation_on_the_new_data(refreshed):
    root = refreshed[0]
    silver = {}
    for day in DAYS:
        data = (root / "landing" / "so" / landing_name(day)).read_bytes()
        silver[day], _ = parse_landing(data, landing_name(day))
    daily = pq.read_table(root / "lake" / "gold" / "so_daily_sales" / partition(CHANGED)
                          / "data.parquet").to_pylist()
    assert daily == daily_sales(silver[CHANGED])
    last = pq.read_table(root / "lake" / "gold" / "so_mtd_by_region" / partition(DAYS[-1])
                         / "data.parquet").to_pylist()
    assert last == mtd_by_region({d: silver[d] for d in DAYS})


def test_refresh_run_record_lists_what_was_refreshed_and_why(refreshed):
    record = run_records(refreshed[0] / "lake")[-1]
    assert [r["date"] for r in record["refreshed"]] == [CHANGED.isoformat()]
    assert "landing" in record["refreshed"][0]["reason"]


def test_refresh_moves_the_stale_outputs_to_the_trash(refreshed):
    trash = refreshed[0] / "lake" / "_trash"
    moved = {p.name for p in trash.rglob("*") if p.is_file()}
    assert landing_name(CHANGED) in moved and "data.parquet" in moved


def test_refresh_of_an_unchanged_month_builds_nothing(built_month, tmp_path):
    shutil.copytree(built_month, tmp_path, dirs_exist_ok=True, copy_function=shutil.copy2)
    before = data_files(tmp_path / "lake")
    done = run(tmp_path, "so", "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat(),
               "--refresh")
    assert done.code == 0 and "already complete" in done.stdout, str(done)
    assert data_files(tmp_path / "lake") == before


def test_a_touched_but_unchanged_landing_file_is_not_refreshed(built_month, tmp_path):
    shutil.copytree(built_month, tmp_path, dirs_exist_ok=True, copy_function=shutil.copy2)
    later = time.time() + 5
    os.utime(tmp_path / "landing" / "so" / landing_name(CHANGED), (later, later))
    before = data_files(tmp_path / "lake")
    done = run(tmp_path, "so", "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat(),
               "--refresh")
    assert done.code == 0, str(done)
    assert data_files(tmp_path / "lake") == before


def test_an_input_with_other_bytes_refreshes_that_date(built_month, tmp_path):
    shutil.copytree(built_month, tmp_path, dirs_exist_ok=True, copy_function=shutil.copy2)
    corrected = tmp_path / "corrected.csv"
    shutil.copy(tmp_path / "landing" / "so" / landing_name(CHANGED), corrected)
    correct(corrected)
    done = run(tmp_path, "so", "--date", CHANGED.isoformat(), "--input", str(corrected))
    assert done.code == 0, str(done)
    bronze = tmp_path / "lake" / "bronze" / "so" / partition(CHANGED) / landing_name(CHANGED)
    assert bronze.read_bytes() == corrected.read_bytes()
    record = run_records(tmp_path / "lake")[-1]
    assert record["input"] == str(corrected) and record["refreshed"], record


def test_an_input_with_the_same_bytes_is_already_complete_and_not_claimed(built_month, tmp_path):
    shutil.copytree(built_month, tmp_path, dirs_exist_ok=True, copy_function=shutil.copy2)
    same = tmp_path / "same.csv"
    shutil.copy(tmp_path / "landing" / "so" / landing_name(CHANGED), same)
    before = data_files(tmp_path / "lake")
    done = run(tmp_path, "so", "--date", CHANGED.isoformat(), "--input", str(same))
    assert done.code == 0 and "already complete" in done.stdout, str(done)
    assert data_files(tmp_path / "lake") == before
    record = run_records(tmp_path / "lake")[-1]
    assert record["input"] is None and record["refreshed"] == [], record
    manifest = json.loads((tmp_path / "lake" / "_ops" / "manifests" / "so" /
                           f"so-{CHANGED.isoformat()}.json").read_text())
    assert str(same) not in json.dumps({k: v for k, v in manifest.items() if k != "last_attempt"})


def test_refresh_of_one_date_relands_the_corrected_earlier_day_its_month_to_date_reads(
        refreshed_one_date):
    _, before, after, _ = refreshed_one_date
    changed = {path for path in before if after.get(path) != before[path]}
    assert changed == expected_rebuilt(EARLIER)


def test_refreshed_month_to_date_of_the_asked_date_matches_the_corrected_earlier_day(
        refreshed_one_date):
    root = refreshed_one_date[0]
    silver = {day: parse_landing((root / "landing" / "so" / landing_name(day)).read_bytes(),
                                 landing_name(day))[0] for day in DAYS if day <= ASKED}
    mtd = pq.read_table(root / "lake" / "gold" / "so_mtd_by_region" / partition(ASKED)
                        / "data.parquet").to_pylist()
    assert mtd == mtd_by_region(silver)


def test_after_refreshing_one_date_status_reports_it_and_its_month_up_to_date(
        refreshed_one_date):
    root = refreshed_one_date[0]
    asked = run(root, "status", "so", "--date", ASKED.isoformat())
    assert asked.code == 0, str(asked)
    month = run(root, "status", "so", "--start", DAYS[0].isoformat(),
                "--end", DAYS[-1].isoformat())
    assert month.code == 0, str(month)


def test_refresh_of_one_date_names_the_earlier_day_it_refreshed_and_why(refreshed_one_date):
    done = refreshed_one_date[3]
    assert f"refreshing {EARLIER.isoformat()} from bronze: the landing file changed" in done.stdout
    assert f"upstream of gold:so_mtd_by_region of {ASKED.isoformat()}" in done.stdout
    record = run_records(refreshed_one_date[0] / "lake")[-1]
    assert [(r["date"], r["stage"], r["upstream_of"]) for r in record["refreshed"]] == [
        (EARLIER.isoformat(), "bronze", [ASKED.isoformat()])]


def test_refresh_of_one_date_sums_earlier_and_later_dates_it_rebuilt_on_separate_lines(
        refreshed_one_date):
    lines = refreshed_one_date[3].stdout.splitlines()
    earlier = [line for line in lines if "earlier date(s)" in line]
    later = [line for line in lines if "later date(s)" in line]
    assert len(earlier) == 1 and f"({EARLIER.isoformat()})" in earlier[0], lines
    after = [d for d in DAYS if d > ASKED]
    assert len(later) == 1 and f"{len(after)} later date(s)" in later[0], lines
    assert f"({after[0].isoformat()}..{after[-1].isoformat()})" in later[0], lines
