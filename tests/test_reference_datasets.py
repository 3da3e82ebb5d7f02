"""Acceptance: PO, INV, GL and days of cover agree with an independent computation.

Eight March days written by the foreign writers (``tests/foreign_datasets.py``
for PO, INV and GL, ``tests/foreign_so.py`` for the SO that days of cover
reads) and one shipped sample day are built through the real luigi graph
into local lakes; the published Parquet is read back and compared row by row
with ``tests/reference_datasets.py``, which shares no code with the
pipeline. Money and costs are compared as ``Decimal``, never as float.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import luigi
import pyarrow.parquet as pq
import pytest
from luigi.execution_summary import LuigiStatusCode

from etl_targets import GoldGL, GoldINV, GoldInvCover, GoldPO

# tests/ is on sys.path (see conftest.py).
import reference_so
from foreign_datasets import UNSOLD_SKUS, write_foreign_days
from foreign_so import write_foreign_month
from reference_datasets import (
    GL, INV, PO, UNBALANCED, gl_trial_balance, inv_days_of_cover, inv_value_by_warehouse,
    last_seven_days, month_to_date, parse_landing, po_open_by_vendor)
from support.lakes import roots
from support.paths import SAMPLE_LANDING

FOREIGN = [dt.date(2026, 3, d) for d in range(1, 9)]
COVERED = FOREIGN[6:]  # the days with seven days of SO behind them
SAMPLE_DAY = dt.date(2026, 1, 27)
SPECS = {"po": PO, "inv": INV, "gl": GL}


class Lake:
    """A built local lake and the reference's reading of its landing files."""

    def __init__(self, root: Path, landing: Path):
        self.root, self.landing, self._parsed = root, landing, {}

    def rows(self, stage: str, name: str, day: dt.date) -> list[dict]:
        path = self.root / stage / name / f"date={day.isoformat()}" / "data.parquet"
        return pq.read_table(path).to_pylist()

    def reference(self, folder: str, day: dt.date) -> tuple[list, list]:
        if (folder, day) not in self._parsed:
            if folder == "so":
                path = self.landing / "so" / f"zheSO-{day.year}-{day.month}-{day.day}.csv"
                parsed = reference_so.parse_landing(path.read_bytes(), path.name)
            else:
                path = self.landing / folder / SPECS[folder].landing_name(day)
                parsed = parse_landing(SPECS[folder], path.read_bytes(), path.name)
            self._parsed[folder, day] = parsed
        return self._parsed[folder, day]

    def silver(self, folder: str, day: dt.date) -> list[dict]:
        return self.reference(folder, day)[0]

    def expected(self, table: str, day: dt.date) -> list[dict]:
        """The reference's reading of one gold table of ``day``."""
        if table == "po_open_by_vendor":
            return po_open_by_vendor(self.silver("po", day), day)
        if table == "inv_value_by_warehouse":
            return inv_value_by_warehouse(self.silver("inv", day))
        if table == "gl_trial_balance":
            return gl_trial_balance({d: self.silver("gl", d) for d in month_to_date(day)})
        return inv_days_of_cover(self.silver("inv", day),
                                 {d: self.silver("so", d) for d in last_seven_days(day)})


def build(tasks) -> None:
    """Runs the real graph in-process; any failure fails the test with luigi's summary."""
    result = luigi.build(tasks, local_scheduler=True, detailed_summary=True, log_level="WARNING")
    assert result.status == LuigiStatusCode.SUCCESS, result.summary_text


@pytest.fixture(scope="module")
def foreign_lake(tmp_path_factory):
    """Eight foreign March days: every PO, INV and GL table, and cover for the last two."""
    base = tmp_path_factory.mktemp("foreign-datasets")
    landing, lake = base / "landing", base / "lake"
    write_foreign_month(landing, 2026, 3, days=len(FOREIGN), rows_per_day=60, seed=20260307)
    write_foreign_days(landing, FOREIGN, seed=20260308)
    where = roots(lake, landing)
    build([task(date=day, **where) for day in FOREIGN for task in (GoldPO, GoldINV, GoldGL)]
          + [GoldInvCover(date=day, **where) for day in COVERED])
    return Lake(lake, landing)


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory):
    """The shipped sample data, every new table built for 2026-01-27."""
    lake = tmp_path_factory.mktemp("sample-datasets") / "lake"
    where = roots(lake, SAMPLE_LANDING)
    build([task(date=SAMPLE_DAY, **where) for task in (GoldPO, GoldINV, GoldGL, GoldInvCover)])
    return Lake(lake, SAMPLE_LANDING)


def reject_identity(rows: list[dict], spec) -> list[dict]:
    """What a reject must carry: every raw field, the file, the row number."""
    keys = list(spec.names) + ["source_file", "row_number"]
    return [{k: r[k] for k in keys} for r in sorted(rows, key=lambda r: r["row_number"])]


def by_key(rows: list[dict], spec) -> list[dict]:
    return sorted(rows, key=lambda r: tuple(r[k] for k in spec.key))


@pytest.mark.parametrize("day", FOREIGN, ids=str)
@pytest.mark.parametrize("table", ["po_open_by_vendor", "inv_value_by_warehouse",
                                   "gl_trial_balance"])
def test_gold_matches_independent_computation_exactly(foreign_lake, table, day):
    expected = foreign_lake.expected(table, day)
    assert expected
    assert foreign_lake.rows("gold", table, day) == expected


@pytest.mark.parametrize("day", COVERED, ids=str)
def test_days_of_cover_matches_independent_computation_exactly(foreign_lake, day):
    published = foreign_lake.rows("gold", "inv_days_of_cover", day)
    assert published == foreign_lake.expected("inv_days_of_cover", day)
    assert {r["sku"] for r in published if r["days_of_cover"] is None} >= set(UNSOLD_SKUS)


@pytest.mark.parametrize("folder", SPECS)
@pytest.mark.parametrize("day", [FOREIGN[0], FOREIGN[-1]], ids=str)
def test_silver_matches_independent_computation(foreign_lake, folder, day):
    spec = SPECS[folder]
    assert by_key(foreign_lake.rows("silver", folder, day), spec) == foreign_lake.silver(folder, day)


@pytest.mark.parametrize("folder", SPECS)
@pytest.mark.parametrize("day", [FOREIGN[0], FOREIGN[-1]], ids=str)
def test_rejects_match_independent_computation(foreign_lake, folder, day):
    spec, expected = SPECS[folder], foreign_lake.reference(folder, day)[1]
    published = foreign_lake.rows("silver", f"{folder}_rejects", day)
    assert expected
    assert reject_identity(published, spec) == reject_identity(expected, spec)


def test_lines_of_unbalanced_journals_are_rejected_as_journal_unbalanced(foreign_lake):
    day = FOREIGN[1]
    published = {r["row_number"]: r["reject_reason"]
                 for r in foreign_lake.rows("silver", "gl_rejects", day)}
    unbalanced = [r["row_number"] for r in foreign_lake.reference("gl", day)[1]
                  if r["reject_reason"] == UNBALANCED]
    assert len(unbalanced) >= 6
    assert all(UNBALANCED in published[n] for n in unbalanced)


@pytest.mark.parametrize("table", ["po_open_by_vendor", "inv_value_by_warehouse",
                                   "gl_trial_balance", "inv_days_of_cover"])
def test_sample_gold_matches_independent_computation_exactly(sample_lake, table):
    assert sample_lake.rows("gold", table, SAMPLE_DAY) == sample_lake.expected(table, SAMPLE_DAY)


@pytest.mark.parametrize("folder", SPECS)
def test_sample_silver_and_rejects_match_independent_computation(sample_lake, folder):
    spec = SPECS[folder]
    silver, rejects = sample_lake.reference(folder, SAMPLE_DAY)
    assert by_key(sample_lake.rows("silver", folder, SAMPLE_DAY), spec) == silver
    assert reject_identity(sample_lake.rows("silver", f"{folder}_rejects", SAMPLE_DAY), spec) \
        == reject_identity(rejects, spec)
