"""``status``, ``--refresh`` and ``invalidate`` for every dataset, and across datasets (issue 10).

Two weeks of the shipped sample landing (SO, PO, INV, GL) are built with
``etl-targets all``; the FX rates come from a rates API on a loopback port.
Then one SO file (the 10th) is replaced by a corrected re-drop. The days of
cover of the 10th to the 16th read that day's SO silver, so ``status inv``
reports exactly those seven out of date, naming the SO landing file as the
root cause, and a refresh (``so --refresh`` or ``cover --refresh``) rebuilds
exactly SO's stages of the 10th, what SO built from them, and those seven
days of cover: no table is left missing, every other file keeps its bytes
and mtime. Refreshing one date of the days of cover refreshes the SO day its
window reads, the same way.

A refresh of one date is make-like for every dataset: the general ledger's
month-to-date trial balance of the 2nd, after a corrected re-drop of the 1st,
is rebuilt from the corrected day (the QA case), and a day outside every
asked table's window is left as it is. Every command runs as a subprocess,
the way cron runs it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.landing import correct
from support.lakes import data_files, partition, run_records
from support.paths import SAMPLE_LANDING
from support.rates_server import SAMPLE_RATES, TEST_TOKEN, rates_server

DAYS = [dt.date(2026, 1, day) for day in range(7, 21)]
RANGE = ("--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat())
CHANGED = dt.date(2026, 1, 10)
COVERED = [CHANGED + dt.timedelta(days=k) for k in range(7)]  # cover of D reads SO of D-6..D
FILE_DATASETS = ("so", "po", "inv", "gl")


@pytest.fixture(scope="module")
def rates():
    with rates_server(SAMPLE_RATES, TEST_TOKEN) as server:
        yield server


class Workspace:
    """A landing area, a lake and logs under one folder, and the CLI run on them."""

    def __init__(self, root: Path, rates):
        self.root, self.rates = root, rates

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    def run(self, *args: str) -> Run:
        env = cli_environment(self.lake, self.root / "landing", self.root / "logs",
                              ETL_FX_API_URL=self.rates.url, ETL_FX_TOKEN=TEST_TOKEN)
        return Run.of(run_command(etl_argv(*args), cwd=self.root, env=env, timeout=300))

    def status(self, dataset: str) -> dict:
        done = self.run("status", dataset, *RANGE, "--json")
        assert done.code in (0, 8), str(done)
        return json.loads(done.stdout)

    def copy(self, root: Path) -> "Workspace":
        shutil.copytree(self.root, root, dirs_exist_ok=True, copy_function=shutil.copy2)
        return Workspace(root, self.rates)


@pytest.fixture(scope="module")
def built(tmp_path_factory, rates) -> Workspace:
    """Every gold table of every dataset for the two weeks."""
    root = tmp_path_factory.mktemp("all")
    for folder in FILE_DATASETS:
        shutil.copytree(SAMPLE_LANDING / folder, root / "landing" / folder)
    workspace = Workspace(root, rates)
    done = workspace.run("all", *RANGE)
    assert done.code == 0, str(done)
    return workspace


@pytest.fixture(scope="module")
def corrected(built, tmp_path_factory) -> Workspace:
    """The built workspace with SO's file of the 10th re-dropped, corrected."""
    workspace = built.copy(tmp_path_factory.mktemp("corrected"))
    correct(workspace.root / "landing" / "so" / f"zheSO-2026-1-{CHANGED.day}.csv")
    return workspace


def not_done(document: dict):
    return {(entry["date"], entry["stage"]): entry for entry in document["entries"]
            if entry["state"] != "done"}


def expected_rebuilt() -> set:
    """SO's stages of the changed date, what was built from them, and the seven days of cover."""
    day = partition(CHANGED)
    files = {f"bronze/so/{day}/zheSO-2026-1-{CHANGED.day}.csv", f"bronze/so/{day}/_manifest.json",
             f"silver/so/{day}/data.parquet", f"silver/so_rejects/{day}/data.parquet",
             f"gold/so_daily_sales/{day}/data.parquet", f"gold/so_revenue_usd/{day}/data.parquet"}
    files |= {f"gold/so_mtd_by_region/{partition(d)}/data.parquet" for d in DAYS if d >= CHANGED}
    return files | {f"gold/inv_days_of_cover/{partition(d)}/data.parquet" for d in COVERED}


@pytest.mark.parametrize("dataset", FILE_DATASETS)
def test_status_of_every_built_dataset_is_done_and_exits_0(built, dataset):
    done = built.run("status", dataset, *RANGE)
    assert done.code == 0, str(done)


def test_a_corrected_so_file_makes_exactly_seven_days_of_cover_out_of_date(corrected):
    stale = not_done(corrected.status("inv"))
    assert sorted(stale) == [(d.isoformat(), "gold:inv_days_of_cover") for d in COVERED]
    for entry in stale.values():
        assert entry["state"] == "upstream_newer"
        assert f"landing file of {CHANGED.isoformat()} changed" in entry["reason"]


@pytest.mark.parametrize("command", ["so", "cover"])
def test_refresh_rebuilds_the_changed_so_date_and_the_days_of_cover_built_from_it(
        corrected, tmp_path, command):
    workspace = corrected.copy(tmp_path)
    before = data_files(workspace.lake)
    done = workspace.run(command, *RANGE, "--refresh")
    assert done.code == 0, str(done)
    after = data_files(workspace.lake)
    assert set(after) == set(before), "a refresh leaves no table missing"
    assert {path for path in before if after[path] != before[path]} == expected_rebuilt()
    for dataset in ("so", "inv"):
        assert not_done(workspace.status(dataset)) == {}, dataset
    record = run_records(workspace.lake, command)[-1]
    assert [(r["dataset"], r["date"], r["stage"]) for r in record["refreshed"]] == [
        ("so", CHANGED.isoformat(), "bronze")]


def test_refresh_of_an_unchanged_range_of_all_builds_nothing(built, tmp_path):
    workspace = built.copy(tmp_path)
    before = data_files(workspace.lake)
    done = workspace.run("all", *RANGE, "--refresh")
    assert done.code == 0 and "already complete" in done.stdout, str(done)
    assert data_files(workspace.lake) == before


@pytest.mark.parametrize("dataset, tables", [
    ("po", ["po_open_by_vendor"]),
    ("inv", ["inv_value_by_warehouse", "inv_days_of_cover"]),
    ("gl", ["gl_trial_balance"]),
])
def test_invalidate_silver_of_every_dataset_then_its_run_restores_the_same_bytes(
        built, tmp_path, dataset, tables):
    workspace = built.copy(tmp_path)
    before = data_files(workspace.lake)
    day = partition(CHANGED)
    done = workspace.run("invalidate", dataset, "--date", CHANGED.isoformat(), "--stage", "silver")
    assert done.code == 0, str(done)
    gone = set(before) - set(data_files(workspace.lake))
    assert f"silver/{dataset}/{day}/data.parquet" in gone
    assert {f"gold/{table}/{day}/data.parquet" for table in tables} <= gone
    rebuilt = workspace.run("all", *RANGE)
    assert rebuilt.code == 0, str(rebuilt)
    after = data_files(workspace.lake)
    assert set(after) == set(before)
    assert all(after[path][1] == before[path][1] for path in before), "same bytes again"


def test_refresh_of_one_date_of_cover_refreshes_the_so_day_its_window_reads(corrected, tmp_path):
    workspace = corrected.copy(tmp_path)
    before = data_files(workspace.lake)
    asked = CHANGED + dt.timedelta(days=2)  # cover of the 12th reads SO of the 6th..12th
    done = workspace.run("cover", "--date", asked.isoformat(), "--refresh")
    assert done.code == 0, str(done)
    after = data_files(workspace.lake)
    assert {path for path in before if after.get(path) != before[path]} == expected_rebuilt()
    for dataset in ("so", "inv"):
        assert not_done(workspace.status(dataset)) == {}, dataset
    record = run_records(workspace.lake, "cover")[-1]
    assert [(r["dataset"], r["date"], r["stage"], r["upstream_of"])
            for r in record["refreshed"]] == [("so", CHANGED.isoformat(), "bronze",
                                               [asked.isoformat()])]


# -- the general ledger's month-to-date trial balance (the QA case) ----------

GL_DAYS = {dt.date(2025, 12, 1): "JZ", dt.date(2026, 1, 1): "JA", dt.date(2026, 1, 2): "JB"}
GL_ASKED, GL_EARLIER, GL_OUTSIDE = dt.date(2026, 1, 2), dt.date(2026, 1, 1), dt.date(2025, 12, 1)
GL_HEADER = ("Journal ID,Line,Posting Date,Account,Account Name,Debit,Credit,Currency,"
             "Description,Last Modified")


def gl_file(workspace: Workspace, day: dt.date, amount: str) -> Path:
    """One balanced journal of ``day``: cash 1000 debited, sales 4000 credited ``amount`` USD."""
    posted, stamp = day.strftime("%m/%d/%Y"), f"{day.isoformat()} 10:00:00"
    journal = GL_DAYS[day]
    path = workspace.root / "landing" / "gl" / f"zheGL-{day.year}-{day.month}-{day.day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([
        GL_HEADER,
        f"{journal},1,{posted},1000,Cash,{amount},0,USD,sale,{stamp}",
        f"{journal},2,{posted},4000,Sales,0,{amount},USD,sale,{stamp}"]) + "\n")
    return path


def redrop(workspace: Workspace, day: dt.date, amount: str) -> None:
    """The ERP re-sends ``day`` with the journal's amount corrected (a newer file)."""
    path = gl_file(workspace, day, amount)
    later = time.time() + 5
    os.utime(path, (later, later))


def cash_debit(workspace: Workspace, day: dt.date) -> Decimal:
    rows = pq.read_table(workspace.lake / "gold" / "gl_trial_balance" / partition(day)
                         / "data.parquet").to_pylist()
    return next(row["debit"] for row in rows if row["account"] == "1000")


def gl_own_files(day: dt.date) -> set:
    part = partition(day)
    return {f"bronze/gl/{part}/zheGL-{day.year}-{day.month}-{day.day}.csv",
            f"bronze/gl/{part}/_manifest.json", f"silver/gl/{part}/data.parquet",
            f"silver/gl_rejects/{part}/data.parquet", f"gold/gl_trial_balance/{part}/data.parquet"}


@pytest.fixture(scope="module")
def gl_built(tmp_path_factory, rates) -> Workspace:
    """The trial balance of 2025-12-01 and of 2026-01-01..02: JZ 50, JA 100, JB 10 (balanced)."""
    workspace = Workspace(tmp_path_factory.mktemp("gl"), rates)
    for day, amount in zip(GL_DAYS, ("50.00", "100.00", "10.00")):
        gl_file(workspace, day, amount)
    for dates in (("--date", GL_OUTSIDE.isoformat()),
                  ("--start", GL_EARLIER.isoformat(), "--end", GL_ASKED.isoformat())):
        done = workspace.run("gl", *dates)
        assert done.code == 0, str(done)
    assert cash_debit(workspace, GL_ASKED) == Decimal("110.00")
    return workspace


@pytest.fixture(scope="module")
def gl_refreshed(gl_built, tmp_path_factory):
    """JA of the 1st corrected to 150, then ``gl --date 2026-01-02 --refresh``."""
    workspace = gl_built.copy(tmp_path_factory.mktemp("gl-refreshed"))
    redrop(workspace, GL_EARLIER, "150.00")
    done = workspace.run("gl", "--date", GL_ASKED.isoformat(), "--refresh")
    assert done.code == 0, str(done)
    return workspace, done


def test_gl_refresh_of_a_date_rebuilds_its_month_to_date_from_the_corrected_earlier_day(
        gl_refreshed):
    workspace, _ = gl_refreshed
    assert cash_debit(workspace, GL_ASKED) == Decimal("160.00")


def test_gl_status_of_the_refreshed_date_is_up_to_date_afterwards(gl_refreshed):
    workspace, _ = gl_refreshed
    done = workspace.run("status", "gl", "--date", GL_ASKED.isoformat())
    assert done.code == 0, str(done)


def test_gl_refresh_also_refreshes_the_published_gold_of_the_earlier_day(gl_refreshed):
    workspace, _ = gl_refreshed
    assert cash_debit(workspace, GL_EARLIER) == Decimal("150.00")
    done = workspace.run("status", "gl", "--date", GL_EARLIER.isoformat())
    assert done.code == 0, str(done)


def test_gl_refresh_says_which_earlier_day_it_refreshed_for_the_asked_date(gl_refreshed):
    workspace, done = gl_refreshed
    assert (f"refreshing {GL_EARLIER.isoformat()} from bronze: the landing file changed"
            in done.stdout), str(done)
    assert f"upstream of gold:gl_trial_balance of {GL_ASKED.isoformat()}" in done.stdout
    record = run_records(workspace.lake, "gl")[-1]
    assert [(r["date"], r["stage"], r["upstream_of"]) for r in record["refreshed"]] == [
        (GL_EARLIER.isoformat(), "bronze", [GL_ASKED.isoformat()])]


def test_a_changed_day_outside_every_asked_window_is_not_refreshed(gl_built, tmp_path):
    workspace = gl_built.copy(tmp_path)
    before = data_files(workspace.lake)
    redrop(workspace, GL_OUTSIDE, "55.00")  # December: in no January month to date
    redrop(workspace, GL_EARLIER, "150.00")
    done = workspace.run("gl", "--date", GL_ASKED.isoformat(), "--refresh")
    assert done.code == 0, str(done)
    after = data_files(workspace.lake)
    assert {path for path in before if after[path] != before[path]} == \
        gl_own_files(GL_EARLIER) | {f"gold/gl_trial_balance/{partition(GL_ASKED)}/data.parquet"}
    outside = workspace.run("status", "gl", "--date", GL_OUTSIDE.isoformat())
    assert outside.code == 8 and "landing_changed" in outside.stdout, str(outside)
